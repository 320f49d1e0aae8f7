//! The O(1) pieces per-member state is built from: a sliding-window counter, an
//! exponentially decayed count, a two-generation Bloom filter of seen assets, and a
//! stable hash. Times are microseconds since the Unix epoch.

use serde::{Deserialize, Serialize};

/// Microseconds in a second.
pub(crate) const SECOND: u64 = 1_000_000;

/// Events in the last `len` microseconds, estimated from the current fixed window and the
/// previous one weighted by how much of it still overlaps (the usual sliding-window
/// approximation: exact at window edges, off by at most the previous window's unevenness).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Window {
    start: u64,
    current: u32,
    previous: u32,
}

impl Window {
    fn roll(&mut self, now: u64, len: u64) {
        if now < self.start.saturating_add(len) {
            return;
        }
        let windows = (now - self.start) / len;
        self.previous = if windows == 1 { self.current } else { 0 };
        self.current = 0;
        self.start = if self.start == 0 {
            now - now % len
        } else {
            self.start + windows * len
        };
    }

    pub(crate) fn add(&mut self, now: u64, len: u64) {
        self.roll(now, len);
        self.current = self.current.saturating_add(1);
    }

    pub(crate) fn estimate(&self, now: u64, len: u64) -> f64 {
        let mut window = *self;
        window.roll(now, len);
        let into = (now.saturating_sub(window.start)) as f64 / len as f64;
        f64::from(window.previous) * (1.0 - into.min(1.0)) + f64::from(window.current)
    }
}

/// A count that halves every half-life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Decayed {
    value: f64,
    at: u64,
}

impl Decayed {
    pub(crate) fn get(&self, now: u64, half_life: u64) -> f64 {
        let elapsed = now.saturating_sub(self.at) as f64;
        self.value * (-elapsed / half_life.max(1) as f64 * std::f64::consts::LN_2).exp()
    }

    pub(crate) fn add(&mut self, now: u64, half_life: u64, amount: f64) {
        self.value = self.get(now, half_life) + amount;
        self.at = now;
    }
}

/// Words of one generation: 2,048 bits, about 1.6% false positives at its 200 assets.
const WORDS: usize = 32;
const PER_GENERATION: u32 = 200;

/// The assets a member saw recently: the last 200 to 400 of them, in two Bloom filters
/// that take turns (the older is dropped when the newer is full), 512 bytes in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen {
    current: [u64; WORDS],
    previous: [u64; WORDS],
    inserted: u32,
}

impl Default for Seen {
    fn default() -> Seen {
        Seen {
            current: [0; WORDS],
            previous: [0; WORDS],
            inserted: 0,
        }
    }
}

impl Seen {
    fn bits(asset: u64) -> [usize; 3] {
        let hash = mix(asset);
        let bits = WORDS as u64 * 64;
        [
            (hash % bits) as usize,
            ((hash >> 21) % bits) as usize,
            ((hash >> 42) % bits) as usize,
        ]
    }

    pub(crate) fn insert(&mut self, asset: u64) {
        if self.inserted >= PER_GENERATION {
            self.previous = self.current;
            self.current = [0; WORDS];
            self.inserted = 0;
        }
        for bit in Seen::bits(asset) {
            self.current[bit / 64] |= 1 << (bit % 64);
        }
        self.inserted += 1;
    }

    pub(crate) fn contains(&self, asset: u64) -> bool {
        let has = |words: &[u64; WORDS]| {
            Seen::bits(asset)
                .iter()
                .all(|bit| words[bit / 64] & (1 << (bit % 64)) != 0)
        };
        has(&self.current) || has(&self.previous)
    }
}

/// splitmix64's finaliser: spreads an id's bits.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a: a hash of a name (seat, network, author) that is the same in every build, so a
/// snapshot reads back after an upgrade.
pub(crate) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60 * SECOND;

    #[test]
    fn the_window_counts_the_last_window_length() {
        let mut window = Window::default();
        // Windows are aligned to their length; start on an edge.
        let start = 1_699_999_980 * SECOND;
        for i in 0..60 {
            window.add(start + i * SECOND, MINUTE);
        }
        assert!((window.estimate(start + 59 * SECOND, MINUTE) - 60.0).abs() < 1.0);
        // Half a window later about half of them are still inside.
        let half = window.estimate(start + 90 * SECOND, MINUTE);
        assert!((half - 30.0).abs() < 15.0, "{half}");
        assert_eq!(window.estimate(start + 10 * MINUTE, MINUTE), 0.0);
    }

    #[test]
    fn a_decayed_count_halves_each_half_life() {
        let mut count = Decayed::default();
        count.add(1_000, 100, 8.0);
        assert!((count.get(1_100, 100) - 4.0).abs() < 1e-9);
        assert!((count.get(1_300, 100) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn seen_remembers_the_recent_assets_and_forgets_old_ones() {
        let mut seen = Seen::default();
        for asset in 0..300 {
            seen.insert(asset);
        }
        assert!((100..300).all(|asset| seen.contains(asset)));
        let false_positives = (1_000..11_000)
            .filter(|&asset| seen.contains(asset))
            .count();
        assert!(false_positives < 500, "{false_positives} of 10,000");
        for asset in 300..800 {
            seen.insert(asset);
        }
        let remembered = (0..100).filter(|&asset| seen.contains(asset)).count();
        assert!(remembered < 20, "{remembered}");
    }
}
