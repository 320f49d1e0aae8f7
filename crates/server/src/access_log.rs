//! The access log, kept apart from member data (in `DATA/logs/`, not in the catalogue's
//! database): one JSON line per request with the client's anonymised network, never a
//! full address, a key, a query string or a body. Files are zstd-compressed, one per day
//! and process start (`access-YYYY-MM-DD-<start>.log.zst`), and deleted once older than
//! the retention (14 days by default).
//!
//! Each file is one zstd frame per flush; a process that dies loses at most the lines
//! since its last flush, and never makes an earlier frame unreadable, because a restart
//! writes a new file instead of appending to a torn one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use std::io::Result;

use stockroom_catalog::Network;
use stockroom_vocab::Clock;

/// How long access logs are kept unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 14;
const DAY: i64 = 24 * 60 * 60;
const PREFIX: &str = "access-";
const SUFFIX: &str = ".log.zst";

/// One request, as the log may keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry<'a> {
    /// The client's anonymised network (/24 or /48), never its address.
    pub network: &'a Network,
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The request's path; its query string and any download token are cut off here.
    pub path: &'a str,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Time from the request's head to the response's, in microseconds.
    pub micros: u64,
}

#[derive(Serialize)]
struct Line<'a> {
    at: i64,
    network: &'a str,
    method: &'a str,
    path: String,
    status: u16,
    bytes: u64,
    micros: u64,
}

/// The path with what must not be logged taken out: the query string (it can carry
/// search words and, misused, keys) and the capability in `/v1/download/{token}`.
pub fn loggable_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    match path.strip_prefix("/v1/download/") {
        Some(_) => "/v1/download/-".to_string(),
        None => path.to_string(),
    }
}

/// Appends access lines to today's compressed file.
#[derive(Debug)]
pub struct AccessLog {
    dir: PathBuf,
    retention_days: u32,
    clock: Arc<dyn Clock>,
    started: i64,
    current: Mutex<Option<Open>>,
}

struct Open {
    day: i64,
    encoder: zstd::Encoder<'static, File>,
}

impl std::fmt::Debug for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Open")
            .field("day", &self.day)
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// Opens the log in `dir` (creating it), keeping `retention_days` of files; `clock` dates
    /// the lines and the files.
    pub fn open(dir: &Path, retention_days: u32, clock: Arc<dyn Clock>) -> Result<AccessLog> {
        if retention_days == 0 {
            // Today's file, still being written, would be expired at once.
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "access log retention must be at least one day",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|source| io("creating", dir, source))?;
        let started = clock.now();
        Ok(AccessLog {
            dir: dir.to_path_buf(),
            retention_days,
            clock,
            started,
            current: Mutex::new(None),
        })
    }

    /// Appends one request's line to today's file (the path cut to what may be logged).
    pub fn record(&self, entry: &AccessEntry<'_>) -> Result<()> {
        let now = self.clock.now();
        let mut line = serde_json::to_vec(&Line {
            at: now,
            network: entry.network.as_str(),
            method: entry.method,
            path: loggable_path(entry.path),
            status: entry.status,
            bytes: entry.bytes,
            micros: entry.micros,
        })
        .map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let day = now.div_euclid(DAY);
        if current.as_ref().is_some_and(|open| open.day != day)
            && let Some(open) = current.take()
        {
            self.finish(open)?;
        }
        if current.is_none() {
            *current = Some(self.create(day)?);
        }
        let open = current.as_mut().expect("just opened");
        open.encoder
            .write_all(&line)
            .map_err(|source| io("writing", &self.dir, source))
    }

    /// Ends the current frame so that everything recorded so far is readable on disk.
    pub fn flush(&self) -> Result<()> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(open) = current.take() {
            self.finish(open)?;
        }
        Ok(())
    }

    /// Deletes files from days before the retention period; returns how many.
    pub fn expire(&self) -> Result<usize> {
        let oldest_kept = self.clock.now().div_euclid(DAY) - i64::from(self.retention_days) + 1;
        let mut deleted = 0;
        let entries =
            std::fs::read_dir(&self.dir).map_err(|source| io("listing", &self.dir, source))?;
        for entry in entries {
            let path = entry
                .map_err(|source| io("listing", &self.dir, source))?
                .path();
            let Some(day) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(file_day)
            else {
                continue;
            };
            if day < oldest_kept {
                std::fs::remove_file(&path).map_err(|source| io("deleting", &path, source))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn create(&self, day: i64) -> Result<Open> {
        // Several frames per file: appending to this process's own file after a flush.
        let path = self.dir.join(format!(
            "{PREFIX}{}-{}{SUFFIX}",
            civil_date(day),
            self.started
        ));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| io("opening", &path, source))?;
        let encoder =
            zstd::Encoder::new(file, 3).map_err(|source| io("compressing", &path, source))?;
        Ok(Open { day, encoder })
    }

    fn finish(&self, open: Open) -> Result<()> {
        let file = open
            .encoder
            .finish()
            .map_err(|source| io("compressing", &self.dir, source))?;
        file.sync_data()
            .map_err(|source| io("syncing", &self.dir, source))
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// The error, naming what was done to which path.
fn io(what: &'static str, path: &Path, source: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        source.kind(),
        format!("access log: {what} {}: {source}", path.display()),
    )
}

/// The day number (since 1970-01-01) a log file's name gives, if it is one of ours.
fn file_day(name: &str) -> Option<i64> {
    let date = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.get(..10)?;
    let mut parts = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    Some(days_from_civil(year, month, day))
}

/// `YYYY-MM-DD` of a day number (Hinnant's civil-from-days).
pub(crate) fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The day number of a date (Hinnant's days-from-civil).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use stockroom_catalog::anonymise;
    use stockroom_vocab::ManualClock;

    use super::*;

    #[test]
    fn dates_round_trip_through_day_numbers() {
        for days in [-1, 0, 59, 365, 11_016, 20_413, 20_758, 50_000] {
            let date = civil_date(days);
            let name = format!("{PREFIX}{date}-0{SUFFIX}");
            assert_eq!(file_day(&name), Some(days), "{date}");
        }
        assert_eq!(civil_date(20_413), "2025-11-21");
        assert_eq!(file_day("other.log"), None);
    }

    const DAY: i64 = 24 * 60 * 60;
    const START: i64 = 1_793_491_200;

    fn address(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn access_logs_keep_networks_not_addresses_no_queries_or_tokens_and_expire_after_retention() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at(START));
        let log = AccessLog::open(dir.path(), 14, clock.clone()).expect("open");
        let network = anonymise(address("203.0.113.77"));
        let entry = |path| AccessEntry {
            network: &network,
            method: "GET",
            path,
            status: 200,
            bytes: 1234,
            micros: 800,
        };
        log.record(&entry("/v1/search?q=cats&key=sr_secret"))
            .expect("record");
        log.record(&entry("/v1/download/tok3n.s1gned"))
            .expect("record");
        clock.advance(DAY);
        log.record(&entry("/v1/previews/00000000000000ff/thumb.jpg"))
            .expect("next day");
        log.flush().expect("flush");
        let files = || -> Vec<std::path::PathBuf> {
            let mut files: Vec<_> = std::fs::read_dir(dir.path())
                .expect("list")
                .map(|entry| entry.expect("entry").path())
                .collect();
            files.sort();
            files
        };
        assert_eq!(files().len(), 2, "one file per day");
        let mut text = String::new();
        for file in files() {
            let raw = std::fs::read(&file).expect("read");
            assert!(
                !String::from_utf8_lossy(&raw).contains("/v1/search"),
                "compressed"
            );
            text.push_str(
                &String::from_utf8(zstd::decode_all(&raw[..]).expect("zstd")).expect("utf-8"),
            );
        }
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|line| line["network"] == "203.0.113.0/24"));
        assert_eq!(lines[0]["path"], "/v1/search");
        assert_eq!(lines[1]["path"], "/v1/download/-");
        assert!(
            !text.contains("203.0.113.77")
                && !text.contains("sr_secret")
                && !text.contains("tok3n")
        );
        clock.advance(13 * DAY);
        assert_eq!(
            log.expire().expect("expire"),
            1,
            "14 days on, the first day's file has left the 14-day retention"
        );
        clock.advance(DAY);
        assert_eq!(log.expire().expect("expire"), 1);
        assert!(files().is_empty());
    }
}
