//! The access log's writer thread: requests hand their line over a channel, so compressing
//! and writing never happen on the request path. The thread flushes a frame every second
//! (a crash loses at most that much) and expires old files hourly.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::{Duration, Instant};

use stockroom_catalog::{AccessEntry, AccessLog, Network};

const FLUSH_EVERY: Duration = Duration::from_secs(1);
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

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

enum Message {
    Line(Line),
    Flush(SyncSender<()>),
}

#[derive(Debug)]
pub struct Logger {
    sender: Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl Logger {
    pub fn spawn(log: AccessLog) -> Logger {
        let (sender, receiver) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&log, &receiver));
        if let Err(error) = spawned {
            eprintln!("stockroom serve: no access log: {error}");
        }
        Logger { sender }
    }

    pub fn record(&self, line: Line) {
        // If the thread is gone, its error was printed; requests go on unlogged.
        let _ = self.sender.send(Message::Line(line));
    }

    /// Waits until everything recorded so far is on disk.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }
}

fn write_lines(log: &AccessLog, receiver: &Receiver<Message>) {
    let mut last_expiry = Instant::now();
    let mut dirty = false;
    loop {
        match receiver.recv_timeout(FLUSH_EVERY) {
            Ok(Message::Line(line)) => {
                let entry = AccessEntry {
                    network: &line.network,
                    method: &line.method,
                    path: &line.path,
                    status: line.status,
                    bytes: line.bytes,
                    micros: line.micros,
                };
                if let Err(error) = log.record(&entry) {
                    eprintln!("stockroom serve: access log: {error}");
                }
                dirty = true;
            }
            Ok(Message::Flush(done)) => {
                report(log.flush());
                dirty = false;
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                if dirty {
                    report(log.flush());
                    dirty = false;
                }
                if last_expiry.elapsed() > EXPIRE_EVERY {
                    report(log.expire().map(drop));
                    last_expiry = Instant::now();
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                report(log.flush());
                return;
            }
        }
    }
}

fn report(result: stockroom_catalog::Result<()>) {
    if let Err(error) = result {
        eprintln!("stockroom serve: access log: {error}");
    }
}
