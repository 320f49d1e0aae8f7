//! Group commit: one thread owns the write connection and runs every write. It takes all
//! the writes that are waiting, runs each in its own savepoint (a write that fails leaves
//! nothing behind and does not spoil the others), commits them in one transaction (one
//! fsync for the batch, SQLite's WAL or PostgreSQL's) and only then answers each caller.
//! So an answer means the write is durable, and thousands of licences a second cost a few
//! hundred fsyncs.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use crate::db::Db;
use crate::error::{CatalogError, Result};

/// Most writes per transaction: bounds how long a batch holds the write lock.
const MAX_BATCH: usize = 512;

/// The write connection of an engine.
pub(crate) trait Session: Send + 'static {
    /// Makes the connection usable (on PostgreSQL, connects again after the server hung
    /// up); the batch fails with this error if it cannot.
    fn ready(&mut self) -> Result<()>;
    /// The connection.
    fn db(&self) -> Db<'_>;
    /// What starts a batch's transaction.
    fn begin(&self) -> &'static str;
}

type Finish = Box<dyn FnOnce(std::result::Result<(), Arc<CatalogError>>) + Send>;
/// A write: run on the connection (`Some`), or told that its batch could not start
/// (`None`); it gives back whether it succeeded and how to answer its caller.
type Job = Box<dyn for<'d> FnOnce(Option<&Db<'d>>) -> (bool, Finish) + Send>;

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
        op: impl FnOnce(&Db<'_>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (answer, answered) = mpsc::sync_channel::<Result<R>>(1);
        let job: Job = Box::new(move |db: Option<&Db<'_>>| match db {
            Some(db) => {
                let result = op(db);
                (result.is_ok(), finisher(answer, result))
            }
            // The finisher is then called with the batch's error, which replaces this.
            None => (false, finisher(answer, Err(CatalogError::WriterGone))),
        });
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
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = session.ready() {
            let error = Arc::new(error);
            for job in batch {
                job_failed(job).1(Err(Arc::clone(&error)));
            }
            continue;
        }
        let db = session.db();
        let finishes = match run_batch(&db, session.begin(), batch) {
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
    db: &Db<'_>,
    begin: &str,
    batch: Vec<Job>,
) -> std::result::Result<Vec<Finish>, Failed> {
    let mut finishes = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    if let Err(error) = db.batch(begin) {
        // Nothing ran: every job still answers, with the error.
        let finishes = jobs.map(|job| job_failed(job).1).collect();
        return Err((finishes, error));
    }
    for job in jobs.by_ref() {
        if let Err(error) = db.batch("SAVEPOINT job") {
            finishes.push(job_failed(job).1);
            finishes.extend(jobs.map(|job| job_failed(job).1));
            return Err((finishes, error));
        }
        let (ok, finish) = job(Some(db));
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
    job(None)
}
