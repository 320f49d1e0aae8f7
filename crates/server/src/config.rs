//! The server's configuration, defined once: `[server]` in the config file
//! ([`ServerConfig`], its defaults and checks) and what the running server uses
//! ([`ServerOptions`], built from it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// `stockroom serve`'s limits (`[server]` in the config file); every limit has a default a
/// public deployment can keep.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Connections served at once; more are answered `503`.
    pub max_connections: usize,
    /// A request's head must arrive within this (slowloris).
    pub header_read_timeout_secs: u64,
    /// A connection that moves no byte either way for this long is closed, mid-request or
    /// between requests (a client that stops reading its download, an idle keep-alive).
    pub idle_timeout_secs: u64,
    /// How long a download link works.
    pub download_link_ttl_secs: u64,
    /// Days the access log is kept.
    pub log_retention_days: u32,
    /// How often withdrawn originals past their 28 days are purged (also once at start).
    pub purge_interval_secs: u64,
    /// Serve HTTPS with this PEM certificate chain (leaf first) and PEM private key; both
    /// or neither. A relative path is taken from the config file's directory.
    pub tls_certificates: Option<PathBuf>,
    /// The private key for `tls_certificates`.
    pub tls_key: Option<PathBuf>,
    /// The download-link signing keys (`<id> <64 hex digits>` per line, made with one
    /// fresh key if missing). Every node of a cluster must read the same keys, so that a
    /// link one node issued is honoured by all (a client resuming through the load
    /// balancer may reach another). Unset: `DATA/server/token-keys`.
    pub token_keys: Option<PathBuf>,
    /// An upload body gets this long, plus a second per `upload_min_bytes_per_sec` bytes
    /// it has sent, before it is cut off with `408` (a trickle holds an upload permit).
    pub upload_grace_secs: u64,
    /// The slowest an upload body may arrive, averaged, once the grace is used.
    pub upload_min_bytes_per_sec: u64,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (it tells about
    /// traffic and members flagged); unset, it is public, for a scraper on a private
    /// network.
    pub metrics_token: Option<String>,
    /// How long a moderation console session lasts after signing in.
    pub console_session_secs: u64,
    /// How long a CDN or browser may keep an anonymous `404` or `410` (a removed asset's
    /// card or preview), so that a run of requests for it stops at the edge; 0 keeps them
    /// uncached. Answers to a keyed request are never cached.
    pub missing_max_age_secs: u64,
    /// Web origins (`https://shop.example`) whose pages may call the API from a browser
    /// (CORS); `"*"` allows any. Empty: none.
    pub cors_origins: Vec<String>,
    /// The load balancers and proxies in front of the server (addresses or CIDR ranges):
    /// only from these is `Forwarded` or `X-Forwarded-For` believed. Empty: the peer is the
    /// client.
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_connections: 10_000,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            download_link_ttl_secs: 3600,
            log_retention_days: crate::access_log::DEFAULT_RETENTION_DAYS,
            purge_interval_secs: 3600,
            tls_certificates: None,
            tls_key: None,
            token_keys: None,
            upload_grace_secs: 10,
            upload_min_bytes_per_sec: 32 << 10,
            metrics_token: None,
            console_session_secs: 8 * 3600,
            missing_max_age_secs: 60,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// Checks that every limit is positive and the TLS files come as a pair.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0
            || self.idle_timeout_secs == 0
            || self.header_read_timeout_secs == 0
            || self.download_link_ttl_secs == 0
            || self.log_retention_days == 0
            || self.purge_interval_secs == 0
            || self.upload_grace_secs == 0
            || self.upload_min_bytes_per_sec == 0
            || self.console_session_secs == 0
        {
            return Err("server.max_connections, header_read_timeout_secs, idle_timeout_secs, download_link_ttl_secs, log_retention_days, purge_interval_secs, upload_grace_secs, upload_min_bytes_per_sec and console_session_secs must be positive".into());
        }
        if self
            .metrics_token
            .as_deref()
            .is_some_and(|token| token.trim().len() < 16)
        {
            return Err("server.metrics_token is shorter than 16 characters".into());
        }
        let is_origin = |origin: &str| {
            origin == "*"
                || origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"))
                    .is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#']))
        };
        if let Some(origin) = self.cors_origins.iter().find(|origin| !is_origin(origin)) {
            return Err(format!(
                "server.cors_origins: {origin:?} is not an origin (scheme://host[:port], no path) or \"*\""
            ));
        }
        for proxy in &self.trusted_proxies {
            proxy
                .parse::<crate::forwarded::Cidr>()
                .map_err(|why| format!("server.trusted_proxies: {why}"))?;
        }
        if self.tls_certificates.is_some() != self.tls_key.is_some() {
            return Err(
                "server.tls_certificates and server.tls_key go together: give both or neither"
                    .into(),
            );
        }
        Ok(())
    }
}

/// How the running server behaves: [`ServerConfig`]'s limits as durations, and what only
/// the process knows (threads, TLS set up, the upload limit).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Connections served at once; one more is answered `503` and closed.
    pub max_connections: usize,
    /// A request's head must arrive within this (slowloris).
    pub header_read_timeout: Duration,
    /// See [`ServerConfig::idle_timeout_secs`].
    pub idle_timeout: Duration,
    /// After a shutdown signal, in-flight requests (downloads) get this long to finish.
    pub shutdown_grace: Duration,
    /// Largest upload body, enforced while reading.
    pub max_upload_bytes: u64,
    /// Uploads (and duplicate checks) read and admitted at once, each body up to
    /// `max_upload_bytes`: what bounds the memory uploads take. More wait their turn.
    pub concurrent_uploads: usize,
    /// How long a download link works.
    pub download_link_ttl: Duration,
    /// Previews whose headers are kept ready in memory.
    pub preview_cache_entries: usize,
    /// Worker threads of the async runtime.
    pub worker_threads: usize,
    /// How often withdrawn originals whose 28 days are up are purged (also once at start).
    pub purge_interval: Duration,
    /// Serve HTTPS with this (see [`crate::tls::config`]); `None` serves plain HTTP (behind
    /// a terminating proxy or CDN).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// blake3 of the token `/metrics` asks for, if any (compared in constant time).
    pub metrics_token: Option<blake3::Hash>,
    /// See [`ServerConfig::upload_grace_secs`].
    pub body_grace: Duration,
    /// See [`ServerConfig::upload_min_bytes_per_sec`].
    pub body_min_bytes_per_sec: u64,
    /// See [`ServerConfig::console_session_secs`].
    pub console_session: Duration,
    /// See [`ServerConfig::missing_max_age_secs`].
    pub missing_max_age_secs: u64,
    /// See [`ServerConfig::cors_origins`].
    pub cors_origins: Vec<String>,
    /// See [`ServerConfig::trusted_proxies`] (ranges that do not parse are left out;
    /// [`ServerConfig::validate`] refuses them first).
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,
    /// What a downloaded original's file name starts with (`<name>-<asset>.jpg`): the
    /// site's name, made safe for a file name (see [`ServerOptions::download_name_of`]).
    pub download_name: String,
}

impl ServerOptions {
    /// A site name as downloads are named after it: lower case ASCII letters, digits,
    /// dots and hyphens, anything else a hyphen, runs of hyphens one, none at the ends;
    /// `download` if nothing is left.
    pub fn download_name_of(site_name: &str) -> String {
        let mut name = String::with_capacity(site_name.len());
        for c in site_name.trim().chars().flat_map(char::to_lowercase) {
            let c = if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            };
            if !(c == '-' && name.ends_with('-')) {
                name.push(c);
            }
        }
        let name = name.trim_matches(['-', '.']);
        if name.is_empty() {
            "download".to_string()
        } else {
            name.chars().take(60).collect()
        }
    }

    /// The options `config` gives, with the process's own defaults for the rest.
    pub fn from_config(config: &ServerConfig) -> ServerOptions {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServerOptions {
            max_connections: config.max_connections,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            shutdown_grace: Duration::from_secs(30),
            max_upload_bytes: stockroom_platform::DEFAULT_MAX_UPLOAD_BYTES,
            concurrent_uploads: cpus * 2,
            download_link_ttl: Duration::from_secs(config.download_link_ttl_secs),
            preview_cache_entries: 100_000,
            worker_threads: cpus,
            purge_interval: Duration::from_secs(config.purge_interval_secs),
            tls: None,
            body_grace: Duration::from_secs(config.upload_grace_secs),
            body_min_bytes_per_sec: config.upload_min_bytes_per_sec,
            console_session: Duration::from_secs(config.console_session_secs),
            missing_max_age_secs: config.missing_max_age_secs,
            cors_origins: config.cors_origins.clone(),
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .filter_map(|proxy| proxy.parse().ok())
                .collect(),
            download_name: "stockroom".to_string(),
            metrics_token: config
                .metrics_token
                .as_deref()
                .map(|token| blake3::hash(token.trim().as_bytes())),
        }
    }
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions::from_config(&ServerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_named_after_the_site_in_safe_characters() {
        for (site, name) in [
            ("Stock Example", "stock-example"),
            ("stock.example", "stock.example"),
            ("  Bilder & Fotos GmbH ", "bilder-fotos-gmbh"),
            ("Fotografía/../\"x\"", "fotograf-a-..-x"),
            ("///", "download"),
        ] {
            assert_eq!(ServerOptions::download_name_of(site), name, "{site}");
        }
    }

    #[test]
    fn the_options_default_to_the_configs_defaults() {
        let options = ServerOptions::default();
        let config = ServerConfig::default();
        assert_eq!(options.max_connections, config.max_connections);
        assert_eq!(
            options.download_link_ttl,
            Duration::from_secs(config.download_link_ttl_secs)
        );
        assert!(config.validate().is_ok());
        let zero = ServerConfig {
            idle_timeout_secs: 0,
            ..ServerConfig::default()
        };
        assert!(zero.validate().is_err());
    }
}
