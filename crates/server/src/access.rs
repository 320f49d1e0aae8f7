//! The access log's writer thread. A request only pushes its line onto a shared list (a
//! lock held for a `Vec::push`); the thread takes the list every
//! [`WRITE_EVERY`], compresses and writes it, so neither compression nor a thread wake-up
//! happens per request. A frame is flushed at least every second (a crash loses at most
//! that much), old files are expired hourly, and [`Logger::flush`] writes everything at
//! shutdown.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stockroom_catalog::Network;

use crate::access_log::{AccessEntry, AccessLog};

const WRITE_EVERY: Duration = Duration::from_millis(200);
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);
/// Lines waiting at most; past this (the disk cannot keep up) lines are dropped and
/// counted rather than memory grown without bound.
const MAX_PENDING: usize = 1 << 20;

/// One request, owned, on its way to the log.
#[derive(Debug)]
pub struct Line {
    pub network: Network,
    pub method: String,
    /// Already cut to what may be logged (`loggable_path`).
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    pub micros: u64,
}

#[derive(Debug, Default)]
struct Pending {
    lines: Vec<Line>,
    dropped: u64,
}

#[derive(Debug)]
pub struct Logger {
    pending: Arc<Mutex<Pending>>,
    log: Arc<AccessLog>,
}

impl Logger {
    pub fn spawn(log: AccessLog) -> Logger {
        let logger = Logger {
            pending: Arc::default(),
            log: Arc::new(log),
        };
        let (pending, log) = (logger.pending.clone(), logger.log.clone());
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_forever(&pending, &log));
        if let Err(error) = spawned {
            tracing::error!(%error, "no access log");
        }
        logger
    }

    pub fn record(&self, line: Line) {
        let mut pending = lock(&self.pending);
        if pending.lines.len() < MAX_PENDING {
            pending.lines.push(line);
        } else {
            pending.dropped += 1;
        }
    }

    /// Writes and flushes everything recorded so far.
    pub fn flush(&self) {
        write_pending(&self.pending, &self.log);
        report(self.log.flush());
    }
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    pending.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn write_forever(pending: &Mutex<Pending>, log: &AccessLog) {
    let (mut last_flush, mut last_expiry) = (Instant::now(), Instant::now());
    let mut dirty = false;
    loop {
        std::thread::sleep(WRITE_EVERY);
        dirty |= write_pending(pending, log);
        if dirty && last_flush.elapsed() >= FLUSH_EVERY {
            report(log.flush());
            (dirty, last_flush) = (false, Instant::now());
        }
        if last_expiry.elapsed() >= EXPIRE_EVERY {
            report(log.expire().map(drop));
            last_expiry = Instant::now();
        }
    }
}

/// Writes what is waiting; whether there was anything.
fn write_pending(pending: &Mutex<Pending>, log: &AccessLog) -> bool {
    let (lines, dropped) = {
        let mut pending = lock(pending);
        let dropped = std::mem::take(&mut pending.dropped);
        (std::mem::take(&mut pending.lines), dropped)
    };
    if dropped > 0 {
        tracing::warn!(dropped, "access log lines dropped (writing fell behind)");
    }
    for line in &lines {
        let entry = AccessEntry {
            network: &line.network,
            method: &line.method,
            path: &line.path,
            status: line.status,
            bytes: line.bytes,
            micros: line.micros,
        };
        if let Err(error) = log.record(&entry) {
            tracing::error!(%error, "access log");
            break;
        }
    }
    !lines.is_empty()
}

fn report(result: std::io::Result<()>) {
    if let Err(error) = result {
        tracing::error!(%error, "access log");
    }
}
