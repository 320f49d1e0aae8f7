//! Fair use as an interface: what the platform and the server ask of the guard's state,
//! wherever it lives. [`Guard`] keeps it in process (the embedded shape, snapshotted to a
//! file); the cluster shape keeps it in Redis so every node sees a member whole. A method
//! that a networked implementation backs with a round trip blocks; such an implementation
//! falls back to its node's own state when the network fails, so none of these fail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Admission, Download, Flag, Guard, GuardConfig, Request, Signals, Stream, Subject};

/// Slows one download to a byte rate; every stream of a subject shares one rate.
pub trait Pacer: Send + Sync + std::fmt::Debug {
    /// Bytes to hand to the connection at once (`usize::MAX`: all, unpaced).
    fn chunk(&self) -> usize;
    /// Called after each chunk is handed to the connection: how long to wait before the
    /// next one, given `bytes` were just sent.
    fn delay_after(&self, bytes: u64) -> Duration;
    /// The rate, when the stream is throttled.
    fn rate(&self) -> Option<u64>;
}

/// Rate limits, pacing and the detectors, per member or anonymised network.
pub trait FairUse: Send + Sync + std::fmt::Debug {
    /// The thresholds in force.
    fn config(&self) -> &GuardConfig;
    /// Applies a request's rate policy and feeds the login-misuse detector.
    fn admit(&self, request: &Request<'_>, now: u64) -> Admission;
    /// [`FairUse::admit`] for a caller that can wait without blocking a thread: `done` is
    /// given the answer, at once or later on another thread (a shared store's answer
    /// arrives with others' in one round trip). Always called, exactly once.
    fn admit_then(&self, request: &Request<'_>, now: u64, done: Box<dyn FnOnce(Admission) + Send>) {
        done(self.admit(request, now));
    }
    /// Counts assets a member was shown (search results, cards, previews).
    fn viewed(&self, member: &str, assets: &[u64], now: u64);
    /// Counts a new licence; the stockpiling flag if it crossed the threshold.
    fn downloaded(&self, member: &str, download: &Download<'_>, now: u64) -> Option<Flag>;
    /// Counts a download stream opened by `seat` from `network`; the login-misuse flag.
    fn used(&self, member: &str, seat: &str, network: &str, seats: u32, now: u64) -> Option<Flag>;
    /// A download's pacer at `rate` (`None`: unthrottled, only counted among the
    /// subject's open streams), sharing the subject's budget with its other streams.
    fn stream(&self, subject: &Subject, rate: Option<u64>) -> Arc<dyn Pacer>;
    /// The detectors' signals for a member now, for moderators.
    fn signals(&self, member: &str, now: u64) -> Option<Signals>;
    /// A moderator cleared the member: the detectors start over.
    fn clear(&self, member: &str);
    /// The member was erased: nothing is kept under their id.
    fn forget(&self, member: &str);
    /// What must be written to survive a restart, after dropping idle subjects; `None`
    /// where the state is kept elsewhere.
    fn snapshot(&self, now: u64) -> Option<Vec<u8>>;

    /// Whether fair use is on at all.
    fn enabled(&self) -> bool {
        self.config().enabled
    }

    /// For state kept in a shared store: whether it answers now (`false`: this node is on
    /// its own state until it does). `None` for state kept in process. A guard with shared
    /// state blocks on a round trip in [`FairUse::admit`] (not in
    /// [`FairUse::admit_then`]).
    fn shared(&self) -> Option<bool> {
        None
    }
}

impl Pacer for Stream {
    fn chunk(&self) -> usize {
        Stream::chunk(self)
    }

    fn delay_after(&self, bytes: u64) -> Duration {
        Stream::delay_after(self, bytes, Instant::now())
    }

    fn rate(&self) -> Option<u64> {
        Stream::rate(self)
    }
}

impl FairUse for Guard {
    fn config(&self) -> &GuardConfig {
        Guard::config(self)
    }

    fn admit(&self, request: &Request<'_>, now: u64) -> Admission {
        Guard::admit(self, request, now)
    }

    fn viewed(&self, member: &str, assets: &[u64], now: u64) {
        Guard::viewed(self, member, assets, now);
    }

    fn downloaded(&self, member: &str, download: &Download<'_>, now: u64) -> Option<Flag> {
        Guard::downloaded(self, member, download, now)
    }

    fn used(&self, member: &str, seat: &str, network: &str, seats: u32, now: u64) -> Option<Flag> {
        Guard::used(self, member, seat, network, seats, now)
    }

    fn stream(&self, subject: &Subject, rate: Option<u64>) -> Arc<dyn Pacer> {
        Arc::new(Guard::stream(self, subject, rate))
    }

    fn signals(&self, member: &str, now: u64) -> Option<Signals> {
        Guard::signals(self, member, now)
    }

    fn clear(&self, member: &str) {
        Guard::clear(self, member);
    }

    fn forget(&self, member: &str) {
        Guard::forget(self, member);
    }

    fn snapshot(&self, now: u64) -> Option<Vec<u8>> {
        self.evict_idle(now);
        Some(Guard::snapshot(self))
    }
}
