//! `verify`: re-read every segment and re-hash every record.

use std::fmt;
use std::path::PathBuf;

use crate::Store;
use crate::error::Result;
use crate::format::{AssetId, HEADER_LEN, Kind, RecordType};
use crate::segment::{self, BodyCheck};

/// One thing `verify` found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A record whose bytes do not match the hash in its header.
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Where the record starts in it.
        offset: u64,
        /// The record's asset.
        asset: AssetId,
        /// The record's kind.
        kind: Kind,
        /// Whether it is the version reads are served from (otherwise it is an old version
        /// that compaction would drop).
        live: bool,
    },
    /// A range in which no valid record header could be read.
    Unreadable {
        /// The segment file.
        segment: PathBuf,
        /// Where the range starts.
        offset: u64,
        /// Its length in bytes.
        len: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Corrupt {
                segment,
                offset,
                asset,
                kind,
                live,
            } => write!(
                f,
                "{asset}/{kind} ({}) in {} at byte {offset}: bytes do not match their blake3 hash",
                if *live { "live" } else { "superseded" },
                segment.display(),
            ),
            Problem::Unreadable {
                segment,
                offset,
                len,
            } => write!(
                f,
                "{} at byte {offset}: {len} bytes hold no readable record",
                segment.display()
            ),
        }
    }
}

/// What `verify` checked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files read.
    pub segments: usize,
    /// Records checked (puts, tombstones, seals and padding).
    pub records: u64,
    /// Bytes checked.
    pub bytes: u64,
    /// Every damaged record and unreadable range, in file order.
    pub problems: Vec<Problem>,
    /// Superseded records whose body is zeros under their own header: a scrub cut off
    /// between zeroing the bodies and writing padding headers over them (its two flushes).
    /// Nothing is lost (reads never reach a superseded record) and the next scrub of the
    /// key, or compaction, finishes them; not a problem.
    pub unfinished_scrubs: u64,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Re-reads every segment and re-hashes every record, reporting (not repairing) damage.
    /// `progress` is called with the number of bytes checked since its last call.
    pub fn verify(&self, mut progress: impl FnMut(u64)) -> Result<VerifyReport> {
        let written_end = self.written_end();
        let segments = self.segments_now();
        let mut report = VerifyReport {
            segments: segments.len(),
            ..VerifyReport::default()
        };
        for segment in segments {
            // The active segment is checked up to what was written when verify started.
            let len = match written_end {
                Some((number, end)) if number == segment.number => end,
                _ => segment.file_len()?,
            };
            let bytes = segment.slice(0, len).unwrap_or_default();
            let scan = segment::scan(bytes, BodyCheck::HeaderOnly);
            for gap in scan.holes.iter().chain(scan.tail.iter()) {
                report.problems.push(Problem::Unreadable {
                    segment: segment.path.clone(),
                    offset: gap.offset,
                    len: gap.len,
                });
            }
            for found in scan.records {
                let header = found.header;
                report.records += 1;
                report.bytes += header.record_len();
                progress(header.record_len());
                let RecordType::Put(kind) = header.record_type else {
                    continue;
                };
                let body =
                    &bytes[(found.offset as usize + HEADER_LEN)..][..header.body_len as usize];
                if blake3::hash(body).as_bytes() == &header.body_hash {
                    continue;
                }
                let live = self
                    .index
                    .read()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .get(&(header.asset, kind))
                    .is_some_and(|entry| entry.is_at(segment.number, found.offset));
                if !live && body.iter().all(|&byte| byte == 0) {
                    report.unfinished_scrubs += 1;
                    continue;
                }
                report.problems.push(Problem::Corrupt {
                    segment: segment.path.clone(),
                    offset: found.offset,
                    asset: header.asset,
                    kind,
                    live,
                });
            }
        }
        Ok(report)
    }
}
