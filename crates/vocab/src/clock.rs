//! The one clock. Everything that reads time (the catalogue's records, the guard's windows,
//! download links, ingest's timestamps) is handed a [`Clock`], so tests can fake it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Wall time since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> u64;

    /// Whole seconds since the Unix epoch.
    fn now(&self) -> i64 {
        (self.now_micros() / 1_000_000) as i64
    }
}

/// The system's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_micros() as u64)
    }
}

/// A clock that stands still until moved (for tests and simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `seconds` since the epoch.
    pub fn at(seconds: i64) -> ManualClock {
        ManualClock(AtomicU64::new(seconds.max(0) as u64 * 1_000_000))
    }

    /// Moves the clock on by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.advance_micros(seconds.max(0) as u64 * 1_000_000);
    }

    /// Moves the clock on by `micros`.
    pub fn advance_micros(&self, micros: u64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(5);
        clock.advance_micros(999_999);
        assert_eq!((clock.now(), clock.now_micros()), (1_005, 1_005_999_999));
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
