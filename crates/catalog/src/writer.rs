//! Group commit: a writer thread owns a write connection and runs the writes sent to it.
//! It takes all the writes that are waiting, runs each in its own savepoint (a write that
//! fails leaves nothing behind and does not spoil the others), commits them in one
//! transaction (one fsync for the batch, SQLite's WAL or PostgreSQL's) and only then
//! answers each caller. So an answer means the write is durable, and thousands of licences
//! a second cost a few hundred fsyncs.
//!
//! SQLite has one writer (it allows one writing transaction at a time). PostgreSQL has
//! several ([`Writers`]), so that licences are not bound by one connection's round trips:
//! each write names what it must be alone with ([`Lock`]): a member's licences (their
//! quota), an anonymous network's, or everything (any other write). A batch's transaction
//! takes its writes' locks first ([`Session::begin`]), in one global order, so the rules
//! decided inside it see every write before it on any node, and no two batches deadlock.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use crate::db::Db;
use crate::error::{CatalogError, Result};

/// Most writes per transaction: bounds how long a batch holds the write lock.
const MAX_BATCH: usize = 512;

/// What a write must be alone with while it runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Lock {
    /// Every other write: members, assets, moderation (rare next to licences).
    All,
    /// This member's other writes: their licences, whose quota counts them.
    Member(String),
    /// This anonymised network's licences (its quota).
    Network(String),
}

/// The write connection of an engine.
pub(crate) trait Session: Send + 'static {
    /// Makes the connection usable (on PostgreSQL, connects again after the server hung
    /// up); the batch fails with this error if it cannot.
    fn ready(&mut self) -> Result<()>;
    /// The connection.
    fn db(&self) -> Db<'_>;
    /// Starts a batch's transaction, holding `locks` (sorted, without repeats) until it ends.
    fn begin(&self, locks: &[Lock]) -> Result<()>;
}

type Finish = Box<dyn FnOnce(std::result::Result<(), Arc<CatalogError>>) + Send>;
/// A write: run on the connection (`Some`), or told that its batch could not start
/// (`None`); it gives back whether it succeeded and how to answer its caller.
type Run = Box<dyn for<'d> FnOnce(Option<&Db<'d>>) -> (bool, Finish) + Send>;

/// A write and what it must be alone with.
struct Job {
    lock: Lock,
    run: Run,
}

#[derive(Debug)]
pub(crate) struct Writer {
    /// `None` only while dropping.
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn spawn(session: impl Session) -> Writer {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || run(session, receiver))
            .expect("spawning the catalogue writer thread");
        Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `op` on the write connection inside a transaction and returns its result once
    /// the transaction is durable. If `op` fails, nothing it wrote is kept.
    pub(crate) fn write<R: Send + 'static>(
        &self,
        lock: Lock,
        op: impl FnOnce(&Db<'_>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (answer, answered) = mpsc::sync_channel::<Result<R>>(1);
        let run: Run = Box::new(move |db: Option<&Db<'_>>| match db {
            Some(db) => {
                let result = op(db);
                (result.is_ok(), finisher(answer, result))
            }
            // The finisher is then called with the batch's error, which replaces this.
            None => (false, finisher(answer, Err(CatalogError::WriterGone))),
        });
        let job = Job { lock, run };
        self.jobs
            .as_ref()
            .ok_or(CatalogError::WriterGone)?
            .send(job)
            .map_err(|_| CatalogError::WriterGone)?;
        answered.recv().map_err(|_| CatalogError::WriterGone)?
    }
}

fn finisher<R: Send + 'static>(answer: SyncSender<Result<R>>, result: Result<R>) -> Finish {
    Box::new(move |committed| {
        let _ = answer.send(match committed {
            Ok(()) => result,
            Err(error) => Err(CatalogError::Commit(error)),
        });
    })
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has answered what it holds.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut session: impl Session, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        // Whatever else is waiting, up to a batch.
        let batch: Vec<Job> = std::iter::once(first)
            .chain(jobs.try_iter().take(MAX_BATCH - 1))
            .collect();
        if let Err(error) = session.ready() {
            let error = Arc::new(error);
            for job in batch {
                job_failed(job).1(Err(Arc::clone(&error)));
            }
            continue;
        }
        let mut locks: Vec<Lock> = batch.iter().map(|job| job.lock.clone()).collect();
        if locks.contains(&Lock::All) {
            locks = vec![Lock::All];
        }
        locks.sort();
        locks.dedup();
        let db = session.db();
        let finishes = match run_batch(&session, &db, &locks, batch) {
            Ok(finishes) => finishes,
            Err((finishes, error)) => {
                let _ = db.batch("ROLLBACK");
                let error = Arc::new(error);
                for finish in finishes {
                    finish(Err(Arc::clone(&error)));
                }
                continue;
            }
        };
        for finish in finishes {
            finish(Ok(()));
        }
    }
}

type Failed = (Vec<Finish>, CatalogError);

/// Runs the batch in one transaction; on a failure of the transaction itself, hands back
/// every finisher so that each caller hears of it.
fn run_batch(
    session: &impl Session,
    db: &Db<'_>,
    locks: &[Lock],
    batch: Vec<Job>,
) -> std::result::Result<Vec<Finish>, Failed> {
    let mut finishes = Vec::with_capacity(batch.len());
    let alone = batch.len() == 1;
    let mut jobs = batch.into_iter();
    if let Err(error) = session.begin(locks) {
        // Nothing ran: every job still answers, with the error.
        let finishes = jobs.map(|job| job_failed(job).1).collect();
        return Err((finishes, error));
    }
    if alone {
        // One write: its transaction is its savepoint (two round trips fewer).
        let job = jobs.next().expect("a batch has a job");
        let (ok, finish) = (job.run)(Some(db));
        finishes.push(finish);
        let end = if ok { "COMMIT" } else { "ROLLBACK" };
        return match db.batch(end) {
            Ok(()) => Ok(finishes),
            Err(error) => Err((finishes, error)),
        };
    }
    for job in jobs.by_ref() {
        if let Err(error) = db.batch("SAVEPOINT job") {
            finishes.push(job_failed(job).1);
            finishes.extend(jobs.map(|job| job_failed(job).1));
            return Err((finishes, error));
        }
        let (ok, finish) = (job.run)(Some(db));
        let end = if ok {
            "RELEASE SAVEPOINT job"
        } else {
            "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job"
        };
        finishes.push(finish);
        if let Err(error) = db.batch(end) {
            finishes.extend(jobs.map(|job| job_failed(job).1));
            return Err((finishes, error));
        }
    }
    match db.batch("COMMIT") {
        Ok(()) => Ok(finishes),
        Err(error) => Err((finishes, error)),
    }
}

/// The finisher of a job that will not run; it is called with the batch's error.
fn job_failed(job: Job) -> (bool, Finish) {
    (job.run)(None)
}

/// Several writers, each with its own connection and batches (PostgreSQL's), or one
/// (SQLite's). A write for a member or network always goes to the same writer, so its
/// batches never wait for each other on this node; a write that must be alone goes to any.
#[derive(Debug)]
pub(crate) struct Writers {
    lanes: Vec<Writer>,
    next: std::sync::atomic::AtomicUsize,
}

impl Writers {
    pub(crate) fn new(lanes: Vec<Writer>) -> Writers {
        assert!(!lanes.is_empty(), "at least one writer");
        Writers {
            lanes,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Runs `op` as [`Writer::write`] does, alone with what `lock` names.
    pub(crate) fn write<R: Send + 'static>(
        &self,
        lock: Lock,
        op: impl FnOnce(&Db<'_>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let lane = match &lock {
            Lock::All => self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            Lock::Member(key) | Lock::Network(key) => {
                let hash = blake3::hash(key.as_bytes());
                u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes")) as usize
            }
        } % self.lanes.len();
        self.lanes[lane].write(lock, op)
    }
}
