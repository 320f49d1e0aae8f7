//! The generic cell rate algorithm: one timestamp per subject and policy (the theoretical
//! arrival time), `requests` per window allowed, a whole window's worth as a burst.

use serde::Serialize;

use crate::config::Rate;
use crate::sketch::SECOND;

/// A policy's answer for one request, with what the `RateLimit` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// The policy's name (`RateLimit-Policy`'s key).
    pub policy: &'static str,
    /// Requests allowed per window (`q`) and the window (`w`, seconds).
    pub quota: u32,
    /// See `quota`.
    pub window_secs: u32,
    /// Requests left now (`r`).
    pub remaining: u32,
    /// Seconds until the full quota is back (`t`).
    pub reset_secs: u32,
    /// Refused: seconds until this request would be allowed (`Retry-After`).
    pub retry_after_secs: Option<u32>,
}

impl Limit {
    /// Whether the request may go ahead.
    pub fn allowed(&self) -> bool {
        self.retry_after_secs.is_none()
    }
}

/// Decides one request at `now` against the theoretical arrival time `tat`, moving it on
/// when the request is allowed. `scale` multiplies the rate (a membership's seats).
pub(crate) fn decide(
    tat: &mut u64,
    rate: Rate,
    scale: u32,
    now: u64,
    policy: &'static str,
) -> Limit {
    let (interval, window) = cell(rate, scale);
    let next = (*tat).max(now) + interval;
    // Allowed while the bucket (next - now) holds no more than a window.
    let allowed = next - now <= window;
    if allowed {
        *tat = next;
    }
    answer(rate, scale, now, *tat, allowed, policy)
}

/// A policy's emission interval and window, microseconds, at `scale` (seats): what a
/// shared store needs to decide a request the way [`decide`] does.
pub fn cell(rate: Rate, scale: u32) -> (u64, u64) {
    let quota = rate.requests.saturating_mul(scale.max(1)).max(1);
    let window = u64::from(rate.window_secs.max(1)) * SECOND;
    ((window / u64::from(quota)).max(1), window)
}

/// The answer to a request decided elsewhere (a shared store): `allowed` or not, with the
/// theoretical arrival time `tat` as it is after the decision.
pub fn answer(
    rate: Rate,
    scale: u32,
    now: u64,
    tat: u64,
    allowed: bool,
    policy: &'static str,
) -> Limit {
    let quota = rate.requests.saturating_mul(scale.max(1)).max(1);
    let (interval, window) = cell(rate, scale);
    let secs = |micros: u64| micros.div_ceil(SECOND).min(u64::from(u32::MAX)) as u32;
    let level = tat.max(now) - now;
    // A refused request would have ended a window and an interval past now.
    let next = tat.max(now) + interval;
    Limit {
        policy,
        quota,
        window_secs: rate.window_secs,
        remaining: ((window - level.min(window)) / interval).min(u64::from(quota)) as u32,
        reset_secs: secs(level),
        retry_after_secs: (!allowed).then(|| secs(next.saturating_sub(now + window)).max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_quota_then_one_per_interval() {
        let rate = Rate::new(10, 60);
        let mut tat = 0;
        let now = 1_700_000_000 * SECOND;
        for left in (0..10).rev() {
            let limit = decide(&mut tat, rate, 1, now, "search");
            assert!(limit.allowed());
            assert_eq!(limit.remaining, left);
        }
        let refused = decide(&mut tat, rate, 1, now, "search");
        assert_eq!(refused.retry_after_secs, Some(6));
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_secs, 60);
        // Six seconds later exactly one more is allowed.
        assert!(!decide(&mut tat, rate, 1, now + 5 * SECOND, "search").allowed());
        assert!(decide(&mut tat, rate, 1, now + 6 * SECOND, "search").allowed());
        assert!(!decide(&mut tat, rate, 1, now + 6 * SECOND, "search").allowed());
        // A minute of quiet gives the whole burst back.
        let later = now + 120 * SECOND;
        assert_eq!(decide(&mut tat, rate, 1, later, "search").remaining, 9);
    }

    #[test]
    fn seats_scale_the_rate() {
        let mut tat = 0;
        let now = 1_700_000_000 * SECOND;
        let allowed = (0..100)
            .filter(|_| decide(&mut tat, Rate::new(10, 60), 3, now, "licences").allowed())
            .count();
        assert_eq!(allowed, 30);
    }
}
