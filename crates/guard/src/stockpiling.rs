//! The stockpiling detector: an online score per member from O(1) signals, each a few
//! counters updated by one download or one view.

use serde::{Deserialize, Serialize};

use crate::config::StockpilingConfig;
use crate::sketch::{Decayed, SECOND, Seen, Window, name_hash};
use crate::{Reason, Signal};

const MINUTES_10: u64 = 600 * SECOND;
const HOUR: u64 = 3_600 * SECOND;
const DAY: u64 = 86_400 * SECOND;

/// A new licence, as the detector sees it.
#[derive(Clone, Copy, Debug)]
pub struct Download<'a> {
    /// The asset's id as a number (ids are random 64-bit values).
    pub asset: u64,
    /// The asset's author's id.
    pub author: &'a str,
    /// The author's assets in the catalogue.
    pub author_assets: u32,
    /// The asset's place in the catalogue's listing (upload time, then the listing's
    /// tie-break): ids are random, so this is the order a sweep walks.
    pub listed: (i64, u64),
    /// Seats of the membership: rates are per seat.
    pub seats: u32,
    /// When the paid membership ends (microseconds, as `now`), if it has an end date.
    pub ends_at: Option<u64>,
}

/// One member's stockpiling state (about 600 bytes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stockpiling {
    windows: [Window; 3],
    seats: u32,
    /// New licences counted so far (the evidence the ratio signals need).
    total: u32,
    downloads: Decayed,
    unviewed: Decayed,
    views: Decayed,
    seen: Seen,
    last_download: u64,
    /// Exponentially weighted mean and variance of the gaps between downloads, seconds.
    gap_mean: f64,
    gap_var: f64,
    gaps: u32,
    last_listed: (i64, u64),
    /// +1 or -1 while a listing run goes one way, 0 before it has a direction.
    direction: i8,
    listing_run: u32,
    author: u64,
    author_run: u32,
    author_assets: u32,
    /// When the first counted download was (the member's own average day starts there).
    #[serde(default)]
    first_download: u64,
    /// The end of the paid membership as of the last download; 0 for none.
    #[serde(default)]
    ends_at: u64,
}

/// How much weight the newest gap gets in the running mean and variance.
const GAP_WEIGHT: f64 = 0.15;

impl Stockpiling {
    pub(crate) fn viewed(&mut self, asset: u64, now: u64, config: &StockpilingConfig) {
        self.seen.insert(asset);
        self.views.add(now, config.half_life_secs * SECOND, 1.0);
    }

    pub(crate) fn downloaded(
        &mut self,
        download: &Download<'_>,
        now: u64,
        config: &StockpilingConfig,
    ) {
        let half_life = config.half_life_secs * SECOND;
        for (window, len) in self.windows.iter_mut().zip([MINUTES_10, HOUR, DAY]) {
            window.add(now, len);
        }
        self.seats = download.seats.max(1);
        self.total = self.total.saturating_add(1);
        if self.first_download == 0 {
            self.first_download = now;
        }
        self.ends_at = download.ends_at.unwrap_or(0);
        self.downloads.add(now, half_life, 1.0);
        if !self.seen.contains(download.asset) {
            self.unviewed.add(now, half_life, 1.0);
        }
        if self.last_download != 0 {
            let gap = now.saturating_sub(self.last_download) as f64 / SECOND as f64;
            if self.gaps == 0 {
                self.gap_mean = gap;
            } else {
                let delta = gap - self.gap_mean;
                self.gap_mean += GAP_WEIGHT * delta;
                self.gap_var = (1.0 - GAP_WEIGHT) * (self.gap_var + GAP_WEIGHT * delta * delta);
            }
            self.gaps = self.gaps.saturating_add(1);
        }
        self.last_download = now;
        let step = match download.listed.cmp(&self.last_listed) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        };
        if self.listing_run > 0 && step != 0 && (self.direction == 0 || step == self.direction) {
            self.direction = step;
            self.listing_run += 1;
        } else {
            self.direction = 0;
            self.listing_run = 1;
        }
        self.last_listed = download.listed;
        let author = name_hash(download.author);
        if self.author_run > 0 && author == self.author {
            self.author_run += 1;
        } else {
            self.author = author;
            self.author_run = 1;
        }
        self.author_assets = download.author_assets;
    }

    /// Every signal's value now, with its threshold and whether it crossed it.
    pub(crate) fn signals(&self, now: u64, config: &StockpilingConfig) -> Vec<Reason> {
        let half_life = config.half_life_secs * SECOND;
        let weights = &config.weights;
        let seats = f64::from(self.seats.max(1));
        let downloads = self.downloads.get(now, half_life);
        let enough = self.total >= config.min_downloads;
        let mut signals = Vec::with_capacity(6);
        let rate = [
            (MINUTES_10, config.per_10_minutes),
            (HOUR, config.per_hour),
            (DAY, config.per_day),
        ]
        .iter()
        .zip(&self.windows)
        .map(|(&(len, limit), window)| window.estimate(now, len) / (f64::from(limit) * seats))
        .fold(0.0, f64::max);
        signals.push(Reason::new(
            Signal::Rate,
            rate,
            1.0,
            rate >= 1.0,
            weights.rate,
        ));
        let ratio = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
        let unviewed = ratio(self.unviewed.get(now, half_life), downloads);
        signals.push(Reason::new(
            Signal::Unviewed,
            unviewed,
            config.unviewed_share,
            enough && unviewed >= config.unviewed_share,
            weights.unviewed,
        ));
        let originals = ratio(downloads, downloads + self.views.get(now, half_life));
        signals.push(Reason::new(
            Signal::Originals,
            originals,
            config.originals_share,
            enough && originals >= config.originals_share,
            weights.originals,
        ));
        let cv = if self.gap_mean > 0.0 {
            self.gap_var.sqrt() / self.gap_mean
        } else {
            f64::INFINITY
        };
        let regular = enough && self.gaps >= config.min_downloads && cv <= config.regular_cv;
        signals.push(Reason::new(
            Signal::Regular,
            if cv.is_finite() { cv } else { 0.0 },
            config.regular_cv,
            regular,
            weights.regular,
        ));
        let listing = f64::from(self.listing_run);
        signals.push(Reason::new(
            Signal::Listing,
            listing,
            f64::from(config.listing_run),
            self.listing_run >= config.listing_run,
            weights.listing,
        ));
        let share = ratio(f64::from(self.author_run), f64::from(self.author_assets));
        let sweep = self.author_run >= config.author_run
            && (share >= config.author_share || self.author_run >= 2 * config.author_run);
        signals.push(Reason::new(
            Signal::Author,
            f64::from(self.author_run),
            f64::from(config.author_run),
            sweep,
            weights.author,
        ));
        let (ending, burst) = self.ending(now, config);
        signals.push(Reason::new(
            Signal::Ending,
            ending,
            config.ending_share,
            enough && burst && ending >= config.ending_share,
            weights.ending,
        ));
        signals
    }

    /// New licences per seat over the last day as a share of the daily limit, while the
    /// paid membership ends within `ending_days` (0 otherwise); and whether that day is a
    /// burst beside the member's own average day (always, for a member whose whole
    /// history lies in those days: a membership bought to be emptied).
    fn ending(&self, now: u64, config: &StockpilingConfig) -> (f64, bool) {
        let window = u64::from(config.ending_days) * DAY;
        if self.ends_at == 0 || now > self.ends_at || now + window < self.ends_at {
            return (0.0, false);
        }
        let seats = f64::from(self.seats.max(1));
        let day = self.windows[2].estimate(now, DAY) / seats;
        let share = day / (f64::from(config.per_day.max(1)));
        let history = now.saturating_sub(self.first_download);
        if history <= window {
            return (share, true);
        }
        let average_day = f64::from(self.total) / seats / (history as f64 / DAY as f64);
        (share, day >= config.ending_burst * average_day)
    }
}
