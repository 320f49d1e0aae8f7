//! The catalogue on PostgreSQL: the cluster shape's (DESIGN §7). The same queries as on
//! SQLite ([`crate::db`]), its own schema and migrations, a small pool of reading
//! connections, and one writing connection per process running the group commit.
//!
//! Writes are decided as SQLite decides them, one at a time, where it matters: a batch's
//! transaction first takes advisory locks for what its writes must be alone with
//! ([`crate::writer::Lock`]): a shared hold on the catalogue and one lock per member or
//! network whose licences it records, or the catalogue exclusively for any other write. So
//! a licence's quota count and its insert see every licence of that member committed
//! before, from any node, and the hard quota holds exactly (READ COMMITTED reads each
//! statement's data after the locks are held), while different members' licences are
//! recorded in parallel by the [`WRITERS`] writers of every node. Every batch takes its
//! locks in one order (the catalogue's first, then members' and networks' sorted), so
//! batches never deadlock. Readers take none.

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::db::{Db, PgSession};
use crate::error::{CatalogError, Result};

/// The advisory lock every write batch holds ("stockroom" in ASCII, as a number).
const WRITE_LOCK: i64 = 0x73746f636b726f6f;
/// The advisory lock migrations hold, so that nodes starting together migrate once.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;
/// Writer connections (each with its own group commit) per process.
pub(crate) const WRITERS: usize = 8;
/// The first key of the two-key advisory locks of members and networks (a key space apart
/// from the one-key locks above).
const MEMBER_LOCKS: i32 = 0x5352;
/// Idle reading connections kept for the next read.
const MAX_IDLE: usize = 16;
/// How long to wait for the server before a call answers 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the catalogue's database is and how to reach it: in plain TCP, or over TLS with
/// the server's certificate checked against a CA.
#[derive(Clone)]
pub(crate) struct Target {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// A new connection.
    pub(crate) fn connect(&self) -> Result<postgres::Client> {
        Ok(match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(postgres::NoTls)?,
        })
    }
}

/// The catalogue's database from a `postgres://` URL (or libpq's `key=value` form).
///
/// TLS as libpq names it: `sslmode=require` (or `verify-ca`, `verify-full`) with
/// `sslrootcert=<CA file, PEM>` connects over TLS only and checks that the server's
/// certificate, for the host named, is signed by that CA (all three modes check the
/// name: a certificate that does not name the host is refused). `sslmode=prefer` and
/// `disable`, or none, connect in plain TCP. `require` without `sslrootcert` is refused
/// rather than connecting to a server nobody vouched for.
pub(crate) fn config(url: &str) -> Result<Target> {
    let bad =
        |why: String| CatalogError::BadInput(format!("catalogue URL {}: {why}", redacted(url)));
    let (rest, options) = take_tls_options(url);
    let mode = options.mode.as_deref().unwrap_or("prefer");
    let tls = match (mode, &options.root) {
        ("disable" | "prefer" | "allow", _) => None,
        ("require" | "verify-ca" | "verify-full", Some(root)) => {
            Some(tls_connector(root).map_err(&bad)?)
        }
        ("require" | "verify-ca" | "verify-full", None) => {
            return Err(bad(format!(
                "sslmode={mode} needs sslrootcert=<the CA's certificate, PEM>"
            )));
        }
        (other, _) => return Err(bad(format!("sslmode={other} is not one this build knows"))),
    };
    let mut config = postgres::Config::from_str(&rest).map_err(|error| bad(error.to_string()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("stockroom");
    if tls.is_some() {
        config.ssl_mode(postgres::config::SslMode::Require);
    }
    Ok(Target { config, tls })
}

#[derive(Debug, Default, PartialEq, Eq)]
struct TlsOptions {
    mode: Option<String>,
    root: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (or a `key=value` string), which
/// the client library reads differently or not at all; the rest as given.
fn take_tls_options(url: &str) -> (String, TlsOptions) {
    let mut options = TlsOptions::default();
    let mut take = |key: &str, value: &str| match key {
        "sslmode" => {
            options.mode = Some(value.to_string());
            true
        }
        "sslrootcert" => {
            options.root = Some(value.to_string());
            true
        }
        _ => false,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), options);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, value)
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, options)
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, value)
            })
            .collect();
        (kept.join(" "), options)
    }
}

/// A TLS connector that trusts the CA certificates in `root` (a PEM file) and nothing else.
fn tls_connector(
    root: &str,
) -> std::result::Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(root)
        .map_err(|error| format!("sslrootcert {root}: {error}"))?;
    for certificate in certificates {
        let certificate = certificate.map_err(|error| format!("sslrootcert {root}: {error}"))?;
        roots
            .add(certificate)
            .map_err(|error| format!("sslrootcert {root}: {error}"))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {root} holds no certificate"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A URL with its password left out, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

pub(crate) fn connect(target: &Target) -> Result<PgSession> {
    Ok(PgSession::new(target.connect()?))
}

/// Reading connections, made as needed and kept while idle.
#[derive(Debug)]
pub(crate) struct Pool {
    config: Target,
    idle: Mutex<Vec<PgSession>>,
}

impl Pool {
    pub(crate) fn new(config: Target) -> Pool {
        Pool {
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<PgSession>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection of its own (not pooled: the change feed's listener).
    pub(crate) fn connect_client(&self) -> Result<postgres::Client> {
        self.config.connect()
    }

    /// A connection for one read, returned to the pool when the read is done.
    pub(crate) fn lease(&self) -> Result<Lease<'_>> {
        let idle = std::iter::from_fn(|| self.idle().pop()).find(|session| !session.is_closed());
        let session = match idle {
            Some(session) => session,
            None => connect(&self.config)?,
        };
        Ok(Lease {
            pool: self,
            session: Some(Box::new(session)),
        })
    }
}

/// A pooled connection held for one read.
#[derive(Debug)]
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    /// `None` only while dropping.
    session: Option<Box<PgSession>>,
}

impl Lease<'_> {
    pub(crate) fn session(&self) -> &PgSession {
        self.session
            .as_ref()
            .expect("a lease holds its session until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take().filter(|session| !session.is_closed()) {
            let session = *session;
            let mut idle = self.pool.idle();
            if idle.len() < MAX_IDLE {
                idle.push(session);
            }
        }
    }
}

/// The writer thread's connection: made again when the server hung up (a restart), so
/// that the node recovers without restarting.
pub(crate) struct Writing {
    config: Target,
    session: Option<PgSession>,
}

impl Writing {
    pub(crate) fn new(config: Target, session: Option<PgSession>) -> Writing {
        Writing { config, session }
    }
}

/// The statements that start a batch holding `locks` (sorted, without repeats), in one
/// round trip.
fn begin(locks: &[crate::writer::Lock]) -> String {
    use crate::writer::Lock;
    if locks.contains(&Lock::All) {
        return format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK});");
    }
    let mut keys: Vec<i32> = locks
        .iter()
        .map(|lock| {
            let hash = blake3::hash(format!("{lock:?}").as_bytes());
            i32::from_le_bytes(hash.as_bytes()[..4].try_into().expect("4 bytes"))
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut sql = format!("BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK});");
    for key in keys {
        sql.push_str(&format!(
            " SELECT pg_advisory_xact_lock({MEMBER_LOCKS}, {key});"
        ));
    }
    sql
}

impl crate::writer::Session for Writing {
    fn ready(&mut self) -> Result<()> {
        if self.session.as_ref().is_none_or(PgSession::is_closed) {
            self.session = None;
            self.session = Some(connect(&self.config)?);
        }
        Ok(())
    }

    fn db(&self) -> Db<'_> {
        Db::Postgres(self.session.as_ref().expect("ready() made a session"))
    }

    fn begin(&self, locks: &[crate::writer::Lock]) -> Result<()> {
        self.db().batch(&begin(locks))
    }
}

/// Migration `n` (1-based) takes the database from version `n - 1` to `n`. Version 1 is
/// SQLite's version 8 (`crate::schema`), and each later one matches SQLite's next: the same
/// tables, columns and meanings, in PostgreSQL's types (`bigint` for SQLite's integers and truth values, `bytea` for blobs,
/// identity columns for SQLite's rowid keys, and for the seats' insertion order, which
/// SQLite reads from their rowid). Text compares byte-wise (`COLLATE "C"`), as
/// SQLite's does, so that lists keep one order and cursors one meaning on both engines.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE settings (
        name  TEXT COLLATE "C" PRIMARY KEY,
        value BYTEA NOT NULL
    );
    CREATE TABLE members (
        id           TEXT COLLATE "C" PRIMARY KEY,
        name         TEXT COLLATE "C" NOT NULL,
        roles        TEXT COLLATE "C" NOT NULL,
        tier         TEXT COLLATE "C" NOT NULL CHECK (tier IN ('registered', 'unlimited')),
        status       TEXT COLLATE "C" NOT NULL CHECK (status IN ('active', 'flagged', 'blocked')),
        flag_reasons TEXT COLLATE "C" NOT NULL DEFAULT '[]',
        created_at   BIGINT NOT NULL,
        ends_at      BIGINT,
        unpaid       BIGINT NOT NULL DEFAULT 0 CHECK (unpaid IN (0, 1))
    );
    CREATE TABLE seats (
        id         TEXT COLLATE "C" PRIMARY KEY,
        member_id  TEXT COLLATE "C" NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        is_owner   BIGINT NOT NULL,
        key_hash   BYTEA UNIQUE,
        created_at BIGINT NOT NULL,
        removed_at BIGINT,
        seq        BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX seats_member ON seats(member_id);
    CREATE TABLE assets (
        id               TEXT COLLATE "C" PRIMARY KEY,
        author_id        TEXT COLLATE "C" NOT NULL,
        author_name      TEXT COLLATE "C" NOT NULL,
        title            TEXT COLLATE "C" NOT NULL,
        collection       TEXT COLLATE "C" NOT NULL CHECK (collection IN ('free', 'unlimited')),
        editorial_only   BIGINT NOT NULL,
        model_release    BIGINT NOT NULL,
        property_release BIGINT NOT NULL,
        status           TEXT COLLATE "C" NOT NULL
            CHECK (status IN ('pending', 'active', 'withdrawn', 'inactive', 'removed',
                              'rejected')),
        created_at       BIGINT NOT NULL,
        withdrawn_at     BIGINT,
        purged_at        BIGINT,
        rejection        TEXT COLLATE "C"
    );
    CREATE INDEX assets_withdrawn ON assets(status, withdrawn_at);
    CREATE INDEX assets_pending ON assets(created_at, id) WHERE status = 'pending';
    CREATE INDEX assets_author ON assets(author_id, status);
    CREATE TABLE licences (
        id                   TEXT COLLATE "C" PRIMARY KEY,
        asset_id             TEXT COLLATE "C" NOT NULL,
        member_id            TEXT COLLATE "C" NOT NULL,
        seat_id              TEXT COLLATE "C" NOT NULL,
        tier                 TEXT COLLATE "C" NOT NULL,
        type                 TEXT COLLATE "C" NOT NULL CHECK (type IN ('standard', 'editorial')),
        print_run_limit      BIGINT NOT NULL,
        attribution_required BIGINT NOT NULL,
        attribution_text     TEXT COLLATE "C" NOT NULL,
        attribution_html     TEXT COLLATE "C" NOT NULL,
        verification_code    TEXT COLLATE "C" NOT NULL,
        created_at           BIGINT NOT NULL,
        client               TEXT COLLATE "C" NOT NULL DEFAULT '',
        UNIQUE (seat_id, asset_id, client)
    );
    CREATE INDEX licences_member ON licences(member_id);
    CREATE INDEX licences_asset ON licences(asset_id);
    CREATE TABLE downloads (
        seq        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        asset_id   TEXT COLLATE "C" NOT NULL,
        author_id  TEXT COLLATE "C" NOT NULL,
        licence_id TEXT COLLATE "C",
        member_id  TEXT COLLATE "C",
        network    TEXT COLLATE "C",
        counted    BIGINT NOT NULL,
        at         BIGINT NOT NULL
    );
    CREATE INDEX downloads_at ON downloads(at);
    CREATE INDEX downloads_member ON downloads(member_id);
    CREATE INDEX downloads_member_counted ON downloads(member_id, at) WHERE counted = 1;
    CREATE INDEX downloads_network_counted ON downloads(network, at) WHERE counted = 1;
    CREATE TABLE events (
        seq      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at       BIGINT NOT NULL,
        kind     TEXT COLLATE "C" NOT NULL,
        asset_id TEXT COLLATE "C" NOT NULL,
        detail   TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE member_changes (
        id  BIGINT PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL
    );
    INSERT INTO member_changes (id, seq) VALUES (1, 0);
    CREATE TABLE blocklist (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        blake3      TEXT COLLATE "C",
        pdq         TEXT COLLATE "C",
        source      TEXT COLLATE "C" NOT NULL,
        asset_id    TEXT COLLATE "C",
        reason      TEXT COLLATE "C" NOT NULL,
        added_by    TEXT COLLATE "C" NOT NULL,
        added_at    BIGINT NOT NULL,
        lifted_at   BIGINT,
        lifted_by   TEXT COLLATE "C",
        lift_reason TEXT COLLATE "C"
    );
    CREATE INDEX blocklist_blake3 ON blocklist(blake3) WHERE lifted_at IS NULL;
    CREATE TABLE audit (
        seq       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at        BIGINT NOT NULL,
        moderator TEXT COLLATE "C" NOT NULL,
        action    TEXT COLLATE "C" NOT NULL,
        target    TEXT COLLATE "C" NOT NULL,
        reason    TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX audit_moderator ON audit(moderator, seq);
    CREATE INDEX audit_target ON audit(target, seq);
"#,
    // 2 (SQLite's 9): the change feed. A statement that adds changes notifies the channel
    // `stockroom_changes` (delivered at commit), which following nodes LISTEN on. Every write
    // that adds a change holds the catalogue's exclusive lock, so changes commit in `seq`
    // order and a follower reading `seq > last` never skips one that commits late.
    r#"
    CREATE TABLE changes (
        seq      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        asset_id TEXT COLLATE "C" NOT NULL,
        what     TEXT COLLATE "C" NOT NULL,
        at       BIGINT NOT NULL
    );
    CREATE TABLE asset_documents (
        asset_id TEXT COLLATE "C" PRIMARY KEY,
        document BYTEA NOT NULL
    );
    CREATE FUNCTION stockroom_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('stockroom_changes', ''); RETURN NULL; END
    $$;
    CREATE TRIGGER changes_notify AFTER INSERT ON changes
        FOR EACH STATEMENT EXECUTE FUNCTION stockroom_changes_notify();
"#,
    // 3 (SQLite's 10): each asset's original's blake3, for exact duplicates across nodes.
    r#"
    ALTER TABLE assets ADD COLUMN blake3 TEXT COLLATE "C";
    CREATE INDEX assets_blake3 ON assets(blake3) WHERE blake3 IS NOT NULL;
"#,
    // 4 (SQLite's 11): the feed's horizon, the newest sequence number pruned.
    r#"
    CREATE TABLE feed_horizon (
        id             BIGINT PRIMARY KEY CHECK (id = 1),
        pruned_through BIGINT NOT NULL
    );
    INSERT INTO feed_horizon (id, pruned_through) VALUES (1, 0);
    CREATE INDEX changes_at ON changes(at);
    CREATE INDEX assets_lacking_blake3 ON assets(id) WHERE blake3 IS NULL;
"#,
];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`VERSION`] (one node at a time), refusing one a newer build
/// wrote; then reads the key-hashing secret, creating it on first use, so that every node
/// hashes keys alike.
pub(crate) fn migrate(session: &PgSession) -> Result<[u8; 32]> {
    session.batch(&format!(
        "SELECT pg_advisory_lock({MIGRATE_LOCK});
         CREATE TABLE IF NOT EXISTS stockroom_schema (version BIGINT NOT NULL);"
    ))?;
    let migrated = migrate_locked(session);
    let unlocked = session.batch(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"));
    let secret = migrated?;
    unlocked?;
    Ok(secret)
}

fn migrate_locked(session: &PgSession) -> Result<[u8; 32]> {
    let db = Db::Postgres(session);
    let found: Option<i64> =
        db.query_row("SELECT MAX(version) FROM stockroom_schema", &[], |row| {
            row.get(0)
        })?;
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(CatalogError::NewerSchema {
            found,
            known: VERSION,
        });
    }
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = done as i64 + 1;
        session.batch(&format!(
            "BEGIN; {migration};
             DELETE FROM stockroom_schema; INSERT INTO stockroom_schema VALUES ({version});
             COMMIT;"
        ))?;
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(CatalogError::Random)?;
    db.execute(
        "INSERT INTO settings (name, value) VALUES ('key-secret', ?1) ON CONFLICT (name) DO NOTHING",
        &[&secret.as_slice()],
    )?;
    let stored: Vec<u8> = db.query_row(
        "SELECT value FROM settings WHERE name = 'key-secret'",
        &[],
        |row| row.get(0),
    )?;
    stored
        .try_into()
        .map_err(|_| CatalogError::BadInput("the stored key secret is not 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::{TlsOptions, begin, config, redacted, take_tls_options};
    use crate::writer::Lock;

    #[test]
    fn a_batch_locks_everything_or_its_members_in_one_order() {
        assert_eq!(
            begin(&[Lock::Member("m1".into()), Lock::All]),
            format!(
                "BEGIN; SELECT pg_advisory_xact_lock({});",
                super::WRITE_LOCK
            )
        );
        let one = begin(&[Lock::Member("m1".into()), Lock::Network("n".into())]);
        let other = begin(&[Lock::Network("n".into()), Lock::Member("m1".into())]);
        assert_eq!(one, other);
        assert!(one.contains("pg_advisory_xact_lock_shared"), "{one}");
        assert_eq!(
            one.matches("pg_advisory_xact_lock(21330,").count(),
            2,
            "{one}"
        );
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgres://stock:hunter2@db:5432/stock"),
            "postgres://stock:***@db:5432/stock"
        );
        assert_eq!(redacted("postgres://db/stock"), "postgres://db/stock");
    }

    #[test]
    fn tls_options_are_taken_out_of_either_form_and_the_rest_kept() {
        let tls = |mode: &str, root: &str| TlsOptions {
            mode: Some(mode.into()),
            root: Some(root.into()),
        };
        assert_eq!(
            take_tls_options(
                "postgres://db/stock?sslmode=require&connect_timeout=3&sslrootcert=/ca.pem"
            ),
            (
                "postgres://db/stock?connect_timeout=3".to_string(),
                tls("require", "/ca.pem")
            )
        );
        assert_eq!(
            take_tls_options("postgresql://db/stock?sslrootcert=/ca.pem&sslmode=verify-full"),
            (
                "postgresql://db/stock".to_string(),
                tls("verify-full", "/ca.pem")
            )
        );
        assert_eq!(
            take_tls_options("host=db dbname=stock sslmode=require sslrootcert=/ca.pem"),
            (
                "host=db dbname=stock".to_string(),
                tls("require", "/ca.pem")
            )
        );
        assert_eq!(
            take_tls_options("postgres://db/stock"),
            ("postgres://db/stock".to_string(), TlsOptions::default())
        );
        assert!(config("postgres://db/stock?sslmode=require").is_err());
        assert!(config("postgres://db/stock?sslmode=sometimes&sslrootcert=/x").is_err());
        assert!(config("postgres://db/stock?sslmode=disable").is_ok());
    }
}
