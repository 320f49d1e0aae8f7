//! The hash file: a 16-byte header, then fixed 48-byte records, appended and synced.
//!
//! ```text
//! header   0  8  magic "STKRDUPS"
//!          8  4  format version (1), little-endian
//!         12  4  record size (48)
//! record   0  8  asset id
//!          8 32  PDQ hash, four little-endian u64 words (bit k in word k / 64)
//!         40  1  PDQ quality 0–100
//!         41  1  region: 0 whole, 1 trimmed, 2 centre crop
//!         42  1  flags: bit 0 reliable (may hold an upload), bit 1 removal of the asset
//!         43  1  zero
//!         44  4  first 4 bytes of blake3 over bytes 0..44
//! ```
//!
//! A crash can leave a torn last record; opening cuts it. A record that fails its check in
//! the middle of the file (a flipped bit on disk) is dropped by rewriting the file without
//! it, and counted in the open report. The index is derived data: the originals in the
//! blob store can always rebuild it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use stockroom_phash::{Hash256, Region};

use crate::error::{DupesError, Result};

pub const MAGIC: &[u8; 8] = b"STKRDUPS";
/// The file's version: 2 since PDQ is computed for the file a reduced decode stands for;
/// a version-1 file holds the same records, hashed on the reduced pixels as they were
/// (10–46 bits from the file's PDQ on photos), and opens with
/// [`OpenReport::stale_hashes`] set until it is rehashed.
pub const VERSION: u32 = 2;
/// The version whose hashes are stale but whose records read the same.
const STALE_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 16;
pub const RECORD_LEN: usize = 48;

pub const FLAG_RELIABLE: u8 = 1;
pub const FLAG_REMOVED: u8 = 2;

/// One record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub asset: u64,
    pub hash: Hash256,
    pub quality: u8,
    pub region: Region,
    pub flags: u8,
}

pub fn region_code(region: Region) -> u8 {
    match region {
        Region::Whole => 0,
        Region::Trimmed => 1,
        Region::Centre => 2,
        // Refused by `DupIndex::add_all`; a 3 or 4 read back is corrupt.
        Region::Inset => 3,
        Region::Unpadded => 4,
    }
}

pub fn region_from(code: u8) -> Option<Region> {
    match code {
        0 => Some(Region::Whole),
        1 => Some(Region::Trimmed),
        2 => Some(Region::Centre),
        _ => None,
    }
}

fn check(bytes: &[u8]) -> [u8; 4] {
    let hash = blake3::hash(&bytes[..44]);
    let mut out = [0u8; 4];
    out.copy_from_slice(&hash.as_bytes()[..4]);
    out
}

impl Record {
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut bytes = [0u8; RECORD_LEN];
        bytes[0..8].copy_from_slice(&self.asset.to_le_bytes());
        for (index, word) in self.hash.0.iter().enumerate() {
            bytes[8 + index * 8..16 + index * 8].copy_from_slice(&word.to_le_bytes());
        }
        bytes[40] = self.quality;
        bytes[41] = region_code(self.region);
        bytes[42] = self.flags;
        let sum = check(&bytes);
        bytes[44..48].copy_from_slice(&sum);
        bytes
    }

    /// The record in `bytes` (exactly [`RECORD_LEN`]), or `None` if it fails its check.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        if bytes.len() != RECORD_LEN || bytes[44..48] != check(bytes) || bytes[43] != 0 {
            return None;
        }
        Some(Record {
            asset: word(bytes, 0),
            hash: hash_at(bytes, 0),
            quality: bytes[40],
            region: region_from(bytes[41])?,
            flags: bytes[42],
        })
    }
}

/// The little-endian u64 at `offset`.
#[inline]
pub fn word(bytes: &[u8], offset: usize) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(out)
}

/// The hash of the record that starts at `offset`.
#[inline]
pub fn hash_at(bytes: &[u8], offset: usize) -> Hash256 {
    Hash256([
        word(bytes, offset + 8),
        word(bytes, offset + 16),
        word(bytes, offset + 24),
        word(bytes, offset + 32),
    ])
}

fn header(version: u32) -> [u8; HEADER_LEN] {
    let mut bytes = [0u8; HEADER_LEN];
    bytes[0..8].copy_from_slice(MAGIC);
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    bytes[12..16].copy_from_slice(&(RECORD_LEN as u32).to_le_bytes());
    bytes
}

/// What opening found and repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Records read and kept.
    pub records: usize,
    /// Bytes of a torn last record, cut.
    pub torn_bytes: u64,
    /// Records that failed their check and were dropped.
    pub corrupt_records: usize,
    /// The hashes were computed as before PDQ was the file's (a version-1 file): near
    /// duplicates of them may be missed until they are rehashed
    /// ([`crate::DupIndex::replace_all`]).
    pub stale_hashes: bool,
}

/// Opens (creating if missing) and repairs the hash file; returns it with the report.
pub fn open(path: &Path) -> Result<(File, OpenReport)> {
    let io = |what: &'static str| {
        move |source| DupesError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    };
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io("open hash file"))?;
    let len = file.metadata().map_err(io("stat hash file"))?.len();
    if len == 0 {
        (&file)
            .write_all(&header(VERSION))
            .map_err(io("write hash file header"))?;
        file.sync_all().map_err(io("sync hash file"))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io("sync index directory"))?;
        }
        return Ok((file, OpenReport::default()));
    }
    let mut head = [0u8; HEADER_LEN];
    if len < HEADER_LEN as u64
        || file.read_exact_at(&mut head, 0).is_err()
        || (head != header(VERSION) && head != header(STALE_VERSION))
    {
        return Err(DupesError::NotAnIndex {
            path: path.to_path_buf(),
        });
    }
    let body = usize::try_from(len - HEADER_LEN as u64).map_err(|_| DupesError::NotAnIndex {
        path: path.to_path_buf(),
    })?;
    let whole = body / RECORD_LEN;
    let mut report = OpenReport {
        records: whole,
        torn_bytes: (body % RECORD_LEN) as u64,
        corrupt_records: 0,
        stale_hashes: head == header(STALE_VERSION),
    };
    let mut bytes = vec![0u8; whole * RECORD_LEN];
    file.read_exact_at(&mut bytes, HEADER_LEN as u64)
        .map_err(io("read hash file"))?;
    let bad: Vec<usize> = bytes
        .chunks_exact(RECORD_LEN)
        .enumerate()
        .filter(|(_, record)| Record::decode(record).is_none())
        .map(|(index, _)| index)
        .collect();
    if bad.is_empty() {
        if report.torn_bytes > 0 {
            file.set_len(len - report.torn_bytes)
                .and_then(|()| file.sync_all())
                .map_err(io("cut torn hash record"))?;
        }
        return Ok((file, report));
    }
    // Rewrite without the bad records, durably (a sibling, synced, renamed over).
    let mut good = head.to_vec();
    good.reserve(bytes.len());
    for (index, record) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        if bad.binary_search(&index).is_err() {
            good.extend_from_slice(record);
        }
    }
    stockroom_vocab::durable::write_file(path, &good, None)
        .map_err(io("write rewritten hash file"))?;
    report.corrupt_records = bad.len();
    report.records = whole - bad.len();
    drop(file);
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(io("reopen hash file"))?;
    Ok((file, report))
}

/// Replaces the whole file with `records` under the current version, durably (a synced
/// sibling renamed over it): a crash leaves the old file or the new one.
pub fn replace(path: &Path, records: &[Record]) -> Result<()> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + records.len() * RECORD_LEN);
    bytes.extend_from_slice(&header(VERSION));
    for record in records {
        bytes.extend_from_slice(&record.encode());
    }
    stockroom_vocab::durable::write_file(path, &bytes, None).map_err(|source| DupesError::Io {
        what: "replace hash file",
        path: path.to_path_buf(),
        source,
    })
}

/// Appends records and makes them durable before returning.
pub fn append(file: &File, path: &Path, records: &[Record]) -> Result<()> {
    let mut bytes = Vec::with_capacity(records.len() * RECORD_LEN);
    for record in records {
        bytes.extend_from_slice(&record.encode());
    }
    let mut writer = file;
    writer
        .write_all(&bytes)
        .and_then(|()| file.sync_data())
        .map_err(|source| DupesError::Io {
            what: "append to hash file",
            path: path.to_path_buf(),
            source,
        })
}
