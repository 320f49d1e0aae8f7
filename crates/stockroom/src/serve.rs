//! `stockroom serve`: opens the data directory's parts and hands them to the server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use stockroom_catalog::{AccessLog, Catalog, SystemClock};
use stockroom_guard::Guard;
use stockroom_server::{Parts, Server, ServerOptions, TokenKeys};

use crate::config::Config;
use crate::ingest::Admission;
use crate::search;

/// Where the server listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Binds the listening socket, naming the way out when the port is taken.
pub fn bind(listen: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(listen).with_context(|| {
        format!("listening on {listen} (pass --listen 127.0.0.1:0 for any free port)")
    })
}

/// Opens everything and serves on `listener` until SIGINT or SIGTERM. Prints one JSON line
/// with the address it listens on (useful with port 0) before serving.
pub fn run_on(config: &Config, listener: TcpListener) -> Result<()> {
    let server = open(config)?;
    let address = listener.local_addr()?;
    let scheme = if config.server.tls_certificates.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "{}",
        serde_json::json!({ "listening": address.to_string(), "scheme": scheme })
    );
    eprintln!(
        "stockroom serve: {scheme}://{address}/ (Ctrl-C stops, finishing downloads in flight)"
    );
    server.run(listener).context("serving")
}

/// The server over the data directory's stores, catalogue and index.
fn open(config: &Config) -> Result<Server> {
    let clock = Arc::new(SystemClock);
    let catalog = Catalog::open(&config.catalog_dir(), config.catalog_options())
        .with_context(|| format!("opening {}", config.catalog_dir().display()))?;
    let token_file = config.data_dir.join("server").join("token-keys");
    let token_keys = TokenKeys::load_or_create(&token_file)
        .with_context(|| format!("reading the download-link keys {}", token_file.display()))?;
    let logs = config.data_dir.join("logs");
    let access_log = AccessLog::open(&logs, config.server.log_retention_days, clock.clone())
        .with_context(|| format!("opening the access log in {}", logs.display()))?;
    let blobs = Arc::new(config.open_blobs()?);
    let catalog = Arc::new(catalog);
    let index = Arc::new(search::open_index(
        config,
        stockroom_index::Options::default(),
    )?);
    let intake = Admission::open(config, blobs.clone(), catalog.clone(), index.clone())?;
    let parts = Parts {
        blobs,
        archive: config.open_store(&config.archive_dir())?,
        catalog,
        index,
        intake: Arc::new(intake),
        token_keys,
        access_log: Some(access_log),
        clock,
        guard: Arc::new(open_guard(config)?),
        guard_state: Some(config.guard_state()),
    };
    let options = ServerOptions {
        max_connections: config.server.max_connections,
        header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(config.server.idle_timeout_secs),
        download_link_ttl: Duration::from_secs(config.server.download_link_ttl_secs),
        max_upload_bytes: config.max_upload_bytes,
        purge_interval: Duration::from_secs(config.server.purge_interval_secs),
        tls: match (&config.server.tls_certificates, &config.server.tls_key) {
            (Some(certificates), Some(key)) => {
                Some(stockroom_server::tls::config(certificates, key).context("setting up TLS")?)
            }
            _ => None,
        },
        ..ServerOptions::default()
    };
    Server::new(parts, options).context("starting the server")
}

/// The guard with the state the last run left (a restart is no amnesty). A snapshot that
/// cannot be read is moved aside, named in the log, and the guard starts empty.
fn open_guard(config: &Config) -> Result<Guard> {
    let path = config.guard_state();
    let dir = path.parent().context("the guard's state has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let snapshot = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Guard::new(config.guard.clone()));
        }
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    match Guard::restore(config.guard.clone(), &snapshot) {
        Ok(guard) => Ok(guard),
        Err(error) => {
            let aside = path.with_extension("unreadable");
            std::fs::rename(&path, &aside)
                .with_context(|| format!("moving {} aside", path.display()))?;
            eprintln!(
                "stockroom serve: {error}; moved to {} and starting with no fair-use state",
                aside.display()
            );
            Ok(Guard::new(config.guard.clone()))
        }
    }
}
