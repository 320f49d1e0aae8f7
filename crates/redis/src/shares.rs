//! Shares of a busy bucket taken ahead of need, so that most of a busy member's requests
//! are decided on the node without waiting for Redis.
//!
//! A share is a number of requests taken from the subject's bucket in Redis in one GCRA
//! step (its theoretical arrival time moved on by all of them at once). The node then lets
//! that many of the subject's requests through on its own. Taking a request's allowance
//! early never lets more through than the limit: the bucket is charged when the share is
//! taken, so at any moment every node together has let through no more than the limit
//! allows by then. What a share can cost is the other way: requests one node holds are
//! not free to another. Three rules keep that small.
//!
//! - A share is at most an eighth of the bucket's burst ([`LARGEST`] at most), and a
//!   bucket whose burst is below 16 is never shared out: each of its requests is decided in
//!   Redis, as before.
//! - Shares grow with demand. The first request for a bucket asks for itself alone; each
//!   share spent within [`SPAN`] makes the next twice as large, and each that [`SPAN`]
//!   ends with requests left makes it half as large. A subject asking once in a while is
//!   decided request by request.
//! - What is left when a share's [`SPAN`] ends goes back to the bucket with the subject's
//!   next decision in Redis. A subject never seen again on this node leaves its last share
//!   spent: at most [`SPAN`] of its requests, which the bucket refills like any others.
//!   When Redis goes away, what every share holds is refunded with the charge of what the
//!   node let through alone (`Link::failed`), so an outage neither forgives nor double-counts.
//!
//! While one share is being asked for, other requests for the bucket are decided in Redis
//! one by one, as they would be without shares. A bucket Redis found empty is refused on
//! the node until a request could fit again, so a subject hammering past its limit costs
//! Redis a call per interval of its rate, not one per request.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// How long a share may be spent, µs (the requests' clock).
pub(crate) const SPAN: u64 = 100_000;
/// The largest share.
pub(crate) const LARGEST: u64 = 1024;
/// Buckets tracked at most; past it no new bucket gets a share until old ones end.
const TRACKED: usize = 65_536;

/// One bucket's share on this node.
#[derive(Debug)]
struct Share {
    /// The bucket's cell it was taken under (interval, window): a changed limit starts over.
    cell: (u64, u64),
    /// Requests left to let through.
    left: u64,
    /// The bucket's theoretical arrival time in Redis when the share was taken.
    tat: u64,
    /// Until when it may be spent.
    until: u64,
    /// The next share's size.
    size: u64,
    /// A share is being asked for.
    asking: bool,
    /// The bucket was found empty: its theoretical arrival time then, and until when no
    /// request fits (requests are refused here until then).
    closed: (u64, u64),
}

impl Share {
    /// None held yet: the first share is of one request.
    fn new(cell: (u64, u64)) -> Share {
        Share {
            cell,
            left: 0,
            tat: 0,
            until: 0,
            size: 1,
            asking: false,
            closed: (0, 0),
        }
    }
}

/// What to ask of Redis for a request that no share covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ask {
    /// Requests to take (this one among them).
    pub want: u64,
    /// Requests of an ended share to give back first.
    pub back: u64,
    /// The answer goes to [`Shares::taken`].
    pub share: bool,
}

impl Ask {
    /// One request, decided on its own.
    pub const ONE: Ask = Ask {
        want: 1,
        back: 0,
        share: false,
    };
}

/// The shares this node holds, by bucket key.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    shares: Mutex<HashMap<String, Share>>,
}

/// The largest share of a bucket with this cell (1: never shared out).
fn largest(interval: u64, window: u64) -> u64 {
    let burst = window / interval.max(1);
    if burst < 16 {
        1
    } else {
        (burst / 8).min(LARGEST)
    }
}

impl Shares {
    fn shares(&self) -> MutexGuard<'_, HashMap<String, Share>> {
        self.shares
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Decides one request here, if it can: let through from the bucket's share, or
    /// refused while the bucket was last seen empty and cannot have refilled. The answer
    /// is (allowed, the bucket's theoretical arrival time as it stands for this node's
    /// requests, for the `RateLimit` headers); `None` when Redis must decide.
    pub fn spend(&self, key: &str, cell: (u64, u64), now: u64) -> Option<(bool, u64)> {
        if largest(cell.0, cell.1) == 1 {
            return None;
        }
        let mut shares = self.shares();
        let share = shares.get_mut(key)?;
        if share.cell != cell {
            return None;
        }
        if now < share.closed.1 {
            return Some((false, share.closed.0));
        }
        if share.left == 0 || now >= share.until {
            return None;
        }
        share.left -= 1;
        // The requests still held here were charged to the bucket but are not spent yet.
        Some((true, share.tat.saturating_sub(share.left * cell.0)))
    }

    /// What to ask of Redis for a request [`Shares::spend`] did not cover.
    pub fn ask(&self, key: &str, cell: (u64, u64), now: u64) -> Ask {
        let largest = largest(cell.0, cell.1);
        if largest == 1 {
            return Ask::ONE;
        }
        let mut shares = self.shares();
        if !shares.contains_key(key) && shares.len() >= TRACKED {
            shares.retain(|_, share| share.asking || now < share.until);
            if shares.len() >= TRACKED {
                return Ask::ONE;
            }
        }
        let share = shares
            .entry(key.to_string())
            .or_insert_with(|| Share::new(cell));
        if share.asking {
            return Ask::ONE;
        }
        let mut back = 0;
        if share.cell != cell {
            // The limit changed: what is held was taken under the old one; let it go.
            *share = Share::new(cell);
        } else if now < share.until {
            // Spent within its span: demand is at least this much.
            share.size = (share.size * 2).min(largest);
        } else if share.left > 0 {
            back = std::mem::take(&mut share.left);
            share.size = (share.size / 2).max(1);
        }
        share.size = share.size.min(largest);
        share.asking = true;
        Ask {
            want: share.size,
            back,
            share: true,
        }
    }

    /// Redis's answer to an [`Ask`] with `share` set: `granted` requests taken (the one
    /// that asked among them), the bucket's theoretical arrival time after them. `None`:
    /// Redis did not answer.
    pub fn taken(&self, key: &str, cell: (u64, u64), now: u64, granted: Option<(u64, u64)>) {
        let mut shares = self.shares();
        let Some(share) = shares.get_mut(key) else {
            return;
        };
        share.asking = false;
        if share.cell != cell {
            return;
        }
        match granted {
            Some((granted, tat)) if granted > 0 => {
                share.left = granted - 1;
                share.tat = tat;
                share.until = now + SPAN;
            }
            // Refused: the bucket is empty, so no share is held and the next starts small.
            // No request fits before the bucket's tat less a window and plus an interval
            // (as far as this node can know: another node's share given back may make
            // room sooner), so the node refuses on its own until then.
            Some((_, tat)) => {
                share.size = 1;
                share.until = 0;
                share.closed = (tat, (tat + cell.0).saturating_sub(cell.1));
            }
            None => {}
        }
    }

    /// Lets go of every share (Redis went away): each bucket's key, the requests its share
    /// held unspent and its cell.
    pub fn release(&self) -> Vec<(String, u64, (u64, u64))> {
        let mut shares = self.shares();
        let released = shares
            .iter_mut()
            .filter(|(_, share)| share.left > 0)
            .map(|(key, share)| (key.clone(), std::mem::take(&mut share.left), share.cell))
            .collect();
        for share in shares.values_mut() {
            share.size = 1;
            share.until = 0;
        }
        released
    }

    /// Forgets the subject's shares (its buckets were reset in Redis).
    pub fn forget(&self, keys: &[String]) {
        let mut shares = self.shares();
        for key in keys {
            shares.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: (u64, u64) = (1_000, 1_000_000); // 1,000 a second, a burst of 1,000
    const NOW: u64 = 1_800_000_000_000_000;

    /// Asks for the next share, expecting `want`, and has it granted whole, the bucket's
    /// tat then `tat`.
    fn granted(shares: &Shares, want: u64, tat: u64) {
        let ask = shares.ask("k", CELL, NOW);
        assert_eq!(ask.want, want);
        shares.taken("k", CELL, NOW, Some((want, tat)));
    }

    #[test]
    fn small_buckets_are_never_shared_out() {
        let shares = Shares::default();
        let ten_a_second = (100_000, 1_000_000);
        for _ in 0..10 {
            assert_eq!(shares.ask("k", ten_a_second, NOW), Ask::ONE);
            assert_eq!(shares.spend("k", ten_a_second, NOW), None);
        }
        assert!(shares.shares().is_empty());
    }

    #[test]
    fn shares_double_while_spent_in_time_and_halve_when_not() {
        let shares = Shares::default();
        let mut sizes = Vec::new();
        let mut tat = NOW;
        for _ in 0..10 {
            let ask = shares.ask("k", CELL, NOW);
            sizes.push(ask.want);
            tat += ask.want * CELL.0;
            shares.taken("k", CELL, NOW, Some((ask.want, tat)));
            while shares.spend("k", CELL, NOW).is_some() {}
        }
        // An eighth of the burst at most.
        assert_eq!(sizes, [1, 2, 4, 8, 16, 32, 64, 125, 125, 125]);
        // A share whose span ends with requests left gives them back and halves.
        let ask = shares.ask("k", CELL, NOW);
        shares.taken("k", CELL, NOW, Some((ask.want, tat + ask.want * CELL.0)));
        assert!(shares.spend("k", CELL, NOW).is_some());
        let later = NOW + SPAN;
        assert_eq!(shares.spend("k", CELL, later), None);
        let ask = shares.ask("k", CELL, later);
        assert_eq!((ask.want, ask.back), (62, 123));
    }

    #[test]
    fn the_headers_see_what_is_still_held_as_unspent() {
        let shares = Shares::default();
        granted(&shares, 1, NOW + 1_000);
        let tat = NOW + 3_000;
        granted(&shares, 2, tat);
        // One of the two went to the request that asked; the other is held.
        assert_eq!(shares.spend("k", CELL, NOW), Some((true, tat)));
        assert_eq!(shares.spend("k", CELL, NOW), None);
    }

    #[test]
    fn while_a_share_is_asked_for_other_requests_go_one_by_one() {
        let shares = Shares::default();
        granted(&shares, 1, NOW + 1_000);
        assert_eq!(shares.ask("k", CELL, NOW).want, 2);
        assert_eq!(shares.ask("k", CELL, NOW), Ask::ONE);
        // Refused: the node refuses on its own until a request fits, one interval on; the
        // next share starts small again.
        let full = NOW + 1_000_000;
        shares.taken("k", CELL, NOW, Some((0, full)));
        assert_eq!(shares.spend("k", CELL, NOW + 999), Some((false, full)));
        assert_eq!(shares.spend("k", CELL, NOW + 1_000), None);
        assert_eq!(shares.ask("k", CELL, NOW + 1_000).want, 1);
        shares.taken("k", CELL, NOW, None);
        // A changed limit lets the held share go.
        let other = (500, 1_000_000);
        assert_eq!(shares.ask("k", other, NOW).want, 1);
        assert_eq!(shares.spend("k", CELL, NOW), None);
    }

    #[test]
    fn released_shares_hand_back_what_they_held_and_start_small() {
        let shares = Shares::default();
        granted(&shares, 1, NOW + 1_000);
        granted(&shares, 2, NOW + 3_000);
        assert_eq!(shares.release(), [("k".to_string(), 1, CELL)]);
        assert_eq!(shares.spend("k", CELL, NOW), None);
        assert_eq!(shares.ask("k", CELL, NOW).want, 1);
        assert!(shares.release().is_empty());
    }
}
