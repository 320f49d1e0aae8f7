//! `stockroom serve`: opens the platform over the data directory and hands it to the
//! server with what only HTTP needs (download-link keys, the access log, limits).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::{Context, Result};
use stockroom_server::access_log::AccessLog;
use stockroom_server::{Parts, Server, ServerOptions, TokenKeys};
use stockroom_vocab::{Clock, SystemClock};

use crate::config::Config;
use crate::open::{self, Purpose};

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
    let (server, platform) = open(config)?;
    // `stats`, `verify` and `dedup` ask through it while the server holds the data
    // directory. Serving goes on without it (a data directory path too long for a socket).
    let _control = match crate::control::listen(config, &platform) {
        Ok(socket) => Some(socket),
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "no control socket: stats, verify and dedup cannot ask this server"
            );
            None
        }
    };
    drop(platform);
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
    tracing::info!("serving {scheme}://{address}/ (Ctrl-C stops, finishing downloads in flight)");
    server.run(listener).context("serving")
}

/// The server over the data directory's platform, and the platform.
fn open(config: &Config) -> Result<(Server, Arc<stockroom_platform::Platform>)> {
    let token_file = config
        .server
        .token_keys
        .clone()
        .unwrap_or_else(|| config.data_dir.join("server").join("token-keys"));
    let token_keys = TokenKeys::load_or_create(&token_file)
        .with_context(|| format!("reading the download-link keys {}", token_file.display()))?;
    let logs = config.data_dir.join("logs");
    // One clock for the platform (and so the guard and the links) and the access log.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let access_log = AccessLog::open(&logs, config.server.log_retention_days, clock.clone())
        .with_context(|| format!("opening the access log in {}", logs.display()))?;
    let platform = open::platform_on(config, Purpose::Serve, clock)?;
    let orphans = platform.orphans();
    if !orphans.is_empty() {
        tracing::warn!(
            count = orphans.len(),
            first = %orphans[0],
            "originals with no catalogue row, left by a crash mid-upload, are set aside (stockroom stats lists them)"
        );
    }
    let platform = Arc::new(platform);
    let parts = Parts {
        platform: platform.clone(),
        token_keys,
        access_log: Some(access_log),
    };
    let options = ServerOptions {
        max_upload_bytes: config.max_upload_bytes,
        tls: match (&config.server.tls_certificates, &config.server.tls_key) {
            (Some(certificates), Some(key)) => {
                Some(stockroom_server::tls::config(certificates, key).context("setting up TLS")?)
            }
            _ => None,
        },
        download_name: ServerOptions::download_name_of(&config.site_name),
        ..ServerOptions::from_config(&config.server)
    };
    let server = Server::new(parts, options).context("starting the server")?;
    Ok((server, platform))
}
