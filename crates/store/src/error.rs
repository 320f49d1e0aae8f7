//! The store's one error type.

use std::io;
use std::path::PathBuf;

use stockroom_vocab::AssetId;

use crate::format::Kind;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the store's directory lock.
    #[error(
        "{dir} is already open by another stockroom process{}; stop it before opening the store again",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The store's directory.
        dir: PathBuf,
        /// The holder's pid, as its `LOCK` file says.
        holder: Option<u32>,
    },

    /// The disk (or the process's file-size limit) has no room for the write.
    #[error(
        "no space left to write {path}: {source}; nothing after the last acknowledged record was kept"
    )]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// The system's answer (`ENOSPC`, `EFBIG`, `EDQUOT`).
        source: io::Error,
    },

    /// An I/O operation failed.
    #[error("could not {action} {path}")]
    Io {
        /// What was being done (`open`, `flush`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's answer.
        source: io::Error,
    },

    /// A record cannot fit in one segment.
    #[error(
        "a {len}-byte record does not fit in a segment (at most {max} bytes); raise the segment size"
    )]
    RecordTooLarge {
        /// The record's length.
        len: u64,
        /// The most a segment takes.
        max: u64,
    },

    /// A flush to disk (or a compaction's swap of files) failed earlier; the store refuses
    /// writes until it is reopened, which recovers from whatever state the disk is in.
    #[error(
        "an earlier flush or file swap failed, so the store accepts no more writes until it is reopened"
    )]
    Poisoned,

    /// Stored bytes do not match their recorded hash.
    #[error(
        "{asset}/{kind} in {segment} at byte {offset} is corrupt: its bytes do not match their blake3 hash"
    )]
    CorruptRecord {
        /// The segment file.
        segment: PathBuf,
        /// Where the record starts in it.
        offset: u64,
        /// The record's asset.
        asset: AssetId,
        /// The record's kind.
        kind: Kind,
    },

    /// Compaction refuses to rewrite segments with unreadable regions, which might hold
    /// records it cannot see.
    #[error(
        "{segment} has {bytes} unreadable bytes at offset {offset}; compaction would discard them, so it was not run (see `stockroom verify`)"
    )]
    UnreadableRegion {
        /// The segment file.
        segment: PathBuf,
        /// Where the unreadable bytes start.
        offset: u64,
        /// How many there are.
        bytes: u64,
    },

    /// An interrupted compaction left a marker this version cannot read.
    #[error("{path} is not a compaction marker this version understands; inspect it by hand")]
    MalformedMarker {
        /// The marker file.
        path: PathBuf,
    },

    /// The options given to [`crate::Store::open`] are not usable.
    #[error("invalid store options: {0}")]
    InvalidOptions(&'static str),
}

impl StoreError {
    /// Wraps an I/O error, recognising a full disk or an exceeded file-size limit.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        let no_space = matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded
        );
        if no_space {
            StoreError::DiskFull { path, source }
        } else {
            StoreError::Io {
                action,
                path,
                source,
            }
        }
    }

    /// True when the failure was a lack of space, which an operator can fix without data loss.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }
}

/// Shorthand for the store's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
