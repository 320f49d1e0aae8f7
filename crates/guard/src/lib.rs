//! Fair use in the request path, as pure state machines: no I/O, no clock of its own (every
//! call is given the time, microseconds since the Unix epoch), so the server decides when
//! and the tests can replay days in microseconds.
//!
//! - **Rate limits** ([`Guard::check`]): GCRA per member (scaled by its seats) or, without a
//!   key, per anonymised network, with separate policies for search, previews and
//!   licences; the answer carries what the `RateLimit` headers say.
//! - **Pacing** ([`Guard::stream`]): one byte-rate schedule per member or network that all
//!   its downloads book their chunks on, so concurrent streams share the rate.
//! - **Detectors** ([`Guard::viewed`], [`Guard::downloaded`], [`Guard::used`]): a stockpiling
//!   score and login-misuse signals from O(1) state per member; crossing a threshold
//!   returns a [`Flag`] with its reasons, once, until a moderator clears the member.
//! - **Bounded state**: an LRU per shard caps the members and networks kept, idle ones are
//!   dropped ([`Guard::evict_idle`]), and [`Guard::snapshot`] / [`Guard::restore`] carry it
//!   over a restart so a restart is no amnesty. The state is plain serde data keyed by
//!   subject, so it could live in a shared store (Redis) for several nodes.
//!
//! ```
//! # fn main() -> Result<(), stockroom_guard::GuardError> {
//! use stockroom_guard::{Guard, GuardConfig, Policy, Subject};
//! let guard = Guard::new(GuardConfig::default())?;
//! let member = Subject::Member("m_1".into());
//! let now = 1_700_000_000_000_000;
//! let limit = guard.check(&member, Policy::Licences, 1, now).expect("licences are limited");
//! assert!(limit.allowed());
//! assert_eq!(limit.remaining, 59);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod config;
mod fair_use;
mod gcra;
mod login;
mod pace;
mod sketch;
mod stockpiling;

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use lru::LruCache;
use serde::{Deserialize, Serialize};

pub use config::{GuardConfig, LoginConfig, Rate, StockpilingConfig, Weights};
pub use fair_use::{FairUse, Pacer};
pub use gcra::{Limit, answer as gcra_answer, cell as gcra_cell};
pub use pace::Stream;
pub use stockpiling::Download;

use login::Login;
use pace::Schedule;
use sketch::{SECOND, name_hash};
use stockpiling::Stockpiling;

/// Whom state is kept for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// A member (all its seats together), by id.
    Member(String),
    /// A caller without a key, by anonymised network (`/24`, `/48`).
    Network(String),
}

/// A request-rate policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Searches, asset cards, `similar`.
    Search,
    /// Previews fetched by API clients.
    Previews,
    /// Licence requests.
    Licences,
}

impl Policy {
    /// The policy's name, as the `RateLimit` fields and the config call it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Search => "search",
            Policy::Previews => "previews",
            Policy::Licences => "licences",
        }
    }
}

/// A detector's signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// New licences per seat over 10 minutes, an hour or a day, as a share of the limit.
    Rate,
    /// Share of downloads of assets the member had not seen first.
    Unviewed,
    /// Downloads as a share of views and downloads.
    Originals,
    /// Coefficient of variation of the gaps between downloads (low: machine-regular).
    Regular,
    /// Downloads in a row in listing order.
    Listing,
    /// Downloads in a row from one author.
    Author,
    /// In the last days of a paid membership, new licences per seat over a day as a share
    /// of the daily limit, when that is a burst beside the member's own past.
    Ending,
    /// Networks one key was used from within a few minutes.
    ConcurrentNetworks,
    /// Networks one key was used from in a day.
    NetworksPerDay,
    /// Changes of network per key in the last hour.
    Switches,
    /// Concurrent download streams against the seats' allowance.
    Streams,
}

impl Signal {
    fn describe(self) -> &'static str {
        match self {
            Signal::Rate => "download rate / limit",
            Signal::Unviewed => "share of downloads not viewed first",
            Signal::Originals => "share of originals in the traffic",
            Signal::Regular => "variation of the gaps between downloads",
            Signal::Listing => "downloads in a row in listing order",
            Signal::Author => "downloads in a row from one author",
            Signal::Ending => "downloads in the last day before the membership ends / daily limit",
            Signal::ConcurrentNetworks => "networks one key used at once",
            Signal::NetworksPerDay => "networks one key used today",
            Signal::Switches => "network changes of one key in an hour",
            Signal::Streams => "concurrent downloads",
        }
    }
}

/// One signal's value against its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// Which signal.
    pub signal: Signal,
    /// Its value now.
    pub value: f64,
    /// The value past which it counts.
    pub threshold: f64,
    /// Whether it is past the threshold.
    pub crossed: bool,
    /// What it adds to its detector's score when crossed.
    pub weight: f64,
}

impl Reason {
    fn new(signal: Signal, value: f64, threshold: f64, crossed: bool, weight: f64) -> Reason {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        Reason {
            signal,
            value: round(value),
            threshold: round(threshold),
            crossed,
            weight,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (threshold {})",
            self.signal.describe(),
            self.value,
            self.threshold
        )
    }
}

/// Which detector flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Hoarding content: download rates, unviewed downloads, regular gaps, listing and author runs.
    Stockpiling,
    /// A login shared or misused: networks per key, switches, streams per seat.
    Login,
}

/// A detector's verdict on one member: the signals that crossed, and the score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flag {
    /// Which detector.
    pub detector: Detector,
    /// The sum of the crossed signals' weights.
    pub score: f64,
    /// Every signal that crossed, with its value.
    pub reasons: Vec<Reason>,
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.detector {
            Detector::Stockpiling => "stockpiling",
            Detector::Login => "login misuse",
        };
        write!(f, "{name} (score {:.2}): ", self.score)?;
        for (i, reason) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

/// A detector's signals now, for moderators.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// The sum of the crossed signals' weights.
    pub score: f64,
    /// It has flagged the member (and stays quiet until they are cleared).
    pub flagged: bool,
    /// Every signal, crossed or not.
    pub signals: Vec<Reason>,
}

/// Both detectors' signals for one member.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signals {
    /// The stockpiling detector's.
    pub stockpiling: Assessment,
    /// The login-misuse detector's.
    pub login: Assessment,
}

/// A request as [`Guard::admit`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Who asks: a member, or an anonymised network.
    pub subject: &'a Subject,
    /// The route's rate policy.
    pub policy: Policy,
    /// Seats of the membership (1 for a network).
    pub seats: u32,
    /// The seat and the anonymised network a member's request came from.
    pub used: Option<(&'a str, &'a str)>,
    /// The asset the request shows the member (a card, a preview).
    pub viewed: Option<u64>,
}

/// What [`Guard::admit`] decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Admission {
    /// The policy's answer; `None` when it does not limit this subject.
    pub limit: Option<Limit>,
    /// The login-misuse flag, if this request crossed it.
    pub flag: Option<Flag>,
}

/// Why a guard could not be made: its snapshot does not read, or its configuration breaks
/// an invariant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The snapshot is not the JSON a guard writes.
    #[error("guard snapshot: {0}")]
    Snapshot(#[from] serde_json::Error),
    /// The snapshot was written by another version of the guard.
    #[error("guard snapshot version {0}; this build reads version {SNAPSHOT_VERSION}")]
    Version(u32),
    /// A configuration that breaks the guard's invariants.
    #[error("{0}")]
    Config(String),
}

const SNAPSHOT_VERSION: u32 = 1;
const SHARDS: usize = 16;

/// What is kept per subject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Entry {
    seen: u64,
    /// GCRA's theoretical arrival time per policy.
    tat: [u64; 3],
    /// Members only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member: Option<Box<Detectors>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Detectors {
    stockpiling: Stockpiling,
    login: Login,
    seats: u32,
    /// Flags already raised, per detector (stockpiling, login).
    flagged: [bool; 2],
}

/// The guard: per-subject state in shards, and the download schedules.
pub struct Guard {
    config: GuardConfig,
    shards: Box<[Mutex<LruCache<Subject, Entry>>]>,
    schedules: Mutex<HashMap<Subject, Weak<Schedule>>>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("enabled", &self.config.enabled)
            .field("subjects", &self.len())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// Least recently seen first, so that restoring keeps the order.
    entries: Vec<(Subject, Entry)>,
}

impl Guard {
    /// A guard with no state yet; refuses a configuration that breaks its invariants
    /// ([`GuardConfig::validate`]), such as a zero rate.
    pub fn new(config: GuardConfig) -> Result<Guard, GuardError> {
        config.validate().map_err(GuardError::Config)?;
        let per_shard =
            NonZeroUsize::new(config.max_subjects.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        Ok(Guard {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
            schedules: Mutex::new(HashMap::new()),
            config,
        })
    }

    /// The thresholds in force.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Whether fair use is on (`[guard] enabled`).
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    fn shard(&self, subject: &Subject) -> MutexGuard<'_, LruCache<Subject, Entry>> {
        let name = match subject {
            Subject::Member(id) | Subject::Network(id) => id,
        };
        self.shards[name_hash(name) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on `subject`'s entry (created if new), marking it seen at `now`.
    fn with<T>(&self, subject: &Subject, now: u64, work: impl FnOnce(&mut Entry) -> T) -> T {
        let mut shard = self.shard(subject);
        let entry = shard.get_or_insert_mut_ref(subject, Entry::default);
        entry.seen = entry.seen.max(now);
        work(entry)
    }

    /// The rate `policy` allows `subject` (before seats scale it); `None` when it does not
    /// limit such subjects.
    pub fn rate(&self, subject: &Subject, policy: Policy) -> Option<config::Rate> {
        let member = matches!(subject, Subject::Member(_));
        let config = &self.config;
        match (policy, member) {
            (Policy::Search, true) => Some(config.search),
            (Policy::Search, false) => Some(config.search_anonymous),
            (Policy::Previews, true) => Some(config.previews),
            (Policy::Previews, false) => config.previews_anonymous,
            (Policy::Licences, true) => Some(config.licences),
            (Policy::Licences, false) => Some(config.licences_anonymous),
        }
    }

    /// One request under `policy`: allowed or not, with the figures for the headers.
    /// `None` when the policy does not limit this subject (or the guard is off).
    pub fn check(&self, subject: &Subject, policy: Policy, seats: u32, now: u64) -> Option<Limit> {
        if !self.config.enabled {
            return None;
        }
        let rate = self.rate(subject, policy)?;
        let slot = policy as usize;
        Some(self.with(subject, now, |entry| {
            gcra::decide(&mut entry.tat[slot], rate, seats, now, policy.name())
        }))
    }

    /// One request, in one visit to the subject's entry: the login-misuse signal of the
    /// seat and network it came from (members), the rate policy, and the asset it shows
    /// counted as seen if it is let through. What the request path calls; the separate
    /// calls below do the same pieces.
    pub fn admit(&self, request: &Request<'_>, now: u64) -> Admission {
        if !self.config.enabled {
            return Admission::default();
        }
        let rate = self.rate(request.subject, request.policy);
        let member = matches!(request.subject, Subject::Member(_));
        self.with(request.subject, now, |entry| {
            let flag = match (member, request.used) {
                // Streams are counted where they open (`Guard::used`, downloads).
                (true, Some((seat, network))) => entry
                    .member
                    .get_or_insert_with(Box::default)
                    .use_seat(seat, network, request.seats, 0, now, &self.config.login),
                _ => None,
            };
            let limit = rate.map(|rate| {
                let slot = request.policy as usize;
                gcra::decide(
                    &mut entry.tat[slot],
                    rate,
                    request.seats,
                    now,
                    request.policy.name(),
                )
            });
            if let (true, Some(asset)) = (member, request.viewed)
                && limit.is_none_or(|limit| limit.allowed())
            {
                let detectors = entry.member.get_or_insert_with(Box::default);
                detectors
                    .stockpiling
                    .viewed(asset, now, &self.config.stockpiling);
            }
            Admission { limit, flag }
        })
    }

    fn detectors<T>(
        &self,
        member: &str,
        now: u64,
        work: impl FnOnce(&mut Detectors) -> T,
    ) -> Option<T> {
        if !self.config.enabled {
            return None;
        }
        let subject = Subject::Member(member.to_string());
        Some(self.with(&subject, now, |entry| {
            work(entry.member.get_or_insert_with(Box::default))
        }))
    }

    /// The member saw these assets (search results, a card, a preview).
    pub fn viewed(&self, member: &str, assets: &[u64], now: u64) {
        let config = &self.config.stockpiling;
        self.detectors(member, now, |detectors| {
            for &asset in assets {
                detectors.stockpiling.viewed(asset, now, config);
            }
        });
    }

    /// A new licence (re-downloads do not count): the stockpiling flag, if this crossed it.
    pub fn downloaded(&self, member: &str, download: &Download<'_>, now: u64) -> Option<Flag> {
        let config = &self.config.stockpiling;
        self.detectors(member, now, |detectors| {
            detectors.seats = download.seats.max(1);
            detectors.stockpiling.downloaded(download, now, config);
            let signals = detectors.stockpiling.signals(now, config);
            raise(detectors, Detector::Stockpiling, signals, config.flag_score)
        })
        .flatten()
    }

    /// A seat of the member was used from `network` (a request with its key, or a
    /// download of its licence): the login-misuse flag, if this crossed it.
    pub fn used(
        &self,
        member: &str,
        seat: &str,
        network: &str,
        seats: u32,
        now: u64,
    ) -> Option<Flag> {
        let streams = self.open_streams(&Subject::Member(member.to_string()));
        self.detectors(member, now, |detectors| {
            detectors.use_seat(seat, network, seats, streams, now, &self.config.login)
        })
        .flatten()
    }

    /// Opens a download stream for `subject`, paced at `rate` bytes per second (`None`:
    /// unpaced, only counted) on the schedule all of the subject's streams share.
    pub fn stream(&self, subject: &Subject, rate: Option<u64>) -> Stream {
        let mut schedules = self
            .schedules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let schedule = match schedules.get(subject).and_then(Weak::upgrade) {
            Some(schedule) => schedule,
            None => {
                if schedules.len() >= 1024 && schedules.len().is_power_of_two() {
                    schedules.retain(|_, schedule| schedule.strong_count() > 0);
                }
                let schedule = Arc::new(Schedule::default());
                schedules.insert(subject.clone(), Arc::downgrade(&schedule));
                schedule
            }
        };
        Stream::open(schedule, if self.config.enabled { rate } else { None })
    }

    /// Downloads of `subject` being sent now.
    pub fn open_streams(&self, subject: &Subject) -> u32 {
        self.schedules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(subject)
            .and_then(Weak::upgrade)
            .map_or(0, |schedule| schedule.streams())
    }

    /// Both detectors' signals for a member, or `None` when nothing is kept on them.
    pub fn signals(&self, member: &str, now: u64) -> Option<Signals> {
        let subject = Subject::Member(member.to_string());
        let streams = self.open_streams(&subject);
        let shard = self.shard(&subject);
        let detectors = shard.peek(&subject)?.member.as_deref()?;
        let assess = |signals: Vec<Reason>, flagged: bool| Assessment {
            score: score(&signals),
            flagged,
            signals,
        };
        Some(Signals {
            stockpiling: assess(
                detectors.stockpiling.signals(now, &self.config.stockpiling),
                detectors.flagged[0],
            ),
            login: assess(
                detectors
                    .login
                    .signals(now, streams, detectors.seats, &self.config.login),
                detectors.flagged[1],
            ),
        })
    }

    /// A member's detectors' state, serialised, for a store the nodes of a cluster share;
    /// `None` when nothing is kept on them.
    pub fn detectors_state(&self, member: &str) -> Option<Vec<u8>> {
        let subject = Subject::Member(member.to_string());
        let shard = self.shard(&subject);
        let detectors = shard.peek(&subject)?.member.as_deref()?;
        serde_json::to_vec(detectors).ok()
    }

    /// Replaces a member's detectors' state with a shared store's (`None`: nothing kept
    /// there), so that the next observation adds to what every node has seen. A state that
    /// does not read (another build's) is an error and changes nothing.
    pub fn adopt_detectors(
        &self,
        member: &str,
        state: Option<&[u8]>,
        now: u64,
    ) -> Result<(), GuardError> {
        let detectors = match state {
            Some(bytes) => Some(Box::new(serde_json::from_slice::<Detectors>(bytes)?)),
            None => None,
        };
        let subject = Subject::Member(member.to_string());
        self.with(&subject, now, |entry| entry.member = detectors);
        Ok(())
    }

    /// What a request showed the detectors (its seat used from a network, an asset
    /// viewed), without a rate decision: [`Guard::admit`]'s observations replayed on a
    /// member's state adopted from a shared store. The login-misuse flag if this crossed it.
    pub fn observe(
        &self,
        member: &str,
        used: Option<(&str, &str)>,
        seats: u32,
        viewed: Option<u64>,
        now: u64,
    ) -> Option<Flag> {
        self.detectors(member, now, |detectors| {
            if let Some(asset) = viewed {
                detectors
                    .stockpiling
                    .viewed(asset, now, &self.config.stockpiling);
            }
            used.and_then(|(seat, network)| {
                detectors.use_seat(seat, network, seats, 0, now, &self.config.login)
            })
        })
        .flatten()
    }

    /// A moderator cleared the member: the detectors start over (rate limits stay).
    pub fn clear(&self, member: &str) {
        let subject = Subject::Member(member.to_string());
        if let Some(entry) = self.shard(&subject).peek_mut(&subject) {
            entry.member = None;
        }
    }

    /// Drops everything kept on a member (their rate limits, detectors and seats' networks):
    /// they were erased, and their id must not stay in the state or its snapshot.
    pub fn forget(&self, member: &str) {
        let subject = Subject::Member(member.to_string());
        self.shard(&subject).pop(&subject);
        self.schedules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&subject);
    }

    /// Drops the state of subjects not seen for `idle_secs`; returns how many.
    pub fn evict_idle(&self, now: u64) -> usize {
        let cutoff = now.saturating_sub(self.config.idle_secs * SECOND);
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            while shard
                .peek_lru()
                .is_some_and(|(_, entry)| entry.seen < cutoff)
            {
                shard.pop_lru();
                dropped += 1;
            }
        }
        dropped
    }

    /// Subjects with state kept.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether no member or network has state.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state, to be written to disk and read back by [`Guard::restore`].
    pub fn snapshot(&self) -> Vec<u8> {
        let mut entries = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            entries.extend(shard.iter().rev().map(|(k, v)| (k.clone(), v.clone())));
        }
        entries.sort_by_key(|(_, entry)| entry.seen);
        serde_json::to_vec(&Snapshot {
            version: SNAPSHOT_VERSION,
            entries,
        })
        .unwrap_or_default()
    }

    /// A guard with `config` and the state a snapshot holds.
    pub fn restore(config: GuardConfig, snapshot: &[u8]) -> Result<Guard, GuardError> {
        let snapshot: Snapshot = serde_json::from_slice(snapshot)?;
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(GuardError::Version(snapshot.version));
        }
        let guard = Guard::new(config)?;
        for (subject, entry) in snapshot.entries {
            guard.shard(&subject).put(subject, entry);
        }
        Ok(guard)
    }
}

fn score(signals: &[Reason]) -> f64 {
    signals
        .iter()
        .filter(|reason| reason.crossed)
        .map(|reason| reason.weight)
        .sum()
}

impl Detectors {
    /// A seat of the member used from `network` with `streams` downloads open: the
    /// login-misuse flag if this crossed it (a flag already raised is not weighed again).
    fn use_seat(
        &mut self,
        seat: &str,
        network: &str,
        seats: u32,
        streams: u32,
        now: u64,
        config: &LoginConfig,
    ) -> Option<Flag> {
        self.seats = seats.max(1);
        self.login.used(seat, network, now);
        if self.flagged[Detector::Login as usize] {
            return None;
        }
        let signals = self.login.signals(now, streams, self.seats, config);
        raise(self, Detector::Login, signals, 1.0)
    }
}

/// The flag for `detector` if its score reached `at` and it has not flagged yet.
fn raise(
    detectors: &mut Detectors,
    detector: Detector,
    signals: Vec<Reason>,
    at: f64,
) -> Option<Flag> {
    let slot = detector as usize;
    let score = score(&signals);
    if detectors.flagged[slot] || score < at {
        return None;
    }
    detectors.flagged[slot] = true;
    Some(Flag {
        detector,
        score,
        reasons: signals
            .into_iter()
            .filter(|reason| reason.crossed)
            .collect(),
    })
}

#[cfg(test)]
mod tests;
