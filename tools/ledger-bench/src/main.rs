//! `stockroom-ledger-bench [--runs N] [--licences N] [--threads 1,16,64] [--dir DIR]
//!  [--postgres URL]`
//!
//! Licences recorded per second, durable before each call returns (SQLite WAL,
//! `synchronous=FULL`; PostgreSQL with `fsync` and `synchronous_commit` on), with T threads
//! each licensing assets it has not licensed before:
//!
//! - **stockroom**: `Catalog::license`, which reads the asset and the seat's member, applies
//!   the terms and writes the licence and the download, through the catalogue's one writer
//!   thread that commits all waiting licences in one transaction (group commit);
//! - **peer**: what one would write without it, the same reads and writes per licence in
//!   its own transaction on a connection per thread (one commit, so one fsync, per
//!   licence): on SQLite `BEGIN IMMEDIATE … COMMIT`, writers queueing on its lock; on
//!   PostgreSQL `BEGIN … COMMIT` locking the member's row (`FOR UPDATE`, what keeps a quota
//!   exact), so different members' licences run in parallel.
//!
//! Each member takes at most [`PER_MEMBER`] licences (a busy member's day), so the quota
//! count inside each licence reads what it would in production.
//!
//! With `--postgres URL` (a server's maintenance database, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; each run makes and drops its own
//! database) both run on PostgreSQL too, in the same run. Prints one line per engine and
//! thread count with the median of N runs and the ratio. Run it on the disk the data will
//! live on: fsync cost is the disk's (`--dir`, and the PostgreSQL server's data directory).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use stockroom_catalog::{
    Caller, Grant, NewAsset, NewMember, Options, Principal, Quota, Quotas, SqlCatalog,
};
use stockroom_vocab::{AssetId, Collection, Role, Tier};

/// Licences per member: a thread's licences go to its members in turn.
const PER_MEMBER: usize = 50;

/// The member (numbered within its thread) that takes a thread's `step`th licence.
fn member_of(step: usize) -> usize {
    step / PER_MEMBER
}

struct Args {
    runs: usize,
    licences: usize,
    threads: Vec<usize>,
    dir: Option<PathBuf>,
    postgres: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        runs: 3,
        licences: 4_000,
        threads: vec![1, 16, 64],
        dir: None,
        postgres: None,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        let mut value = || raw.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => args.runs = value()?.parse()?,
            "--licences" => args.licences = value()?.parse()?,
            "--threads" => {
                args.threads = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--dir" => args.dir = Some(value()?.into()),
            "--postgres" => args.postgres = Some(value()?),
            other => bail!("unknown argument {other}"),
        }
    }
    if args.runs == 0 || args.threads.contains(&0) {
        bail!("--runs and every thread count must be at least 1");
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    println!(
        "licences/s, durable on return, {} new licences per run, median of {} runs:",
        args.licences, args.runs
    );
    for &threads in &args.threads {
        let (mut ours, mut peer) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            let dir = match &args.dir {
                Some(dir) => tempfile::tempdir_in(dir)?,
                None => tempfile::tempdir()?,
            };
            let catalog = SqlCatalog::open(&dir.path().join("catalog"), options())?;
            ours.push(stockroom_rate(catalog, threads, args.licences)?);
            peer.push(peer_rate(dir.path(), threads, args.licences)?);
        }
        report("SQLite    ", threads, median(ours), median(peer));
    }
    if let Some(admin) = &args.postgres {
        for &threads in &args.threads {
            let (mut ours, mut peer) = (Vec::new(), Vec::new());
            for run in 0..args.runs {
                let database = Database::create(admin, &format!("ledger_bench_{run}"))?;
                let catalog = SqlCatalog::connect(&database.url, options())?;
                ours.push(stockroom_rate(catalog, threads, args.licences)?);
                drop(database);
                let database = Database::create(admin, &format!("ledger_bench_peer_{run}"))?;
                peer.push(postgres_peer_rate(&database.url, threads, args.licences)?);
            }
            report("PostgreSQL", threads, median(ours), median(peer));
        }
    }
    Ok(())
}

/// The catalogue's options for the benchmark: quotas so high that no run reaches them, but
/// still counted inside each licence's transaction, as in production.
fn options() -> Options {
    let high = Quota {
        soft_daily: 1_000_000,
        hard_daily: 1_000_000,
        monthly_review: 10_000_000,
    };
    Options {
        quotas: Quotas {
            anonymous: high,
            registered: high,
            unlimited: high,
        },
        ..Options::default()
    }
}

fn report(engine: &str, threads: usize, ours: f64, peer: f64) {
    println!(
        "{engine} {threads:3} threads | stockroom {ours:8.0} licences/s | one transaction per licence {peer:7.0} licences/s | {:5.1}x",
        ours / peer
    );
}

/// A database made for one run on the server at `admin` (its maintenance database's URL),
/// dropped afterwards.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str, name: &str) -> Result<Database> {
        let mut client = postgres::Client::connect(admin, postgres::NoTls)
            .with_context(|| format!("connecting to {admin}"))?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let (base, _) = admin
            .rsplit_once('/')
            .context("the --postgres URL ends with a database name")?;
        Ok(Database {
            admin: admin.to_string(),
            name: name.to_string(),
            url: format!("{base}/{name}"),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each thread licenses its own `per_thread` assets: every call records a new licence.
fn stockroom_rate(catalog: SqlCatalog, threads: usize, licences: usize) -> Result<f64> {
    let author = add(&catalog, "Author", Role::Author)?;
    let per_thread = licences.div_ceil(threads);
    for number in 0..per_thread * threads {
        catalog.add_asset(&NewAsset {
            id: AssetId::from_u64(number as u64 + 1),
            author_id: author.member_id.clone(),
            author_name: "Author".into(),
            title: format!("asset {number}"),
            collection: Collection::Free,
            editorial_only: false,
            model_release: false,
            property_release: false,
            pending: false,
            document: Vec::new(),
            blake3: None,
        })?;
    }
    let members = per_thread.div_ceil(PER_MEMBER);
    let buyers: Vec<Vec<Principal>> = (0..threads)
        .map(|thread| {
            (0..members)
                .map(|number| {
                    add(
                        &catalog,
                        &format!("buyer {thread}.{number}"),
                        Role::Customer,
                    )
                })
                .collect::<Result<_>>()
        })
        .collect::<Result<_>>()?;
    let catalog = Arc::new(catalog);
    let elapsed = timed(threads, |thread| {
        for step in 0..per_thread {
            let asset = AssetId::from_u64((thread * per_thread + step) as u64 + 1);
            match catalog.license(Caller::Member(&buyers[thread][member_of(step)]), asset)? {
                Grant::New(_) => {}
                other => bail!("expected a new licence, got {other:?}"),
            }
        }
        Ok(())
    })?;
    Ok((per_thread * threads) as f64 / elapsed.as_secs_f64())
}

fn add(catalog: &SqlCatalog, name: &str, role: Role) -> Result<Principal> {
    let created = catalog.add_member(&NewMember {
        name: name.into(),
        roles: vec![role],
        tier: Tier::Registered,
        seats: 1,
    })?;
    Ok(catalog.authenticate(&created.keys[0])?)
}

/// Runs `work(thread)` on `threads` threads at once; the wall time of the slowest.
fn timed(threads: usize, work: impl Fn(usize) -> Result<()> + Sync) -> Result<Duration> {
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let work = &work;
                scope.spawn(move || work(thread))
            })
            .collect();
        handles.into_iter().try_for_each(|handle| {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a thread panicked"))?
        })
    })?;
    Ok(started.elapsed())
}

const PEER_SCHEMA: &str = "
    CREATE TABLE assets (id TEXT PRIMARY KEY, status TEXT NOT NULL, author_id TEXT NOT NULL);
    CREATE TABLE members (id TEXT PRIMARY KEY, status TEXT NOT NULL, tier TEXT NOT NULL);
    CREATE TABLE licences (id TEXT PRIMARY KEY, asset_id TEXT NOT NULL, member_id TEXT NOT NULL,
        print_run_limit INTEGER NOT NULL, created_at INTEGER NOT NULL,
        UNIQUE (member_id, asset_id));
    CREATE TABLE downloads (seq INTEGER PRIMARY KEY, asset_id TEXT NOT NULL,
        author_id TEXT NOT NULL, licence_id TEXT, member_id TEXT, at INTEGER NOT NULL);
    CREATE INDEX downloads_member ON downloads(member_id, at);
";

fn peer_connection(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(60))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

/// The same reads and writes per licence, each licence its own transaction.
fn peer_rate(dir: &Path, threads: usize, licences: usize) -> Result<f64> {
    let path = dir.join("peer.sqlite3");
    let per_thread = licences.div_ceil(threads);
    {
        let mut setup = peer_connection(&path)?;
        let transaction = setup.transaction()?;
        transaction.execute_batch(PEER_SCHEMA)?;
        for number in 0..per_thread * threads {
            transaction.execute(
                "INSERT INTO assets VALUES (?1, 'active', 'author')",
                [number.to_string()],
            )?;
        }
        for thread in 0..threads {
            for number in 0..per_thread.div_ceil(PER_MEMBER) {
                transaction.execute(
                    "INSERT INTO members VALUES (?1, 'active', 'registered')",
                    [format!("{thread}.{number}")],
                )?;
            }
        }
        transaction.commit()?;
    }
    let elapsed = timed(threads, |thread| {
        let mut connection = peer_connection(&path)?;
        for step in 0..per_thread {
            let member = format!("{thread}.{}", member_of(step));
            let asset = (thread * per_thread + step).to_string();
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let author: String = transaction.query_row(
                "SELECT author_id FROM assets WHERE id = ?1 AND status = 'active'",
                [&asset],
                |row| row.get(0),
            )?;
            let _tier: String = transaction.query_row(
                "SELECT tier FROM members WHERE id = ?1 AND status != 'blocked'",
                [&member],
                |row| row.get(0),
            )?;
            let _day: i64 = transaction.query_row(
                "SELECT COUNT(*) FROM downloads WHERE member_id = ?1 AND at > ?2",
                params![member, -1],
                |row| row.get(0),
            )?;
            let existing: Option<String> = transaction
                .query_row(
                    "SELECT id FROM licences WHERE member_id = ?1 AND asset_id = ?2",
                    params![member, asset],
                    |row| row.get(0),
                )
                .optional()?;
            if existing.is_some() {
                bail!("the peer re-licensed {asset}");
            }
            let licence = format!("{thread}-{step}");
            transaction.execute(
                "INSERT INTO licences VALUES (?1, ?2, ?3, 2000, 0)",
                params![licence, asset, member],
            )?;
            transaction.execute(
                "INSERT INTO downloads (asset_id, author_id, licence_id, member_id, at)
                 VALUES (?1, ?2, ?3, ?4, 0)",
                params![asset, author, licence, member],
            )?;
            transaction.commit()?;
        }
        Ok(())
    })?;
    Ok((per_thread * threads) as f64 / elapsed.as_secs_f64())
}

const POSTGRES_PEER_SCHEMA: &str = "
    CREATE TABLE assets (id TEXT PRIMARY KEY, status TEXT NOT NULL, author_id TEXT NOT NULL);
    CREATE TABLE members (id TEXT PRIMARY KEY, status TEXT NOT NULL, tier TEXT NOT NULL);
    CREATE TABLE licences (id TEXT PRIMARY KEY, asset_id TEXT NOT NULL, member_id TEXT NOT NULL,
        print_run_limit BIGINT NOT NULL, created_at BIGINT NOT NULL,
        UNIQUE (member_id, asset_id));
    CREATE TABLE downloads (seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        asset_id TEXT NOT NULL, author_id TEXT NOT NULL, licence_id TEXT, member_id TEXT,
        at BIGINT NOT NULL);
    CREATE INDEX downloads_member ON downloads(member_id, at);
";

/// The same reads and writes per licence on PostgreSQL, each licence its own transaction,
/// the member's row locked as a quota needs.
fn postgres_peer_rate(url: &str, threads: usize, licences: usize) -> Result<f64> {
    let per_thread = licences.div_ceil(threads);
    {
        let mut setup = postgres::Client::connect(url, postgres::NoTls)?;
        let mut transaction = setup.transaction()?;
        transaction.batch_execute(POSTGRES_PEER_SCHEMA)?;
        transaction.execute(
            "INSERT INTO assets SELECT n::text, 'active', 'author' FROM generate_series(0, $1) n",
            &[&((per_thread * threads) as i32)],
        )?;
        transaction.execute(
            "INSERT INTO members SELECT t || '.' || m, 'active', 'registered'
             FROM generate_series(0, $1) t, generate_series(0, $2) m",
            &[&(threads as i32), &(per_thread.div_ceil(PER_MEMBER) as i32)],
        )?;
        transaction.commit()?;
    }
    let elapsed = timed(threads, |thread| {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        for step in 0..per_thread {
            let member = format!("{thread}.{}", member_of(step));
            let asset = (thread * per_thread + step).to_string();
            let mut transaction = client.transaction()?;
            let author: String = transaction
                .query_one(
                    "SELECT author_id FROM assets WHERE id = $1 AND status = 'active'",
                    &[&asset],
                )?
                .get(0);
            let _tier: String = transaction
                .query_one(
                    "SELECT tier FROM members WHERE id = $1 AND status != 'blocked' FOR UPDATE",
                    &[&member],
                )?
                .get(0);
            let _day: i64 = transaction
                .query_one(
                    "SELECT COUNT(*) FROM downloads WHERE member_id = $1 AND at > $2",
                    &[&member, &-1i64],
                )?
                .get(0);
            let existing = transaction.query_opt(
                "SELECT id FROM licences WHERE member_id = $1 AND asset_id = $2",
                &[&member, &asset],
            )?;
            if existing.is_some() {
                bail!("the peer re-licensed {asset}");
            }
            let licence = format!("{thread}-{step}");
            transaction.execute(
                "INSERT INTO licences VALUES ($1, $2, $3, 2000, 0)",
                &[&licence, &asset, &member],
            )?;
            transaction.execute(
                "INSERT INTO downloads (asset_id, author_id, licence_id, member_id, at)
                 VALUES ($1, $2, $3, $4, 0)",
                &[&asset, &author, &licence, &member],
            )?;
            transaction.commit()?;
        }
        Ok(())
    })?;
    Ok((per_thread * threads) as f64 / elapsed.as_secs_f64())
}
