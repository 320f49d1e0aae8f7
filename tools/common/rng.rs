//! The benchmark tools' shared pseudo-random numbers (included with `#[path]`): xorshift64,
//! deterministic so every run measures the same inputs.

// Each tool uses a different subset.
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (any value; zero is remapped, as xorshift would stick at it).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
