//! What the platform does, in one place every entry point calls: admitting an upload or a
//! file (decode check, exact and near duplicates, store, catalogue, indexes), approving a
//! held one, withdrawing, taking down, erasing a member, purging what the terms say must
//! go, and the licence-and-download decision that combines the catalogue's terms with the
//! guard's fair use. The server parses a request, calls one of these and maps the answer
//! (by [`ErrorClass`]); the CLI calls the same functions, so a takedown from either runs
//! the same steps in the same order.
//!
//! It knows no HTTP and prints nothing. Its methods block (decoding, fsync, SQLite): an
//! async caller runs them on a blocking pool.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let platform: stockroom_platform::Platform = unimplemented!();
//! # let moderator: stockroom_catalog::Principal = unimplemented!();
//! let asset = "2d4001868026e1b1".parse()?;
//! platform.takedown(asset, &moderator, "notice #17")?; // out of search, previews, store
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod admission;
mod blocklist;
pub mod error;
pub mod feed;
pub mod fingerprint;
mod follow;
mod licensing;
mod lifecycle;
pub mod manifest;
pub mod metadata;
pub mod originals;
mod previews;
mod rehash;
pub mod search;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use stockroom_catalog::Catalog;
use stockroom_dupes::DupIndex;
use stockroom_guard::FairUse;
use stockroom_index::SearchIndex;
use stockroom_render::{Limits, RenderOptions, RenderPool};
use stockroom_store::Store;
use stockroom_vocab::{AssetId, Clock};

pub use admission::{Admitted, FileOutcome, Upload};
pub use error::{ErrorClass, PlatformError, Result};
pub use feed::{Change, ChangeFeed, LocalFeed};
pub use follow::{Backfilled, Followed, read_position};
pub use licensing::Download;
pub use lifecycle::{Flagged, Held};
pub use originals::{
    Original, Originals, OriginalsCheck, OriginalsUsage, RangeReader, Sendable, StoreOriginals,
};
pub use previews::{Preview, Restyled, render_fingerprint};
pub use rehash::Rehashed;

/// Largest file admitted unless configured: above any camera JPEG and most TIFF scans a
/// stock site takes.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 200 << 20;

/// The parts of one data directory (or, in the cluster shape, of the shared engines) the
/// platform acts on, opened by the caller.
#[derive(Debug)]
pub struct Parts {
    /// Originals, as authors sent them.
    pub originals: Arc<dyn Originals>,
    /// Previews and metadata records (and, in the embedded shape, the originals too).
    pub blobs: Arc<Store>,
    /// Thumbnails of withdrawn assets.
    pub archive: Store,
    /// Members, assets' terms and lifecycle, licences.
    pub catalog: Arc<dyn Catalog>,
    /// Keyword search over active assets.
    pub index: Arc<SearchIndex>,
    /// Perceptual hashes of stored assets.
    pub duplicates: DupIndex,
    /// An empty index (a fresh file) for the blocklist's hashes, filled from the catalogue.
    pub blocklist: DupIndex,
    /// Fair use: rate limits, pacing, detectors.
    pub guard: Arc<dyn FairUse>,
    /// Where changes are published (a server subscribes its caches).
    pub feed: Arc<dyn ChangeFeed>,
    /// The one clock.
    pub clock: Arc<dyn Clock>,
}

/// How the platform behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// PDQ distance (of 256 bits) within which an upload is held as a near duplicate.
    pub dedup_threshold: u32,
    /// Decoding limits for untrusted images.
    pub limits: Limits,
    /// Largest file admitted.
    pub max_upload_bytes: u64,
    /// Watermark, quality and sizes of previews.
    pub render: RenderOptions,
    /// Threads rendering previews (the pool starts with the first render).
    pub render_threads: usize,
    /// Where the guard's state is saved; `None` keeps it in memory only.
    pub guard_state: Option<PathBuf>,
    /// Where the sequence number of the change applied last is kept (`DATA/index/feed-seq`,
    /// a following node); `None` for a process that does not follow the feed.
    pub feed_state: Option<PathBuf>,
    /// How long the catalogue keeps a change in its feed ([`Platform::prune_feed`]): a
    /// node away for longer rebuilds its replicas from the catalogue when it returns.
    pub feed_retention: std::time::Duration,
}

/// The feed's default retention: a week.
pub const DEFAULT_FEED_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

impl Default for Options {
    fn default() -> Options {
        Options {
            dedup_threshold: stockroom_dupes::DEFAULT_THRESHOLD,
            limits: Limits::default(),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            render: RenderOptions::default(),
            render_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            guard_state: None,
            feed_state: None,
            feed_retention: DEFAULT_FEED_RETENTION,
        }
    }
}

/// What the platform counts, for the server's `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Previews rendered (three sizes at once).
    pub renders: AtomicU64,
    /// Renders that failed.
    pub render_failures: AtomicU64,
    /// Downloads paced below full speed.
    pub throttled_streams: AtomicU64,
    /// Licences refused by a quota.
    pub quota_refusals: AtomicU64,
    /// Detector flags recorded.
    pub flags: AtomicU64,
}

/// The platform over its parts.
#[derive(Debug)]
pub struct Platform {
    originals: Arc<dyn Originals>,
    blobs: Arc<Store>,
    archive: Store,
    catalog: Arc<dyn Catalog>,
    index: Arc<SearchIndex>,
    duplicates: Mutex<DupIndex>,
    blocklist: Mutex<blocklist::Blocklist>,
    claims: Mutex<admission::Claims>,
    guard: Arc<dyn FairUse>,
    feed: Arc<dyn ChangeFeed>,
    clock: Arc<dyn Clock>,
    render: OnceLock<std::result::Result<RenderPool, String>>,
    rendering: Mutex<HashMap<AssetId, Arc<OnceLock<previews::RenderOutcome>>>>,
    counters: Counters,
    /// The sequence number of the change applied last (`follow.rs`), locked while a round
    /// of following runs.
    applied: Mutex<i64>,
    options: Options,
}

impl Platform {
    /// The platform over `parts`; reads which ids and originals the store holds, and sets
    /// aside the originals a crash left without a catalogue row ([`Platform::orphans`]).
    pub fn new(parts: Parts, options: Options) -> Result<Platform> {
        let claims = admission::Claims::of(
            &parts.blobs,
            parts.originals.as_ref(),
            parts.catalog.as_ref(),
        )?;
        let mut duplicates = parts.duplicates;
        for orphan in &claims.orphans {
            duplicates.remove(orphan.as_u64())?;
        }
        let applied = match &options.feed_state {
            Some(path) => follow::read_position(path)?,
            None => 0,
        };
        let seen = parts.catalog.last_action_seq()?;
        let blocklist =
            blocklist::Blocklist::build(parts.blocklist, parts.catalog.active_blocks()?, seen)?;
        Ok(Platform {
            originals: parts.originals,
            blobs: parts.blobs,
            archive: parts.archive,
            catalog: parts.catalog,
            index: parts.index,
            duplicates: Mutex::new(duplicates),
            blocklist: Mutex::new(blocklist),
            claims: Mutex::new(claims),
            guard: parts.guard,
            feed: parts.feed,
            clock: parts.clock,
            render: OnceLock::new(),
            rendering: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            applied: Mutex::new(applied),
            options,
        })
    }

    /// The catalogue, for what is only read (a member's licences, the purge feed).
    pub fn catalog(&self) -> &dyn Catalog {
        self.catalog.as_ref()
    }

    /// The keyword index, for what is only read.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// The guard, for the per-request gate.
    pub fn guard(&self) -> &dyn FairUse {
        self.guard.as_ref()
    }

    /// The blob store (previews, records).
    pub fn blobs(&self) -> &Store {
        &self.blobs
    }

    /// The archive store (thumbnails of assets that left the public).
    pub fn archive(&self) -> &Store {
        &self.archive
    }

    /// Where originals are kept.
    pub fn originals(&self) -> &dyn Originals {
        self.originals.as_ref()
    }

    /// The clock everything here reads.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Where changes are published.
    pub fn feed(&self) -> &dyn ChangeFeed {
        self.feed.as_ref()
    }

    /// What the platform has counted.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// How it was configured.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The duplicate index, locked.
    pub fn duplicate_index(&self) -> MutexGuard<'_, DupIndex> {
        self.duplicates
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn blocklist(&self) -> MutexGuard<'_, blocklist::Blocklist> {
        self.blocklist
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Writes the guard's state to its file (durably), after dropping idle subjects; a
    /// no-op without a state file.
    pub fn save_guard(&self) -> Result<()> {
        let Some(path) = &self.options.guard_state else {
            return Ok(());
        };
        let Some(snapshot) = self.guard.snapshot(self.clock.now_micros()) else {
            return Ok(());
        };
        stockroom_vocab::durable::write_file(path, &snapshot, None)
            .map_err(PlatformError::io("writing", path))
    }

    fn render_pool(&self) -> Result<&RenderPool> {
        self.render
            .get_or_init(|| {
                RenderPool::new(self.options.render_threads.max(1)).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|error| PlatformError::Aborted(format!("starting the render pool: {error}")))
    }
}

/// Ids already taken (a set shared with admission's claims).
pub(crate) type TakenIds = HashSet<AssetId>;

#[cfg(test)]
mod tests;
