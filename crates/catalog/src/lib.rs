//! The catalogue: members (roles, tiers, seats, API keys), assets' terms and lifecycle,
//! licences and the download ledger, author statistics, and what privacy asks of them
//! (export, erasure). The platform's terms are pure functions in [`terms`]; this crate
//! applies them inside the transaction that records their outcome.
//!
//! [`Catalog`] is the interface, which names no engine's type; [`SqlCatalog`] keeps it in
//! SQLite in WAL mode (the embedded shape, [`SqlCatalog::open`]) or in PostgreSQL (the
//! cluster shape, [`SqlCatalog::connect`]), with the same queries ([`db`]). Every write
//! goes through one writer thread that commits waiting writes together (group commit): a
//! call returns only once its write is durable.
//!
//! ```no_run
//! # fn main() -> stockroom_catalog::Result<()> {
//! use stockroom_catalog::{Catalog, NewMember, Options, SqlCatalog};
//! use stockroom_vocab::{Role, Tier};
//! let sqlite = SqlCatalog::open(std::path::Path::new("data/catalog"), Options::default())?;
//! let catalog: &dyn Catalog = &sqlite; // what the platform holds
//! let created = catalog.add_member(&NewMember {
//!     name: "Ada".into(),
//!     roles: vec![Role::Customer],
//!     tier: Tier::Unlimited,
//!     seats: 3,
//! })?;
//! let principal = catalog.authenticate(&created.keys[0])?;
//! assert!(principal.owner);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod assets;
mod backend;
mod changes;
mod copy;
mod db;
mod error;
mod licences;
mod members;
mod membership;
mod moderation;
mod network;
mod pg;
mod privacy;
mod schema;
mod sql;
mod stats;
pub mod terms;
mod writer;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use stockroom_vocab::{Clock, SystemClock};

pub use assets::{AssetRecord, NewAsset, PurgeEvent, Withdrawal};
pub use backend::Catalog;
pub use changes::{AssetChange, ChangeKind, PRUNE_BATCH};
pub use copy::TableCopy;
pub use error::{CatalogError, ErrorClass, Result};
pub use licences::{Caller, Grant, Holder, Licence, LicenceCheck, Licensing, MAX_CLIENT_CHARS};
pub use members::{Created, Member, NewMember, Principal, Seat};
pub use membership::{MembershipChange, MembershipChanged, SeatKey, effective_tier};
pub use moderation::{AuditEntry, AuditFilter, BlockEntry, BlockHashes, MAX_IMPORT, valid_pdq};
pub use network::{Network, anonymise};
pub use pg::redacted;
pub use privacy::{Erasure, Export, ExportedDownload};
pub use stats::MonthStats;
pub use terms::{Attribution, Quota, Quotas, Site, Usage, licence_text};

/// How a catalogue is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// The one clock (records' times, quotas' windows, the purge's 28 days).
    pub clock: Arc<dyn Clock>,
    /// The platform's name and address, for attributions.
    pub site: Site,
    /// Principals kept in memory by key, for the request path.
    pub key_cache_entries: usize,
    /// Download quotas by tier, applied inside the licence transaction.
    pub quotas: Quotas,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            clock: Arc::new(SystemClock),
            site: Site {
                name: "stockroom.example".into(),
                url: "https://stockroom.example".into(),
            },
            key_cache_entries: 100_000,
            quotas: Quotas::default(),
        }
    }
}

/// The catalogue database: SQLite in a data dir, or PostgreSQL at a URL.
pub struct SqlCatalog {
    writer: writer::Writers,
    /// The member-change counter as [`SqlCatalog::sync_member_changes`] last read it.
    member_changes_seen: std::sync::atomic::AtomicI64,
    /// PostgreSQL: the connection that listens for the change feed's notifications.
    listener: Mutex<Option<postgres::Client>>,
    readers: Readers,
    keys: members::KeyCache,
    /// Keys API keys are hashed with, and erased members pseudonymised with.
    secret: [u8; 32],
    clock: Arc<dyn Clock>,
    site: Site,
    quotas: Quotas,
}

/// Where reads go.
enum Readers {
    /// One read-only connection, and the database file (for the checkpoint after an
    /// erasure).
    Sqlite {
        connection: Mutex<Connection>,
        path: std::path::PathBuf,
    },
    /// A pool.
    Postgres(pg::Pool),
}

impl fmt::Debug for SqlCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = match self.readers {
            Readers::Sqlite { .. } => "sqlite",
            Readers::Postgres(_) => "postgres",
        };
        f.debug_struct("SqlCatalog")
            .field("engine", &engine)
            .field("site", &self.site)
            .finish()
    }
}

/// The database file in the catalogue's directory.
const DATABASE: &str = "catalog.sqlite3";
/// The key-hashing secret beside it (readable by the owner only).
const SECRET: &str = "key-secret";

/// The SQLite writer's connection.
struct SqliteWriting(Connection);

impl writer::Session for SqliteWriting {
    fn ready(&mut self) -> Result<()> {
        Ok(())
    }

    fn db(&self) -> db::Db<'_> {
        db::Db::Sqlite(&self.0)
    }

    /// One writing transaction at a time: SQLite's own lock is everyone's.
    fn begin(&self, _: &[writer::Lock]) -> Result<()> {
        self.0.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }
}

impl SqlCatalog {
    /// Opens (creating) the catalogue in SQLite in `dir`, migrating its schema to this
    /// build's.
    pub fn open(dir: &Path, options: Options) -> Result<SqlCatalog> {
        std::fs::create_dir_all(dir).map_err(|source| CatalogError::Io {
            what: "creating",
            path: dir.display().to_string(),
            source,
        })?;
        let secret = members::load_or_create_secret(&dir.join(SECRET))?;
        let path = dir.join(DATABASE);
        let mut write = Connection::open(&path)?;
        configure_writer(&write)?;
        schema::migrate(&mut write)?;
        let read = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        read.busy_timeout(BUSY_TIMEOUT)?;
        let readers = Readers::Sqlite {
            connection: Mutex::new(read),
            path,
        };
        Self::with(
            writer::Writers::new(vec![writer::Writer::spawn(SqliteWriting(write))]),
            readers,
            secret,
            options,
        )
    }

    /// Connects to the catalogue in PostgreSQL at `url` (`postgres://user:password@host/db`,
    /// libpq's keywords also taken), migrating its schema to this build's. The database
    /// must exist; its tables are made on first use. Every node of a cluster connects to
    /// the same one.
    pub fn connect(url: &str, options: Options) -> Result<SqlCatalog> {
        let config = pg::config(url)?;
        let session = pg::connect(&config)?;
        let secret = pg::migrate(&session)?;
        let readers = Readers::Postgres(pg::Pool::new(config.clone()));
        let mut lanes = vec![writer::Writer::spawn(pg::Writing::new(
            config.clone(),
            Some(session),
        ))];
        // The others connect on their first batch.
        lanes.extend(
            (1..pg::WRITERS).map(|_| writer::Writer::spawn(pg::Writing::new(config.clone(), None))),
        );
        Self::with(writer::Writers::new(lanes), readers, secret, options)
    }

    fn with(
        writer: writer::Writers,
        readers: Readers,
        secret: [u8; 32],
        options: Options,
    ) -> Result<SqlCatalog> {
        let catalog = SqlCatalog {
            member_changes_seen: std::sync::atomic::AtomicI64::new(0),
            listener: Mutex::new(None),
            writer,
            readers,
            keys: members::KeyCache::new(options.key_cache_entries),
            secret,
            clock: options.clock,
            site: options.site,
            quotas: options.quotas,
        };
        let member_changes: i64 = catalog.read()?.query_row(
            "SELECT seq FROM member_changes WHERE id = 1",
            db::params![],
            |row| row.get(0),
        )?;
        catalog
            .member_changes_seen
            .store(member_changes, std::sync::atomic::Ordering::Relaxed);
        Ok(catalog)
    }

    /// A connection for reading (on PostgreSQL, from the pool: the server may be down).
    fn read(&self) -> Result<db::Db<'_>> {
        Ok(match &self.readers {
            Readers::Sqlite { connection, .. } => db::Db::SqliteRead(
                connection
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ),
            Readers::Postgres(pool) => db::Db::PostgresRead(pool.lease()?),
        })
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Runs `op` inside a durable write, alone with every other write (on PostgreSQL, of
    /// every node).
    fn write<R: Send + 'static>(
        &self,
        op: impl FnOnce(&db::Db<'_>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.writer.write(writer::Lock::All, op)
    }
}

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// WAL with a full fsync at each commit: a commit that returned survives power loss.
/// `secure_delete`: what a write removes or replaces (an erased member's name) is
/// overwritten with zeros in the database file, not left in free space.
fn configure_writer(connection: &Connection) -> Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "secure_delete", "ON")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// `prefix` and 16 random hex digits: member, seat and licence ids.
/// Where the next page of a list starts: after the item at time `at` (Unix seconds) with
/// `id`. Lists page by time, then id; as text (`<at>.<id>`) it is the HTTP API's opaque
/// `cursor`. A position, not a snapshot: items added later at earlier positions are not
/// shown, none is shown twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    /// The last item's time.
    pub at: i64,
    /// The last item's id.
    pub id: String,
}

impl After {
    /// As a cursor.
    pub fn cursor(&self) -> String {
        format!("{}.{}", self.at, self.id)
    }

    /// A cursor read back; `None` if it is not one.
    pub fn parse(cursor: &str) -> Option<After> {
        let (at, id) = cursor.split_once('.')?;
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid_id.then_some(())?;
        Some(After {
            at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

fn random_id(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(CatalogError::Random)?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}
