//! The hash values: 256-bit PDQ and 64-bit pHash, their Hamming distance and hex forms.

use std::fmt;
use std::str::FromStr;

/// A 256-bit hash. Bit `k` is bit `k % 64` of word `k / 64`, as in the PDQ reference, whose
/// hex form prints the whole number big-endian (bit 255 first).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash256(pub [u64; 4]);

impl Hash256 {
    /// Sets bit `bit` (0–255).
    #[inline]
    pub fn set_bit(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    /// Whether bit `bit` (0–255) is set.
    #[inline]
    pub fn bit(&self, bit: usize) -> bool {
        self.0[bit / 64] >> (bit % 64) & 1 == 1
    }

    /// The number of differing bits.
    #[inline]
    pub fn distance(&self, other: &Hash256) -> u32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// 16-bit slot `slot` (0–15): bits `16 * slot ..` of the hash.
    #[inline]
    pub fn slot(&self, slot: usize) -> u16 {
        (self.0[slot / 4] >> (16 * (slot % 4))) as u16
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for word in self.0.iter().rev() {
            write!(f, "{word:016x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({self})")
    }
}

/// A hash's hex form was not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {digits}-digit hex hash: {text:?}")]
pub struct ParseHashError {
    digits: usize,
    text: String,
}

impl FromStr for Hash256 {
    type Err = ParseHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseHashError {
            digits: 64,
            text: text.chars().take(80).collect(),
        };
        if text.len() != 64 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(error());
        }
        let mut words = [0u64; 4];
        for (index, word) in words.iter_mut().rev().enumerate() {
            let digits = text.get(index * 16..index * 16 + 16).ok_or_else(error)?;
            *word = u64::from_str_radix(digits, 16).map_err(|_| error())?;
        }
        Ok(Hash256(words))
    }
}

/// Formats a 64-bit pHash as 16 lowercase hex digits (the first DCT coefficient is the top
/// bit, as `imagehash` prints it).
pub fn phash_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_bit_order() {
        let mut hash = Hash256::default();
        hash.set_bit(0);
        hash.set_bit(255);
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert!(text.starts_with('8') && text.ends_with('1'), "{text}");
        assert_eq!(text.parse::<Hash256>(), Ok(hash));
        assert!(hash.bit(0) && hash.bit(255) && !hash.bit(1));
        assert_eq!(hash.distance(&Hash256::default()), 2);
        assert_eq!(hash.slot(0), 1);
        assert_eq!(hash.slot(15), 0x8000);
        assert!("xyz".parse::<Hash256>().is_err());
        assert!("g".repeat(64).parse::<Hash256>().is_err());
        assert!("é".repeat(32).parse::<Hash256>().is_err());
    }
}
