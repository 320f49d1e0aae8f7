//! One memory budget shared by the decodes that still hold a whole image.
//!
//! JPEG, still WebP and PNG decode at reduced scale or stream (`png_shrink.rs`), so their
//! memory follows the target size, not the upload's. What is left decodes whole through
//! the `image` crate: an animated WebP's first frame, and an interlaced PNG under twice the
//! target size. Up to the pixel limit that is 120 MP × 7 bytes (the RGBA frame and its
//! RGB copy), so six at once could take 5 GB. Each such decode reserves its bytes here
//! first and waits while the reservations of the decodes already running would pass the
//! budget; one larger than the whole budget waits until it runs alone. Peak memory of
//! these decodes is then the budget or the single largest, whichever is more.
//!
//! The callers are render threads (a rayon pool or blocking threads), never an async
//! executor, so waiting on a condition variable is what they may do. A decode holding a
//! reservation never waits for another, so the wait always ends.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The default budget: room for one 120 MP PNG's RGBA buffer at a time, with smaller
/// decodes beside it.
pub const DEFAULT_DECODE_BUDGET: u64 = 512 << 20;

struct State {
    limit: u64,
    used: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    limit: DEFAULT_DECODE_BUDGET,
    used: 0,
});
static FREED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    // The state is two counters updated in one statement each: never left half-changed.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets the bytes that whole-image decodes may hold at once (process-wide).
pub fn set_decode_budget(bytes: u64) {
    state().limit = bytes.max(1);
    FREED.notify_all();
}

/// Bytes reserved by whole-image decodes now.
pub fn decode_bytes_reserved() -> u64 {
    state().used
}

/// Bytes held for one decode; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    bytes: u64,
}

/// Waits until `bytes` fit in the budget beside the decodes running, or nothing else runs.
pub(crate) fn reserve(bytes: u64) -> Reservation {
    let mut state = state();
    while state.used > 0 && state.used.saturating_add(bytes) > state.limit {
        state = FREED.wait(state).unwrap_or_else(PoisonError::into_inner);
    }
    state.used += bytes;
    Reservation { bytes }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        state().used -= self.bytes;
        FREED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    /// Reservations from many threads never hold more than the budget together, unless one
    /// alone is larger; and every one is granted in the end.
    #[test]
    fn reservations_never_pass_the_budget_and_all_are_granted() {
        // Other tests decode through the same budget; these sizes dwarf theirs and the
        // check below allows for them.
        let budget = DEFAULT_DECODE_BUDGET;
        let peak = Arc::new(AtomicU64::new(0));
        let held = Arc::new(AtomicU64::new(0));
        let start = Arc::new(Barrier::new(6));
        let threads: Vec<_> = (0..6u64)
            .map(|i| {
                let (peak, held, start) = (peak.clone(), held.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    // 200 MB each: two fit in 512 MB, three do not; one of 600 MB runs alone.
                    let bytes = if i == 5 { 600 << 20 } else { 200 << 20 };
                    let reservation = reserve(bytes);
                    let now = held.fetch_add(bytes, Ordering::SeqCst) + bytes;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    held.fetch_sub(bytes, Ordering::SeqCst);
                    drop(reservation);
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= (600 << 20).max(budget), "peak {peak}");
        assert!(peak >= 200 << 20, "peak {peak}");
    }
}
