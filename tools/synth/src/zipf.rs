//! A seedable PRNG and a Zipf sampler: all the randomness the generator needs.

/// splitmix64: tiny, fast, and reproducible across platforms, which is all a data
/// generator needs (no cryptographic use).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0; the modulo bias is negligible for our bounds).
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        self.next() % bound
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^s`, by binary
/// search in the cumulative distribution.
#[derive(Clone, Debug)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let mut cumulative = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(exponent);
            cumulative.push(total);
        }
        for value in &mut cumulative {
            *value /= total;
        }
        Zipf { cumulative }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let target = rng.unit();
        self.cumulative
            .partition_point(|&value| value <= target)
            .min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_frequencies_follow_the_power_law() {
        let zipf = Zipf::new(1000, 1.0);
        let mut rng = Rng::new(42);
        let mut counts = vec![0u32; 1000];
        let draws = 200_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        // With s = 1, rank 1 is drawn twice as often as rank 2 and ten times rank 10.
        let ratio_2 = f64::from(counts[0]) / f64::from(counts[1]);
        let ratio_10 = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((1.8..2.2).contains(&ratio_2), "{ratio_2}");
        assert!((8.5..11.5).contains(&ratio_10), "{ratio_10}");
        // Expected share of rank 1: 1 / H(1000) ≈ 0.1336.
        let share = f64::from(counts[0]) / f64::from(draws);
        assert!((0.128..0.139).contains(&share), "{share}");
    }

    #[test]
    fn unit_stays_in_range() {
        let mut rng = Rng::new(1);
        assert!(
            (0..10_000)
                .map(|_| rng.unit())
                .all(|u| (0.0..1.0).contains(&u))
        );
    }
}
