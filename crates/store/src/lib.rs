//! Stockroom's blob store: append-only segment files, read through memory maps.
//!
//! Every stored blob (an original, a preview, an asset's metadata) is a record keyed by
//! `(AssetId, Kind)` in a segment file. Writes append and return only once the record is on
//! disk; concurrent writers share each flush (group commit). Reads hand out [`Blob`]s that
//! borrow the mapped file without copying, so the server can stream them as they are.
//! Deletes append tombstones; [`Store::compact`] rewrites live records and frees the rest;
//! [`Store::verify`] re-hashes everything. The byte layout is in `docs/format.md`.
//!
//! What it does not do: know what an asset is (the catalogue does), verify hashes on hot
//! reads (only `verify` and compaction do), or share a directory between processes (a second
//! opener gets [`StoreError::Locked`]).
//!
//! ```
//! use stockroom_store::{Kind, Store, StoreOptions};
//! use stockroom_vocab::AssetId;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), StoreOptions::default())?;
//! let id = AssetId::from_u64(7);
//! store.put(id, Kind::Original, b"jpeg bytes")?;
//! assert_eq!(store.get(id, Kind::Original).as_deref(), Some(&b"jpeg bytes"[..]));
//! assert!(store.delete(id, Kind::Original)?);
//! assert!(store.get(id, Kind::Original).is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod compact;
mod durable;
mod error;
mod format;
mod lock;
mod recovery;
mod scrub;
mod segment;
mod stats;
mod verify;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

pub use compact::CompactReport;
pub use error::{Result, StoreError};
pub use format::{FORMAT_VERSION, Kind};
pub use recovery::{OpenReport, UnreadableRange};
pub use stats::{KindStats, Stats};
use stockroom_vocab::AssetId;
pub use verify::{Problem, VerifyReport};

use format::HEADER_LEN;
use lock::DirLock;
use segment::Segment;
use write::{CommitState, Writer};

/// The smallest segment capacity [`StoreOptions`] accepts.
pub const MIN_SEGMENT_CAPACITY: u64 = 4096;

/// How a store lays out its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Largest size a segment file grows to before a new one is started. A record (header
    /// included) must fit in one segment, so this also bounds the largest blob.
    pub segment_capacity: u64,
}

impl Default for StoreOptions {
    /// 1 GiB segments: large enough for any camera original, few enough files for millions
    /// of previews.
    fn default() -> Self {
        StoreOptions {
            segment_capacity: 1 << 30,
        }
    }
}

impl StoreOptions {
    fn validate(&self) -> Result<()> {
        if self.segment_capacity < MIN_SEGMENT_CAPACITY {
            return Err(StoreError::InvalidOptions(
                "segment capacity must be at least 4096 bytes",
            ));
        }
        if usize::try_from(self.segment_capacity).is_err() {
            return Err(StoreError::InvalidOptions(
                "segment capacity must fit in the address space",
            ));
        }
        Ok(())
    }

    /// The largest body a record can carry in a segment of this capacity.
    pub fn max_blob_len(&self) -> u64 {
        let room = self
            .segment_capacity
            .saturating_sub(HEADER_LEN as u64 + format::SEAL_RECORD_LEN);
        room - room % format::ALIGN
    }
}

type Key = (AssetId, Kind);

/// Where the live record for a key is.
#[derive(Clone, Debug)]
struct Entry {
    segment: Arc<Segment>,
    /// Offset of the record's header in its segment.
    offset: u64,
    body_len: u64,
}

impl Entry {
    fn is_at(&self, segment_number: u64, offset: u64) -> bool {
        self.segment.number == segment_number && self.offset == offset
    }
}

/// An open store directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    options: StoreOptions,
    _lock: DirLock,
    /// The durable, visible record for every live key.
    index: RwLock<HashMap<Key, Entry>>,
    /// Every segment file of the store, by number.
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    writer: Mutex<Writer>,
    commit_state: Mutex<CommitState>,
    committed: Condvar,
    /// Set when a flush failed: the page cache may no longer match the disk.
    poisoned: AtomicBool,
    /// Flushes done by the write path, for measuring how well group commit batches.
    flushes: AtomicU64,
    compacting: Mutex<()>,
    report: OpenReport,
}

/// A stored blob: a read-only view of mapped segment bytes, kept valid for as long as it lives
/// (even if compaction deletes its segment file meanwhile).
#[derive(Clone, Debug)]
pub struct Blob {
    segment: Arc<Segment>,
    start: u64,
    len: u64,
    blake3: [u8; 32],
}

impl Blob {
    /// The blake3 hash of the bytes, as recorded when they were written (not recomputed).
    pub fn blake3(&self) -> [u8; 32] {
        self.blake3
    }
}

impl Deref for Blob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // Entries are only created for records validated inside the mapping, so the range
        // always exists; an empty slice would be the safe answer if it ever did not.
        self.segment.slice(self.start, self.len).unwrap_or_default()
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A live key and what is known of its record without reading the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// The asset the record belongs to.
    pub asset: AssetId,
    /// What the record holds.
    pub kind: Kind,
    /// The blob's length in bytes.
    pub len: u64,
    /// blake3 of the blob, as its header records it.
    pub blake3: [u8; 32],
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, recovering from any crash: torn tails
    /// are cut (and kept in `lost+found/`), interrupted compactions finished or undone.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|source| StoreError::io("create store directory", &dir, source))?;
        let lock = DirLock::acquire(&dir)?;
        let recovered = recovery::recover(&dir)?;
        let next_segment = recovered.segments.keys().next_back().map_or(1, |n| n + 1);
        Ok(Store {
            options,
            _lock: lock,
            index: RwLock::new(recovered.index),
            segments: RwLock::new(recovered.segments),
            writer: Mutex::new(Writer::new(recovered.max_seq + 1, next_segment)),
            commit_state: Mutex::new(CommitState::new(recovered.max_seq)),
            committed: Condvar::new(),
            poisoned: AtomicBool::new(false),
            flushes: AtomicU64::new(0),
            compacting: Mutex::new(()),
            report: recovered.report,
            dir,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// What opening the store found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// How many flushes the write path has made since open. With concurrent writers this is
    /// well below the number of writes: that is group commit at work.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// The live bytes for `(asset, kind)`, without copying.
    pub fn get(&self, asset: AssetId, kind: Kind) -> Option<Blob> {
        let index = self
            .index
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        let entry = index.get(&(asset, kind))?;
        let header = entry.segment.slice(entry.offset, HEADER_LEN as u64)?;
        let blake3 = format::indexed_body_hash(header)?;
        Some(Blob {
            segment: Arc::clone(&entry.segment),
            start: entry.offset + HEADER_LEN as u64,
            len: entry.body_len,
            blake3,
        })
    }

    /// Whether `(asset, kind)` has live bytes.
    pub fn contains(&self, asset: AssetId, kind: Kind) -> bool {
        let index = self
            .index
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        index.contains_key(&(asset, kind))
    }

    /// Every live key with its length and hash, in no particular order.
    pub fn entries(&self) -> Vec<EntryInfo> {
        let index = self
            .index
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        index
            .iter()
            .filter_map(|(&(asset, kind), entry)| {
                let header = entry.segment.slice(entry.offset, HEADER_LEN as u64)?;
                Some(EntryInfo {
                    asset,
                    kind,
                    len: entry.body_len,
                    blake3: format::indexed_body_hash(header)?,
                })
            })
            .collect()
    }

    /// Every segment file now, by number.
    pub(crate) fn segments_now(&self) -> Vec<Arc<Segment>> {
        self.segments
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The active segment's number and the offset up to which records are written.
    pub(crate) fn written_end(&self) -> Option<(u64, u64)> {
        self.writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .written_end()
    }

    /// Stores `bytes` as `(asset, kind)`, replacing any earlier bytes; returns once the record
    /// is on disk and visible.
    pub fn put(&self, asset: AssetId, kind: Kind, bytes: &[u8]) -> Result<()> {
        let seq = self.append(asset, kind, Some(bytes))?;
        self.commit(seq)
    }

    /// Deletes `(asset, kind)`; returns whether it existed. Durable on return.
    pub fn delete(&self, asset: AssetId, kind: Kind) -> Result<bool> {
        if !self.contains(asset, kind) {
            return Ok(false);
        }
        let seq = self.append(asset, kind, None)?;
        self.commit(seq)?;
        Ok(true)
    }

    /// Deletes every key of `keys` that exists, with one flush for all of them; returns how
    /// many existed. Durable on return (a crash before leaves any subset deleted).
    pub fn delete_all(&self, keys: &[(AssetId, Kind)]) -> Result<usize> {
        let mut last = None;
        let mut deleted = 0;
        for &(asset, kind) in keys {
            if self.contains(asset, kind) {
                last = Some(self.append(asset, kind, None)?);
                deleted += 1;
            }
        }
        if let Some(seq) = last {
            self.commit(seq)?;
        }
        Ok(deleted)
    }

    /// Moves `(asset, kind)` into `archive` (another store), then deletes it here; returns
    /// whether there was anything to move. The archive holds it durably before it leaves.
    pub fn archive_to(&self, archive: &Store, asset: AssetId, kind: Kind) -> Result<bool> {
        let Some(blob) = self.get(asset, kind) else {
            return Ok(false);
        };
        archive.put(asset, kind, &blob)?;
        self.delete(asset, kind)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A clean close seals the active segment so the next open need not hash its bodies.
        // Failure here loses nothing: the next open recovers the segment instead.
        let _ = self.seal_active();
    }
}

#[cfg(test)]
mod tests;
