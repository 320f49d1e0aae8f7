//! Opening a data directory's parts and handing them to the platform: the wiring every
//! command that acts on assets shares.

use std::sync::Arc;

use anyhow::{Context, Result};
use stockroom_dupes::DupIndex;
use stockroom_guard::Guard;
use stockroom_index::SearchIndex;
use stockroom_platform::{LocalFeed, Options, Parts, Platform, StoreOriginals};
use stockroom_render::RenderOptions;
use stockroom_vocab::{Clock, SystemClock};

use crate::config::Config;

/// What a command needs of the parts beyond the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Serving: the guard restored from its snapshot and saved back.
    Serve,
    /// Admitting files (writes the index).
    Ingest,
    /// Rebuilding the index in bulk.
    Reindex,
    /// Reading only (search, similar, dedup).
    Read,
}

/// The platform over the data directory, for `purpose`, on the system clock.
pub fn platform(config: &Config, purpose: Purpose) -> Result<Platform> {
    platform_on(config, purpose, Arc::new(SystemClock))
}

/// [`platform`] reading `clock` (the one clock the server's other parts read too).
pub fn platform_on(config: &Config, purpose: Purpose, clock: Arc<dyn Clock>) -> Result<Platform> {
    let catalog = match purpose {
        Purpose::Serve => config.open_catalog_waiting()?,
        _ => config.open_catalog()?,
    };
    let index_options = match purpose {
        Purpose::Serve | Purpose::Ingest => stockroom_index::Options::default(),
        Purpose::Reindex => stockroom_index::Options::bulk(),
        Purpose::Read => stockroom_index::Options::read_only(),
    };
    let index_dir = config.index_dir();
    let index = SearchIndex::open(&index_dir, index_options)
        .with_context(|| format!("opening {}", index_dir.display()))?;
    let guard = match purpose {
        Purpose::Serve => restore_guard(config)?,
        _ => Guard::new(config.guard.clone()).context("the [guard] configuration")?,
    };
    let blobs = Arc::new(config.open_blobs()?);
    let originals = originals(config, &blobs, Some(&catalog))?;
    let parts = Parts {
        originals,
        blobs,
        archive: config.open_store(&config.archive_dir())?,
        catalog: Arc::new(catalog),
        index: Arc::new(index),
        duplicates: open_duplicates(config)?,
        blocklist: open_blocklist(config)?,
        guard: shared_guard(config, guard)?,
        feed: Arc::new(LocalFeed::default()),
        clock,
    };
    let options = Options {
        dedup_threshold: config.dedup_threshold,
        max_upload_bytes: config.max_upload_bytes,
        guard_state: (purpose == Purpose::Serve).then(|| config.guard_state()),
        feed_state: (purpose == Purpose::Serve).then(|| config.index_dir().join("feed-seq")),
        feed_retention: std::time::Duration::from_secs(
            u64::from(config.feed_retention_days) * 24 * 3600,
        ),
        render: RenderOptions {
            watermark: config.watermark.clone(),
            ..RenderOptions::default()
        },
        ..Options::default()
    };
    let platform = Platform::new(parts, options)?;
    if purpose != Purpose::Read && platform.duplicates_stale() {
        rehash(&platform)?;
    }
    if purpose == Purpose::Serve {
        catch_up(&platform)?;
    }
    if purpose != Purpose::Read {
        let restyled = platform
            .drop_stale_previews()
            .context("dropping previews drawn with another watermark")?;
        if restyled.assets > 0 {
            tracing::info!(
                assets = restyled.assets,
                "previews were drawn with another watermark or quality: deleted, they render again on first request; a restyled purge event per public asset tells the CDN"
            );
        }
    }
    Ok(platform)
}

/// The node's guard, with its rate limits in Redis when `[guard] redis_url` names one.
fn shared_guard(config: &Config, guard: Guard) -> Result<Arc<dyn stockroom_guard::FairUse>> {
    Ok(match &config.guard.redis_url {
        Some(url) => Arc::new(
            stockroom_redis::RedisFairUse::new(Arc::new(guard), url, "stockroom:")
                .context("guard.redis_url")?,
        ),
        None => Arc::new(guard),
    })
}

/// Where `config` keeps originals: object storage, or the data directory's blob store
/// (`blobs`, already open). Object storage is opened without reading anything when
/// `catalog` keeps every kept original's hash (the catalogue says what is stored), else
/// listed.
pub fn originals(
    config: &Config,
    blobs: &Arc<stockroom_store::Store>,
    catalog: Option<&dyn stockroom_catalog::Catalog>,
) -> Result<Arc<dyn stockroom_platform::Originals>> {
    let Some(location) = &config.originals else {
        return Ok(Arc::new(StoreOriginals(blobs.clone())));
    };
    let context = || format!("opening the originals in s3://{}", location.bucket);
    let from_catalogue = match catalog {
        Some(catalog) => catalog.keeps_every_hash().with_context(context)?,
        None => false,
    };
    let opened = if from_catalogue {
        stockroom_s3::S3Originals::open_from_catalogue(location.clone())
    } else {
        if catalog.is_some() {
            tracing::info!(
                "the catalogue lacks the hash of an original admitted before it kept them: listing the bucket"
            );
        }
        stockroom_s3::S3Originals::open(location.clone())
    };
    Ok(Arc::new(opened.with_context(context)?))
}

/// Brings a serving node's replicas up to the catalogue's change feed before it answers:
/// all of them, from the catalogue's documents, on a node that never followed it (a new
/// one); else the changes made while it was away.
fn catch_up(platform: &Platform) -> Result<()> {
    if platform.replicas_unbuilt() {
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = crate::progress::bar("replicas", 0, interactive);
        let built = platform
            .build_replicas(
                |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
                |asset, error| {
                    tracing::warn!(%asset, error, "left out of this node's replicas: its document does not read");
                },
            )
            .context("building this node's replicas from the catalogue")?;
        bar.finish_and_clear();
        tracing::info!(
            assets = built,
            "replicas built from the catalogue's documents"
        );
    }
    let followed = platform
        .follow()
        .context("applying the catalogue's changes made while this node was away")?;
    for (asset, error) in &followed.skipped {
        tracing::warn!(%asset, error, "a change passed over: its asset's document or record does not read");
    }
    if followed.rebuilt {
        tracing::warn!(
            seq = followed.seq,
            "this node was away longer than the feed keeps changes: its replicas were made to agree with every asset in the catalogue"
        );
    }
    if followed.applied > 0 {
        tracing::info!(
            changes = followed.applied,
            seq = followed.seq,
            "caught up with the change feed"
        );
    }
    Ok(())
}

/// Rehashes a duplicate index written before PDQ was the file's, before anything is
/// looked up in it (DESIGN §6): near duplicates of what it holds would otherwise be missed.
fn rehash(platform: &Platform) -> Result<()> {
    let assets = platform.duplicate_index().assets().len();
    tracing::warn!(
        assets,
        "the duplicate index holds hashes of the reduced decode's pixels, not the file's PDQ: rehashing every asset from its original"
    );
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = crate::progress::bar("rehash", assets as u64, interactive);
    let report = platform
        .rehash_duplicates(
            || bar.inc(1),
            |asset, error| tracing::warn!(%asset, error, "original does not decode; left out of the duplicate index"),
        )
        .context("rehashing the duplicate index")?;
    bar.finish_and_clear();
    tracing::info!(
        rehashed = report.rehashed,
        missing = report.missing,
        unreadable = report.unreadable,
        "duplicate index rehashed"
    );
    Ok(())
}

/// The data dir's duplicate index (created if missing).
fn open_duplicates(config: &Config) -> Result<DupIndex> {
    let path = config.dupes_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    DupIndex::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// A fresh index for the blocklist's hashes, which the platform fills from the catalogue
/// at every start: made in a private temporary directory under `dupes/` that is removed at
/// once (the index keeps its open file), so each process has its own and none is left.
fn open_blocklist(config: &Config) -> Result<DupIndex> {
    let dupes = config
        .dupes_file()
        .parent()
        .context("the duplicate index has a directory")?
        .to_path_buf();
    std::fs::create_dir_all(&dupes).with_context(|| format!("creating {}", dupes.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("blocklist.")
        .tempdir_in(&dupes)
        .with_context(|| format!("creating a directory in {}", dupes.display()))?;
    let path = scratch.path().join("hashes");
    DupIndex::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// The guard with the state the last run left (a restart is no amnesty). A snapshot that
/// cannot be read is moved aside, named in the log, and the guard starts empty.
fn restore_guard(config: &Config) -> Result<Guard> {
    let path = config.guard_state();
    let dir = path.parent().context("the guard's state has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fresh = || Guard::new(config.guard.clone()).context("the [guard] configuration");
    let snapshot = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return fresh(),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    match Guard::restore(config.guard.clone(), &snapshot) {
        Ok(guard) => Ok(guard),
        Err(error) => {
            let aside = path.with_extension("unreadable");
            std::fs::rename(&path, &aside)
                .with_context(|| format!("moving {} aside", path.display()))?;
            tracing::warn!(
                %error,
                moved_to = %aside.display(),
                "the guard's state does not read; starting with no fair-use state"
            );
            fresh()
        }
    }
}
