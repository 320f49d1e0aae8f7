//! Stockroom's HTTP front door, on hyper 1: the search API, watermarked previews served as
//! a CDN's origin, licences with signed download links, the originals they unlock, and
//! the operations endpoints. The only crate that knows HTTP: a handler parses the request,
//! calls the platform (`stockroom-platform`, which owns every action and decision) and
//! maps the answer, and its error's class, onto a status and headers. What it keeps of its
//! own is HTTP's: routes, conditional and ranged answers, the cache of ready preview
//! responses, signed download links, the per-route rate policies, connections and TLS.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use stockroom_server::{Parts, Server, ServerOptions};
//! # let parts: Parts = unimplemented!();
//! let server = Server::new(parts, ServerOptions::default())?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
//! server.run(listener)?; // until SIGINT or SIGTERM, then finishes what is in flight
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod access;
pub mod access_log;
mod api;
mod auth;
mod body;
mod call;
mod cards;
mod config;
mod conn;
mod console;
mod downloads;
mod fair;
pub mod forwarded;
mod metrics;
mod moderation;
mod params;
mod previews;
mod problem;
pub mod range;
mod ratelimit;
mod router;
mod routes;
mod served;
pub mod tls;
pub mod token;
mod uploads;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use access_log::AccessLog;
use stockroom_platform::{Change, Platform};

pub use call::instant;
pub use config::{ServerConfig, ServerOptions};
pub use token::TokenKeys;

/// What the server serves: the platform (opened by the caller over a data directory) and
/// what only HTTP needs.
#[derive(Debug)]
pub struct Parts {
    /// Every action and decision; its feed tells the server's caches what changed.
    pub platform: Arc<Platform>,
    /// Keys download links are signed with.
    pub token_keys: TokenKeys,
    /// `None` keeps no access log (tests).
    pub access_log: Option<AccessLog>,
}

/// Everything a request handler reaches.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) platform: Arc<Platform>,
    /// One permit per upload body being read or admitted.
    pub(crate) uploads: tokio::sync::Semaphore,
    pub(crate) tokens: TokenKeys,
    pub(crate) policy_fields: ratelimit::PolicyFields,
    pub(crate) options: ServerOptions,
    pub(crate) previews: Arc<previews::Previews>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) access: Option<access::Logger>,
    /// The moderation console's signed-in sessions.
    pub(crate) console: console::Sessions,
    /// Cleared when shutdown begins: `/readyz` answers 503 so balancers drain us.
    pub(crate) ready: AtomicBool,
    /// The newest change the catalogue's feed held when this node last looked.
    pub(crate) feed_newest: std::sync::atomic::AtomicI64,
}

impl App {
    /// Whole seconds, from the platform's clock.
    pub(crate) fn now(&self) -> i64 {
        self.platform.clock().now()
    }

    /// Microseconds, from the platform's clock (the guard's time).
    pub(crate) fn now_micros(&self) -> u64 {
        self.platform.clock().now_micros()
    }
}

/// A configured server, ready to run.
#[derive(Debug)]
pub struct Server {
    app: Arc<App>,
}

impl Server {
    /// A server over `parts`; its preview cache hears the platform's changes from now on.
    pub fn new(parts: Parts, options: ServerOptions) -> std::io::Result<Server> {
        let previews = Arc::new(previews::Previews::new(options.preview_cache_entries));
        let evicting = previews.clone();
        parts.platform.feed().subscribe(Box::new(move |change| {
            if let Change::AssetRemoved(asset) | Change::AssetChanged(asset) = change {
                evicting.evict(*asset);
            }
        }));
        let feed_newest = std::sync::atomic::AtomicI64::new(parts.platform.applied_change());
        let app = App {
            feed_newest,
            previews,
            access: parts.access_log.map(access::Logger::spawn),
            console: console::Sessions::new(options.console_session),
            uploads: tokio::sync::Semaphore::new(options.concurrent_uploads.max(1)),
            tokens: parts.token_keys,
            policy_fields: ratelimit::PolicyFields::new(parts.platform.guard().config()),
            platform: parts.platform,
            metrics: metrics::Metrics::default(),
            ready: AtomicBool::new(true),
            options,
        };
        Ok(Server { app: Arc::new(app) })
    }

    /// Serves on `listener` until SIGINT or SIGTERM, then stops accepting, answers
    /// `/readyz` with 503, lets in-flight requests finish (up to the grace period) and
    /// returns.
    pub fn run(self, listener: TcpListener) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.app.options.worker_threads.max(1))
            .thread_name("http")
            .enable_all()
            .build()?;
        let app = self.app;
        let result = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let purging = tokio::spawn(purge_periodically(app.clone()));
            let syncing = tokio::spawn(sync_members_periodically(app.clone()));
            let saving = tokio::spawn(save_guard_periodically(app.clone()));
            let following = tokio::spawn(follow_changes(app.clone()));
            conn::serve(app.clone(), listener, shutdown_signal()).await;
            purging.abort();
            syncing.abort();
            saving.abort();
            following.abort();
            save_guard(app.clone()).await;
            if let Some(access) = &app.access {
                access.flush();
            }
            Ok(())
        });
        // Blocking tasks (renders, fsyncs) already started are waited for by the drop.
        drop(runtime);
        result
    }
}

/// Runs the purge job now and every `purge_interval`, off the async workers. A failed run
/// is logged and retried at the next tick.
async fn purge_periodically(app: Arc<App>) {
    let mut tick = tokio::time::interval(app.options.purge_interval.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let work = app.clone();
        let run = tokio::task::spawn_blocking(move || {
            work.platform.purge_due().map(|purged| purged.len())
        })
        .await;
        match run {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "purged withdrawn originals"),
            Ok(Err(error)) => tracing::error!(%error, "purge"),
            Err(error) => tracing::error!(%error, "purge"),
        }
        // The change feed's old changes (kept `[catalog] feed_retention_days`).
        let work = app.clone();
        match tokio::task::spawn_blocking(move || work.platform.prune_feed()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "pruned old changes from the feed"),
            Ok(Err(error)) => tracing::warn!(%error, "pruning the change feed"),
            Err(error) => tracing::warn!(%error, "pruning the change feed"),
        }
    }
}

/// How often the server asks the catalogue whether a member changed elsewhere (the CLI
/// blocking someone): a block takes effect within this.
const MEMBER_SYNC_INTERVAL: Duration = Duration::from_millis(500);

/// Forgets cached principals whenever a member changed in another process, twice a
/// second, off the async workers. A failed check is logged and tried at the next tick.
async fn sync_members_periodically(app: Arc<App>) {
    let mut tick = tokio::time::interval(MEMBER_SYNC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let work = app.clone();
        match tokio::task::spawn_blocking(move || work.platform.catalog().sync_member_changes())
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "checking for member changes"),
            Err(error) => tracing::warn!(%error, "checking for member changes"),
        }
        // The blocklist, changed by another process (`stockroom blocklist import`).
        let work = app.clone();
        match tokio::task::spawn_blocking(move || work.platform.sync_blocklist_if_changed()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "checking for blocklist changes"),
            Err(error) => tracing::warn!(%error, "checking for blocklist changes"),
        }
    }
}

/// How long one wait for the catalogue's next change lasts (on PostgreSQL a notification
/// ends it at once; SQLite is looked at every 100 ms).
const FEED_WAIT: Duration = Duration::from_secs(1);

/// Follows the catalogue's change feed for as long as the server runs, off the async
/// workers: an asset changed by another node or the CLI reaches this node's search and
/// duplicate replicas and its preview cache. A failed round is logged and tried again a
/// second later (the catalogue may be restarting); nothing is skipped, since the next
/// round reads on from the change applied last.
async fn follow_changes(app: Arc<App>) {
    loop {
        let work = app.clone();
        let round = tokio::task::spawn_blocking(move || {
            let platform = &work.platform;
            let newest = platform
                .catalog()
                .wait_for_change(platform.applied_change(), FEED_WAIT)?;
            work.feed_newest
                .store(newest, std::sync::atomic::Ordering::Relaxed);
            if newest > platform.applied_change() {
                let followed = platform.follow()?;
                if followed.rebuilt {
                    tracing::warn!(seq = followed.seq, "this node fell behind the feed's horizon (its changes were pruned): its replicas were made to agree with every asset in the catalogue");
                }
                for (asset, error) in followed.skipped {
                    tracing::warn!(%asset, error, "a change passed over: its asset's document or record does not read");
                }
            }
            Ok::<(), stockroom_platform::PlatformError>(())
        })
        .await;
        let failed = match round {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(error) = failed {
            tracing::warn!(%error, "following the catalogue's changes");
            tokio::time::sleep(FEED_WAIT).await;
        }
    }
}

/// Writes the guard's state every `snapshot_secs` (and drops idle subjects), so that a
/// restart, even an unclean one, loses at most that much of it.
async fn save_guard_periodically(app: Arc<App>) {
    let every = Duration::from_secs(app.platform.guard().config().snapshot_secs.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        save_guard(app.clone()).await;
    }
}

/// Writes the guard's state off the async workers; a failure is logged (the next save
/// tries again).
async fn save_guard(app: Arc<App>) {
    match tokio::task::spawn_blocking(move || app.platform.save_guard()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "saving the guard's state"),
        Err(error) => tracing::error!(%error, "saving the guard's state"),
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut terminate) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
