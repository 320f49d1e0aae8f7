//! Opening a store: finish interrupted compactions, scan segments, cut torn tails, rebuild
//! the index.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compact;
use crate::error::{Result, StoreError};
use crate::format::{AssetId, HEADER_LEN, Header, RecordType};
use crate::segment::{self, BodyCheck, Gap, SEGMENT_SUFFIX, Segment};
use crate::{Entry, Key};

/// Where the bytes of cut tails are kept, inside the store directory.
pub(crate) const LOST_AND_FOUND: &str = "lost+found";

/// A byte range of a segment in which no valid record could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRange {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the range starts.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// What opening the store found and repaired.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Segments that were not closed cleanly (a crash or kill) and were recovered.
    pub recovered_segments: Vec<PathBuf>,
    /// Unreadable ranges of recovered segments (torn writes), each copied to the file in
    /// `lost+found/` named beside it before it was cut or covered.
    pub set_aside: Vec<(UnreadableRange, PathBuf)>,
    /// Unreadable ranges followed by valid records: damage, not a torn write.
    pub unreadable: Vec<UnreadableRange>,
    /// Whether an interrupted compaction was finished (or its partial output removed).
    pub compaction_cleaned_up: bool,
}

/// What recovery hands to [`crate::Store::open`].
pub(crate) struct Recovered {
    pub segments: BTreeMap<u64, Arc<Segment>>,
    pub index: HashMap<Key, Entry>,
    pub max_seq: u64,
    pub report: OpenReport,
}

/// Brings the directory to a consistent state and indexes it.
pub(crate) fn recover(dir: &Path) -> Result<Recovered> {
    let mut report = OpenReport {
        compaction_cleaned_up: compact::clean_up_interrupted(dir)?,
        ..OpenReport::default()
    };
    let mut segments = BTreeMap::new();
    // For each key, the newest record seen: `None` when that record is a tombstone.
    let mut newest: HashMap<Key, (u64, Option<Entry>)> = HashMap::new();
    let mut max_seq = 0;
    for number in segment_numbers(dir)? {
        let path = dir.join(segment::file_name(number, SEGMENT_SUFFIX));
        let Some((segment, scan)) = open_segment(dir, path, number, &mut report)? else {
            continue;
        };
        let segment = Arc::new(segment);
        for hole in &scan.holes {
            report.unreadable.push(range(&segment.path, *hole));
        }
        for found in &scan.records {
            let header = found.header;
            max_seq = max_seq.max(header.seq);
            let (kind, entry) = match header.record_type {
                RecordType::Seal | RecordType::Padding => continue,
                RecordType::Tombstone(kind) => (kind, None),
                RecordType::Put(kind) => (
                    kind,
                    Some(Entry {
                        segment: Arc::clone(&segment),
                        offset: found.offset,
                        body_len: header.body_len,
                    }),
                ),
            };
            let slot = newest.entry((header.asset, kind)).or_insert((0, None));
            if header.seq >= slot.0 {
                *slot = (header.seq, entry);
            }
        }
        segments.insert(number, segment);
    }
    let index = newest
        .into_iter()
        .filter_map(|(key, (_, entry))| entry.map(|entry| (key, entry)))
        .collect();
    Ok(Recovered {
        segments,
        index,
        max_seq,
        report,
    })
}

/// Every segment number in `dir`, ascending.
pub(crate) fn segment_numbers(dir: &Path) -> Result<Vec<u64>> {
    let listing =
        fs::read_dir(dir).map_err(|source| StoreError::io("list store directory", dir, source))?;
    let mut numbers = Vec::new();
    for item in listing {
        let item = item.map_err(|source| StoreError::io("list store directory", dir, source))?;
        if let Some(number) = item
            .file_name()
            .to_str()
            .and_then(|name| segment::parse_file_name(name, SEGMENT_SUFFIX))
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Opens and scans one segment. An unsealed segment (its writer died) has every body hashed;
/// what cannot be read is copied to `lost+found/`, a torn tail is cut, unreadable ranges
/// between valid records are covered by padding records, and a seal is appended. Empty
/// segments are removed (`None`).
fn open_segment(
    dir: &Path,
    path: PathBuf,
    number: u64,
    report: &mut OpenReport,
) -> Result<Option<(Segment, segment::Scan)>> {
    let segment = Segment::open(path.clone(), number)?;
    let len = segment.file_len()?;
    let bytes = segment.slice(0, len).unwrap_or_default();
    if segment::ends_with_seal(bytes) {
        let scan = segment::scan(bytes, BodyCheck::HeaderOnly);
        return Ok(Some((segment, scan)));
    }
    let mut scan = segment::scan(bytes, BodyCheck::HashBodies);
    for gap in scan.holes.iter().chain(scan.tail.iter()) {
        let kept = keep_lost_bytes(dir, number, *gap, bytes)?;
        report.set_aside.push((range(&path, *gap), kept));
    }
    if scan.records.is_empty() {
        drop(segment);
        fs::remove_file(&path)
            .map_err(|source| StoreError::io("remove empty segment", &path, source))?;
        segment::sync_dir(dir)?;
        return Ok(None);
    }
    let valid_end = scan.tail.map_or(len, |tail| tail.offset);
    segment.set_len(valid_end)?;
    for hole in std::mem::take(&mut scan.holes) {
        cover_with_padding(&segment, hole)?;
    }
    let seal_seq = scan
        .records
        .iter()
        .map(|found| found.header.seq)
        .max()
        .unwrap_or(0);
    segment.seal_at(valid_end, seal_seq)?;
    report.recovered_segments.push(path.clone());
    // Map the repaired file afresh so the mapping covers exactly what is now there. Record
    // offsets are unchanged, so the hashed scan still describes it.
    drop(segment);
    scan.tail = None;
    scan.sealed = true;
    Ok(Some((Segment::open(path, number)?, scan)))
}

/// Writes a padding header over an unreadable range between two valid records, so later
/// header-only scans step over it rather than trusting a header whose body was torn.
fn cover_with_padding(segment: &Segment, hole: Gap) -> Result<()> {
    let Some(body_len) = hole.len.checked_sub(HEADER_LEN as u64) else {
        // Too short to hold a header; later scans will report it as unreadable.
        return Ok(());
    };
    let body = segment
        .slice(hole.offset + HEADER_LEN as u64, body_len)
        .unwrap_or_default();
    let header = Header {
        record_type: RecordType::Padding,
        asset: AssetId::from_u64(0),
        seq: 0,
        body_len,
        body_hash: *blake3::hash(body).as_bytes(),
    };
    debug_assert_eq!(header.record_len(), hole.len);
    segment.write_at(hole.offset, &[&header.encode()])
}

/// Copies unreadable bytes into `lost+found/` (flushed) before they are cut or covered, so
/// bytes the scan could not read are never destroyed, only moved aside.
fn keep_lost_bytes(dir: &Path, number: u64, gap: Gap, bytes: &[u8]) -> Result<PathBuf> {
    let lost_dir = dir.join(LOST_AND_FOUND);
    fs::create_dir_all(&lost_dir).map_err(|source| StoreError::io("create", &lost_dir, source))?;
    let path = lost_dir.join(format!("{number:010}-{}.bin", gap.offset));
    let start = gap.offset as usize;
    let end = start + gap.len as usize;
    segment::write_file_durably(&path, &bytes[start..end])?;
    segment::sync_dir(&lost_dir)?;
    Ok(path)
}

fn range(path: &Path, gap: Gap) -> UnreadableRange {
    UnreadableRange {
        segment: path.to_path_buf(),
        offset: gap.offset,
        len: gap.len,
    }
}
