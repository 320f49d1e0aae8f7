//! Segment files: creation, memory mapping, appends, and the scan that finds valid records.
//!
//! The one `unsafe` operation in the store is here: mapping a segment file into memory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use crate::error::{Result, StoreError};
use crate::format::{ALIGN, HEADER_LEN, Header, MAGIC, RecordType, SEAL_RECORD_LEN};

/// File-name suffix of a live segment.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
/// File-name suffix of a segment that compaction is still writing.
pub(crate) const COMPACTING_SUFFIX: &str = ".compacting";

/// The file name of segment `number` with the given suffix.
pub(crate) fn file_name(number: u64, suffix: &str) -> String {
    format!("{number:010}{suffix}")
}

/// The segment number in a file name with the given suffix, if it is one.
pub(crate) fn parse_file_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 10 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One segment file and its read-only mapping.
///
/// The mapping may be longer than the file (an active segment is mapped at its full capacity
/// so appended records become readable without remapping). Only byte ranges of records that
/// were written and found valid are ever read through it.
#[derive(Debug)]
pub(crate) struct Segment {
    pub number: u64,
    pub path: PathBuf,
    file: File,
    map: Mmap,
}

impl Segment {
    /// Creates a new, empty segment file that can grow to `capacity` bytes.
    pub(crate) fn create(path: PathBuf, number: u64, capacity: u64) -> Result<Segment> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| StoreError::io("create segment", &path, source))?;
        Segment::map(path, number, file, capacity)
    }

    /// Opens an existing segment file for reading (and, during recovery, for cutting).
    pub(crate) fn open(path: PathBuf, number: u64) -> Result<Segment> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::io("open segment", &path, source))?;
        let len = file
            .metadata()
            .map_err(|source| StoreError::io("stat segment", &path, source))?
            .len();
        Segment::map(path, number, file, len)
    }

    fn map(path: PathBuf, number: u64, file: File, map_len: u64) -> Result<Segment> {
        let map_len = usize::try_from(map_len)
            .map_err(|_| StoreError::InvalidOptions("segment larger than the address space"))?;
        // SAFETY: the mapping is read-only and private to this process's view of a file that
        // only this store writes (the directory lock keeps other stockroom processes out). The
        // store appends to the file only past every byte range it hands out, and never
        // rewrites or shrinks a range once a record in it is visible, so no reference into the
        // mapping observes a change. Bytes past the end of the file are never read: every
        // slice is bounds-checked against a record that was written and validated. What
        // happens if another program truncates the file anyway is described in
        // ARCHITECTURE.md (reads past the new end fault with SIGBUS).
        #[allow(unsafe_code)]
        let map = unsafe { MmapOptions::new().len(map_len).map(&file) }
            .map_err(|source| StoreError::io("map segment", &path, source))?;
        Ok(Segment {
            number,
            path,
            file,
            map,
        })
    }

    /// The mapped bytes in `start..start + len`, or `None` past the mapping.
    pub(crate) fn slice(&self, start: u64, len: u64) -> Option<&[u8]> {
        let start = usize::try_from(start).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.map.get(start..end)
    }

    /// The file's current length on disk.
    pub(crate) fn file_len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|meta| meta.len())
            .map_err(|source| StoreError::io("stat segment", &self.path, source))
    }

    /// Writes `parts` one after another starting at `offset`.
    pub(crate) fn write_at(&self, offset: u64, parts: &[&[u8]]) -> Result<()> {
        let mut at = offset;
        for part in parts {
            self.file
                .write_all_at(part, at)
                .map_err(|source| StoreError::io("write segment", &self.path, source))?;
            at += part.len() as u64;
        }
        Ok(())
    }

    /// Shrinks (or grows) the file to `len` bytes.
    pub(crate) fn set_len(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|source| StoreError::io("truncate segment", &self.path, source))
    }

    /// Flushes the file's data (and the size needed to read it) to disk.
    pub(crate) fn sync(&self) -> Result<()> {
        crate::durable::sync_file(&self.file, &self.path)
    }

    /// Appends a seal record at `offset` and flushes the file.
    pub(crate) fn seal_at(&self, offset: u64, seq: u64) -> Result<()> {
        self.write_at(offset, &[&Header::seal(seq).encode()])?;
        self.sync()
    }
}

/// A valid record found by a scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub offset: u64,
    pub header: Header,
}

/// A byte range in which no valid record starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    pub offset: u64,
    pub len: u64,
}

/// What a scan of one segment's bytes found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub records: Vec<Found>,
    /// Unreadable ranges followed by valid records.
    pub holes: Vec<Gap>,
    /// An unreadable range after the last valid record (a torn write, if the segment is not
    /// sealed).
    pub tail: Option<Gap>,
    /// Whether the last valid record is a seal with nothing after it.
    pub sealed: bool,
}

/// How much checking a scan does per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyCheck {
    /// Trust a valid header (sealed segments: their bodies were flushed before the seal).
    HeaderOnly,
    /// Also hash every body (segments that were not closed cleanly may hold torn writes).
    HashBodies,
}

/// Whether `bytes` ends with a seal record.
pub(crate) fn ends_with_seal(bytes: &[u8]) -> bool {
    let Some(start) = bytes.len().checked_sub(SEAL_RECORD_LEN as usize) else {
        return false;
    };
    matches!(
        Header::decode(&bytes[start..]),
        Ok(Header {
            record_type: RecordType::Seal,
            ..
        })
    )
}

/// Finds every valid record in `bytes` (one segment's contents), skipping unreadable ranges.
pub(crate) fn scan(bytes: &[u8], check: BodyCheck) -> Scan {
    let mut scan = Scan::default();
    let end = bytes.len() as u64;
    let mut offset = 0u64;
    while offset < end {
        if let Some(header) = valid_record_at(bytes, offset, check) {
            scan.records.push(Found { offset, header });
            scan.sealed = header.record_type == RecordType::Seal;
            offset += header.record_len();
            continue;
        }
        scan.sealed = false;
        match next_valid_record(bytes, offset + ALIGN, check) {
            Some(next) => {
                scan.holes.push(Gap {
                    offset,
                    len: next - offset,
                });
                offset = next;
            }
            None => {
                scan.tail = Some(Gap {
                    offset,
                    len: end - offset,
                });
                break;
            }
        }
    }
    scan
}

/// The header at `offset` if a whole, valid record (padding included) starts there.
pub(crate) fn valid_record_at(bytes: &[u8], offset: u64, check: BodyCheck) -> Option<Header> {
    let start = usize::try_from(offset).ok()?;
    let header = Header::decode(bytes.get(start..)?).ok()?;
    let body_start = start.checked_add(HEADER_LEN)?;
    let body_end = body_start.checked_add(usize::try_from(header.body_len).ok()?)?;
    // A record is whole only with its padding, so the next record starts aligned.
    let record_end = start.checked_add(usize::try_from(header.record_len()).ok()?)?;
    if record_end > bytes.len() {
        return None;
    }
    let body = bytes.get(body_start..body_end)?;
    if check == BodyCheck::HashBodies && blake3::hash(body).as_bytes() != &header.body_hash {
        return None;
    }
    Some(header)
}

/// The first aligned offset at or after `from` where a valid record starts.
fn next_valid_record(bytes: &[u8], from: u64, check: BodyCheck) -> Option<u64> {
    let mut offset = from.next_multiple_of(ALIGN);
    let end = bytes.len() as u64;
    while offset + HEADER_LEN as u64 <= end {
        let start = offset as usize;
        if bytes[start..start + MAGIC.len()] == MAGIC
            && valid_record_at(bytes, offset, check).is_some()
        {
            return Some(offset);
        }
        offset += ALIGN;
    }
    None
}

/// Creates (or replaces) `path` with `bytes` and flushes it; the caller flushes the directory.
pub(crate) fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|source| StoreError::io("create", path, source))?;
    file.write_all(bytes)
        .map_err(|source| StoreError::io("write", path, source))?;
    crate::durable::sync_file(&file, path)
}

/// Flushes a directory so that files created, renamed or removed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    crate::durable::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{AssetId, Kind};

    fn record(asset: u64, seq: u64, body: &[u8]) -> Vec<u8> {
        let header = Header {
            record_type: RecordType::Put(Kind::Original),
            asset: AssetId::from_u64(asset),
            seq,
            body_len: body.len() as u64,
            body_hash: *blake3::hash(body).as_bytes(),
        };
        let mut out = header.encode().to_vec();
        out.extend_from_slice(body);
        out.resize(header.record_len() as usize, 0);
        out
    }

    #[test]
    fn file_names_round_trip_and_reject_strangers() {
        assert_eq!(file_name(42, SEGMENT_SUFFIX), "0000000042.seg");
        assert_eq!(parse_file_name("0000000042.seg", SEGMENT_SUFFIX), Some(42));
        assert_eq!(parse_file_name("42.seg", SEGMENT_SUFFIX), None);
        assert_eq!(parse_file_name("000000004x.seg", SEGMENT_SUFFIX), None);
        assert_eq!(
            parse_file_name("0000000042.compacting", SEGMENT_SUFFIX),
            None
        );
    }

    #[test]
    fn a_torn_last_record_becomes_the_tail() {
        let mut bytes = record(1, 1, b"first");
        let second = record(2, 2, &[7u8; 100]);
        let first_len = bytes.len() as u64;
        bytes.extend_from_slice(&second[..second.len() - 20]);
        let scan = scan(&bytes, BodyCheck::HeaderOnly);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(
            scan.tail,
            Some(Gap {
                offset: first_len,
                len: bytes.len() as u64 - first_len
            })
        );
        assert!(scan.holes.is_empty());
    }

    #[test]
    fn a_zeroed_body_is_caught_only_when_bodies_are_hashed() {
        let mut bytes = record(1, 1, b"first");
        let mut second = record(2, 2, &[7u8; 100]);
        second[HEADER_LEN..HEADER_LEN + 100].fill(0);
        bytes.extend_from_slice(&second);
        assert_eq!(scan(&bytes, BodyCheck::HeaderOnly).records.len(), 2);
        let hashed = scan(&bytes, BodyCheck::HashBodies);
        assert_eq!(hashed.records.len(), 1);
        assert!(hashed.tail.is_some());
    }

    #[test]
    fn records_after_a_damaged_one_are_still_found() {
        let mut bytes = record(1, 1, b"first");
        let damaged_at = bytes.len();
        bytes.extend_from_slice(&record(2, 2, b"second"));
        bytes.extend_from_slice(&record(3, 3, b"third"));
        bytes[damaged_at + 3] ^= 0xff;
        let scan = scan(&bytes, BodyCheck::HeaderOnly);
        let assets: Vec<u64> = scan
            .records
            .iter()
            .map(|found| found.header.asset.as_u64())
            .collect();
        assert_eq!(assets, vec![1, 3]);
        assert_eq!(scan.holes.len(), 1);
        assert_eq!(scan.holes[0].offset, damaged_at as u64);
        assert!(scan.tail.is_none());
    }

    #[test]
    fn a_seal_is_recognised_only_at_the_very_end() {
        let mut bytes = record(1, 1, b"first");
        bytes.extend_from_slice(&Header::seal(2).encode());
        assert!(ends_with_seal(&bytes));
        assert!(scan(&bytes, BodyCheck::HeaderOnly).sealed);
        bytes.extend_from_slice(&[0u8; 16]);
        assert!(!ends_with_seal(&bytes));
        assert!(!scan(&bytes, BodyCheck::HeaderOnly).sealed);
    }

    /// Mutates a valid segment at random (bit flips, cuts, splices of garbage and of
    /// shifted copies of itself) and checks that the scan never panics and that everything
    /// it reports lies within the input and tiles it: records, holes and tail.
    #[test]
    fn scanning_mangled_segments_never_panics_and_accounts_for_every_byte() {
        let mut clean = Vec::new();
        for n in 0..12u64 {
            clean.extend_from_slice(&record(n, n + 1, &vec![n as u8; (n * 37 % 300) as usize]));
        }
        clean.extend_from_slice(&Header::seal(99).encode());
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        for _ in 0..3_000 {
            let mut bytes = clean.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 4 {
                    0 => bytes[at] ^= 1 << (next() % 8),
                    1 => bytes.truncate(at),
                    2 => {
                        let garbage: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
                        bytes.splice(at..at, garbage);
                    }
                    _ => {
                        let from = (next() as usize) % clean.len();
                        let len = (next() as usize) % 400;
                        let copy = clean[from..(from + len).min(clean.len())].to_vec();
                        bytes.splice(at..at, copy);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            for check in [BodyCheck::HeaderOnly, BodyCheck::HashBodies] {
                let scan = scan(&bytes, check);
                let mut pieces: Vec<(u64, u64)> = scan
                    .records
                    .iter()
                    .map(|found| (found.offset, found.header.record_len()))
                    .chain(scan.holes.iter().map(|gap| (gap.offset, gap.len)))
                    .chain(scan.tail.iter().map(|gap| (gap.offset, gap.len)))
                    .collect();
                pieces.sort_unstable();
                let mut covered = 0;
                for (offset, len) in pieces {
                    assert_eq!(offset, covered, "pieces must tile the segment");
                    covered = offset + len;
                }
                assert_eq!(covered, bytes.len() as u64);
                for found in &scan.records {
                    assert!(valid_record_at(&bytes, found.offset, check).is_some());
                }
            }
        }
    }

    #[test]
    fn a_huge_declared_length_is_not_trusted() {
        let mut header = Header::decode(&record(1, 1, b"x")).expect("valid header");
        header.body_len = u64::MAX - 10;
        let bytes = header.encode().to_vec();
        let scan = scan(&bytes, BodyCheck::HeaderOnly);
        assert!(scan.records.is_empty());
        assert!(scan.tail.is_some());
    }
}
