//! Every threshold the guard uses, typed, with the defaults the docs justify
//! (`docs/fair-use.md`). The binary reads this from `[guard]` in its config file.

use serde::{Deserialize, Serialize};

/// A request-rate limit: `requests` per `window_secs`, a whole window's worth allowed as a
/// burst (GCRA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window, in seconds (a whole window's worth may come at once).
    pub window_secs: u32,
}

impl Rate {
    /// `requests` per `window_secs`.
    pub const fn new(requests: u32, window_secs: u32) -> Rate {
        Rate {
            requests,
            window_secs,
        }
    }
}

/// The guard's configuration (`[guard]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Off: no limits, no pacing, no detectors (the benchmark's baseline).
    pub enabled: bool,
    /// Searches, asset cards and `similar`, per member (times its seats).
    pub search: Rate,
    /// The same, per anonymised network without a key.
    pub search_anonymous: Rate,
    /// Previews fetched with an API key, per member (times its seats).
    pub previews: Rate,
    /// Previews without a key, per network. Unset by default: a CDN pulling previews as
    /// origin arrives from a few networks and must not be limited like one person.
    pub previews_anonymous: Option<Rate>,
    /// Licence requests, per member (times its seats).
    pub licences: Rate,
    /// Licence requests without a key, per network.
    pub licences_anonymous: Rate,
    /// Byte rate a throttled member's downloads share (past the soft quota, or flagged).
    pub throttled_bytes_per_sec: u64,
    /// Byte rate an anonymous network's downloads share.
    pub anonymous_bytes_per_sec: u64,
    /// The stockpiling detector's thresholds (`[guard.stockpiling]`).
    pub stockpiling: StockpilingConfig,
    /// The login-misuse detector's thresholds (`[guard.login]`).
    pub login: LoginConfig,
    /// Members and networks whose state is kept; past this the least recently seen go.
    pub max_subjects: usize,
    /// State of a member or network not seen for this long is dropped.
    pub idle_secs: u64,
    /// How often the server writes the state to disk (and drops idle entries).
    pub snapshot_secs: u64,
    /// The cluster shape: the Redis whose rate limits every node shares
    /// (`redis://host:port/db`); unset, each node limits on its own.
    pub redis_url: Option<String>,
}

impl Default for GuardConfig {
    fn default() -> GuardConfig {
        GuardConfig {
            enabled: true,
            search: Rate::new(600, 60),
            search_anonymous: Rate::new(300, 60),
            previews: Rate::new(1_200, 60),
            previews_anonymous: None,
            licences: Rate::new(60, 60),
            licences_anonymous: Rate::new(10, 60),
            throttled_bytes_per_sec: 1 << 20,
            anonymous_bytes_per_sec: 2 << 20,
            stockpiling: StockpilingConfig::default(),
            login: LoginConfig::default(),
            max_subjects: 200_000,
            idle_secs: 2 * 86_400,
            snapshot_secs: 60,
            redis_url: None,
        }
    }
}

/// The stockpiling detector (`[guard.stockpiling]`). Each signal that crosses its
/// threshold adds its weight to the score; a score of `flag_score` or more flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StockpilingConfig {
    /// Score at which a member is flagged.
    pub flag_score: f64,
    /// New licences before the ratio signals (unviewed, originals share, regularity) count.
    pub min_downloads: u32,
    /// New licences per seat in 10 minutes, 1 hour and 1 day: crossing any is `rate`.
    pub per_10_minutes: u32,
    /// See `per_10_minutes`.
    pub per_hour: u32,
    /// See `per_10_minutes`.
    pub per_day: u32,
    /// Share of downloads whose asset the member had not seen (in results, as a card or
    /// a preview) before licensing it.
    pub unviewed_share: f64,
    /// Downloads as a share of all the member's asset views and downloads.
    pub originals_share: f64,
    /// Coefficient of variation of the gaps between downloads below which they are
    /// machine-regular (people's gaps vary about as much as their mean).
    pub regular_cv: f64,
    /// Downloads in a row that follow the catalogue's listing order (by upload time, one
    /// direction): ids are random, so this is what "sequential ids" means here.
    pub listing_run: u32,
    /// Downloads in a row from one author, and the share of that author's portfolio they
    /// make, for a whole-author sweep.
    pub author_run: u32,
    /// See `author_run`.
    pub author_share: f64,
    /// Half-life of the ratio signals' counts, in seconds.
    pub half_life_secs: u64,
    /// How many days before a paid membership's end the ending signal watches.
    pub ending_days: u32,
    /// New licences per seat in a day, as a share of `per_day`, that count as a burst
    /// before the end.
    pub ending_share: f64,
    /// How many times the member's own average day the last day must be (once the
    /// member has more history than `ending_days`).
    pub ending_burst: f64,
    /// What each crossed signal adds to the score.
    pub weights: Weights,
}

/// What each crossed signal adds to the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// For `rate`.
    pub rate: f64,
    /// For `unviewed`.
    pub unviewed: f64,
    /// For `originals`.
    pub originals: f64,
    /// For `regular`.
    pub regular: f64,
    /// For `listing`.
    pub listing: f64,
    /// For `author`.
    pub author: f64,
    /// A burst before the membership ends: evidence, not a verdict on its own (below
    /// `flag_score`), so a member finishing a project before the end is not flagged.
    pub ending: f64,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            rate: 0.75,
            unviewed: 1.0,
            originals: 0.5,
            regular: 0.75,
            listing: 2.0,
            author: 2.0,
            ending: 1.25,
        }
    }
}

impl Default for StockpilingConfig {
    fn default() -> StockpilingConfig {
        StockpilingConfig {
            flag_score: 2.0,
            min_downloads: 8,
            per_10_minutes: 40,
            per_hour: 120,
            per_day: 400,
            unviewed_share: 0.6,
            originals_share: 0.6,
            regular_cv: 0.25,
            listing_run: 10,
            author_run: 12,
            author_share: 0.5,
            half_life_secs: 6 * 3_600,
            ending_days: 7,
            ending_share: 0.25,
            ending_burst: 3.0,
            weights: Weights::default(),
        }
    }
}

/// The login-misuse detector (`[guard.login]`): any crossing flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Networks one key may be used from within `concurrent_secs` (phone and laptop on
    /// different networks is two).
    pub concurrent_networks: u32,
    /// The window of `concurrent_networks`, in seconds.
    pub concurrent_secs: u64,
    /// Distinct networks one key may be used from in a day (mobile carriers move people
    /// between networks; offices, homes and travel add some).
    pub networks_per_day: u32,
    /// Changes of network per key in an hour. Without a geolocation database this is how
    /// impossible travel shows: a person moves between networks a few times a day, a
    /// shared key flips between them all the time.
    pub switches_per_hour: u32,
    /// Concurrent download streams per seat of the membership.
    pub streams_per_seat: u32,
}

impl Default for LoginConfig {
    fn default() -> LoginConfig {
        LoginConfig {
            concurrent_networks: 2,
            concurrent_secs: 300,
            networks_per_day: 8,
            switches_per_hour: 12,
            streams_per_seat: 4,
        }
    }
}

impl GuardConfig {
    /// Checks the invariants the guard relies on: positive rates, windows, byte rates and
    /// sizes, and shares between 0 and 1. Each problem names its key under `[guard]`.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("search", Some(self.search)),
            ("search_anonymous", Some(self.search_anonymous)),
            ("previews", Some(self.previews)),
            ("previews_anonymous", self.previews_anonymous),
            ("licences", Some(self.licences)),
            ("licences_anonymous", Some(self.licences_anonymous)),
        ];
        for (name, rate) in rates {
            if let Some(rate) = rate
                && (rate.requests == 0 || rate.window_secs == 0)
            {
                return Err(format!(
                    "guard.{name}: requests and window_secs must be positive"
                ));
            }
        }
        if self.throttled_bytes_per_sec == 0
            || self.anonymous_bytes_per_sec == 0
            || self.max_subjects == 0
            || self.snapshot_secs == 0
            || self.idle_secs == 0
        {
            return Err("guard.throttled_bytes_per_sec, anonymous_bytes_per_sec, max_subjects, snapshot_secs and idle_secs must be positive".into());
        }
        let stockpiling = &self.stockpiling;
        for (name, share) in [
            ("unviewed_share", stockpiling.unviewed_share),
            ("originals_share", stockpiling.originals_share),
            ("author_share", stockpiling.author_share),
            ("ending_share", stockpiling.ending_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "guard.stockpiling.{name} {share} is not a share between 0 and 1"
                ));
            }
        }
        if stockpiling.flag_score.is_nan()
            || stockpiling.flag_score <= 0.0
            || stockpiling.half_life_secs == 0
        {
            return Err("guard.stockpiling.flag_score and half_life_secs must be positive".into());
        }
        if stockpiling.ending_days == 0
            || stockpiling.ending_burst.is_nan()
            || stockpiling.ending_burst < 1.0
        {
            return Err(
                "guard.stockpiling.ending_days must be positive and ending_burst at least 1".into(),
            );
        }
        Ok(())
    }
}
