//! Compaction: rewrite every live record into fresh segments and delete the old ones.
//!
//! Crash safety rests on one marker file. Outputs are written as `*.compacting`, sealed and
//! flushed; then `COMPACTION` (listing inputs and outputs) is written atomically; then the
//! outputs are renamed to `*.seg` and the inputs deleted; then the marker goes. On open, a
//! marker means "finish the swap"; `*.compacting` files without one are an abandoned attempt
//! and are removed. Inputs are only deleted once their replacements are durable, and all of
//! them go together, so a tombstone can never be deleted while an older record it hides
//! survives.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Result, StoreError};
use crate::format::{HEADER_LEN, RecordType, SEAL_RECORD_LEN, padding, record_len};
use crate::segment::{self, BodyCheck, COMPACTING_SUFFIX, SEGMENT_SUFFIX, Segment};
use crate::{Entry, Key, Store};

const MARKER: &str = "COMPACTION";
const MARKER_TMP: &str = "COMPACTION.tmp";
const MARKER_TITLE: &str = "stockroom compaction v1";

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Segment files before.
    pub segments_before: usize,
    /// Segment files after.
    pub segments_after: usize,
    /// Bytes on disk before.
    pub bytes_before: u64,
    /// Bytes on disk after.
    pub bytes_after: u64,
    /// Live records rewritten.
    pub records_kept: u64,
    /// Overwritten records, deleted records and tombstones left behind.
    pub records_dropped: u64,
}

/// A live record copied to an output segment.
struct Moved {
    key: Key,
    from_segment: u64,
    from_offset: u64,
    to_segment: u64,
    to_offset: u64,
}

/// The output segments being written.
struct Output<'store> {
    store: &'store Store,
    current: Option<(Segment, u64)>,
    max_seq: u64,
    finished: Vec<u64>,
}

impl Output<'_> {
    /// Appends one record (its original header bytes, so sequence numbers are kept).
    fn append(&mut self, header: &[u8], body: &[u8]) -> Result<(u64, u64)> {
        let total = record_len(body.len() as u64);
        let capacity = self.store.options.segment_capacity;
        let full = matches!(&self.current, Some((_, offset)) if offset + total + SEAL_RECORD_LEN > capacity);
        if full {
            self.finish_current()?;
        }
        if self.current.is_none() {
            let number = self
                .store
                .writer
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .allocate_segment_number();
            let path = self
                .store
                .dir
                .join(segment::file_name(number, COMPACTING_SUFFIX));
            self.current = Some((Segment::create(path, number, capacity)?, 0));
        }
        let Some((segment, offset)) = self.current.as_mut() else {
            unreachable!("an output segment was just created");
        };
        segment.write_at(*offset, &[header, body, padding(body.len() as u64)])?;
        let at = (segment.number, *offset);
        *offset += total;
        Ok(at)
    }

    fn finish_current(&mut self) -> Result<()> {
        if let Some((segment, offset)) = self.current.take() {
            segment.seal_at(offset, self.max_seq)?;
            self.finished.push(segment.number);
        }
        Ok(())
    }

    /// Removes every output file written so far (on a failed compaction).
    fn abandon(mut self) {
        if let Some((segment, _)) = self.current.take() {
            let _ = fs::remove_file(&segment.path);
        }
        for number in self.finished.drain(..) {
            let name = segment::file_name(number, COMPACTING_SUFFIX);
            let _ = fs::remove_file(self.store.dir.join(name));
        }
    }
}

impl Store {
    /// Rewrites every live record into fresh segments and deletes the old ones, reclaiming
    /// the space of overwritten and deleted records. Writers and readers carry on meanwhile;
    /// new writes go to a segment that this compaction leaves alone.
    ///
    /// Refuses to run while the store has unreadable ranges (which might hide records), and
    /// stops without deleting anything if a live record's bytes fail their hash.
    pub fn compact(&self) -> Result<CompactReport> {
        let _one_at_a_time = self
            .compacting
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Unreadable ranges found on open might hide records that compaction would drop.
        if let Some(range) = self.report.unreadable.first() {
            return Err(StoreError::UnreadableRegion {
                segment: range.segment.clone(),
                offset: range.offset,
                bytes: range.len,
            });
        }
        let (inputs, last_seq) = {
            let mut writer = self
                .writer
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if self.poisoned.load(Ordering::Acquire) {
                return Err(StoreError::Poisoned);
            }
            self.seal_locked(&mut writer)?;
            let segments = self
                .segments
                .read()
                .unwrap_or_else(|poison| poison.into_inner());
            (
                segments.values().cloned().collect::<Vec<_>>(),
                writer.last_seq(),
            )
        };
        // Publish every record in the inputs, so the index says which of them are live.
        self.commit(last_seq)?;

        let mut report = CompactReport {
            segments_before: inputs.len(),
            ..CompactReport::default()
        };
        let mut output = Output {
            store: self,
            current: None,
            max_seq: last_seq,
            finished: Vec::new(),
        };
        let mut moved = Vec::new();
        for input in &inputs {
            let copied = self.copy_live_records(input, &mut output, &mut moved, &mut report);
            if let Err(error) = copied {
                output.abandon();
                return Err(error);
            }
        }
        if let Err(error) = output.finish_current() {
            output.abandon();
            return Err(error);
        }
        let outputs = std::mem::take(&mut output.finished);
        if let Err(error) = self.swap_in(&inputs, &outputs, &moved, &mut report) {
            // The marker may be on disk with the swap half done. Only the next open may finish
            // it: another compaction here would overwrite the marker and could orphan
            // outputs holding records whose tombstones it then drops. Reads carry on.
            self.poisoned.store(true, Ordering::Release);
            return Err(error);
        }
        Ok(report)
    }

    /// Copies the live records of one input segment, checking each body's hash.
    fn copy_live_records(
        &self,
        input: &Segment,
        output: &mut Output<'_>,
        moved: &mut Vec<Moved>,
        report: &mut CompactReport,
    ) -> Result<()> {
        let len = input.file_len()?;
        report.bytes_before += len;
        let bytes = input.slice(0, len).unwrap_or_default();
        let scan = segment::scan(bytes, BodyCheck::HeaderOnly);
        if let Some(gap) = scan.holes.first().or(scan.tail.as_ref()) {
            return Err(StoreError::UnreadableRegion {
                segment: input.path.clone(),
                offset: gap.offset,
                bytes: gap.len,
            });
        }
        for found in scan.records {
            let header = found.header;
            let kind = match header.record_type {
                RecordType::Put(kind) => kind,
                RecordType::Tombstone(_) => {
                    report.records_dropped += 1;
                    continue;
                }
                RecordType::Seal | RecordType::Padding => continue,
            };
            let key = (header.asset, kind);
            let live = self
                .index
                .read()
                .unwrap_or_else(|poison| poison.into_inner())
                .get(&key)
                .is_some_and(|entry| entry.is_at(input.number, found.offset));
            if !live {
                report.records_dropped += 1;
                continue;
            }
            let header_bytes = input
                .slice(found.offset, HEADER_LEN as u64)
                .unwrap_or_default();
            let body = input
                .slice(found.offset + HEADER_LEN as u64, header.body_len)
                .unwrap_or_default();
            if blake3::hash(body).as_bytes() != &header.body_hash {
                return Err(StoreError::CorruptRecord {
                    segment: input.path.clone(),
                    offset: found.offset,
                    asset: header.asset,
                    kind,
                });
            }
            let (to_segment, to_offset) = output.append(header_bytes, body)?;
            moved.push(Moved {
                key,
                from_segment: input.number,
                from_offset: found.offset,
                to_segment,
                to_offset,
            });
            report.records_kept += 1;
        }
        Ok(())
    }

    /// Makes the outputs live and the inputs gone, in the crash-safe order the module
    /// describes.
    fn swap_in(
        &self,
        inputs: &[Arc<Segment>],
        outputs: &[u64],
        moved: &[Moved],
        report: &mut CompactReport,
    ) -> Result<()> {
        let input_numbers: Vec<u64> = inputs.iter().map(|segment| segment.number).collect();
        write_marker(&self.dir, &input_numbers, outputs)?;
        let mut opened = BTreeMap::new();
        for &number in outputs {
            let from = self.dir.join(segment::file_name(number, COMPACTING_SUFFIX));
            let to = self.dir.join(segment::file_name(number, SEGMENT_SUFFIX));
            fs::rename(&from, &to).map_err(|source| StoreError::io("rename", &from, source))?;
            let segment = Segment::open(to, number)?;
            report.bytes_after += segment.file_len()?;
            opened.insert(number, Arc::new(segment));
        }
        segment::sync_dir(&self.dir)?;
        {
            let mut index = self
                .index
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            for record in moved {
                let Some(entry) = index.get_mut(&record.key) else {
                    continue;
                };
                // Skip keys rewritten or deleted while compaction ran: the newer record wins.
                if !entry.is_at(record.from_segment, record.from_offset) {
                    continue;
                }
                *entry = Entry {
                    segment: Arc::clone(&opened[&record.to_segment]),
                    offset: record.to_offset,
                    body_len: entry.body_len,
                };
            }
        }
        {
            let mut segments = self
                .segments
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            for number in &input_numbers {
                segments.remove(number);
            }
            segments.extend(opened);
            report.segments_after = segments.len();
        }
        for input in inputs {
            fs::remove_file(&input.path)
                .map_err(|source| StoreError::io("remove", &input.path, source))?;
        }
        segment::sync_dir(&self.dir)?;
        remove_marker(&self.dir)
    }
}

/// Writes the marker atomically: a temporary file, flushed, renamed into place.
fn write_marker(dir: &Path, inputs: &[u64], outputs: &[u64]) -> Result<()> {
    let join = |numbers: &[u64]| {
        numbers
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = format!(
        "{MARKER_TITLE}\ninputs {}\noutputs {}\n",
        join(inputs),
        join(outputs)
    );
    let tmp = dir.join(MARKER_TMP);
    segment::write_file_durably(&tmp, text.as_bytes())?;
    fs::rename(&tmp, dir.join(MARKER)).map_err(|source| StoreError::io("rename", &tmp, source))?;
    segment::sync_dir(dir)
}

fn remove_marker(dir: &Path) -> Result<()> {
    let marker = dir.join(MARKER);
    fs::remove_file(&marker).map_err(|source| StoreError::io("remove", &marker, source))?;
    segment::sync_dir(dir)
}

/// Parses the marker into (inputs, outputs).
fn read_marker(path: &Path) -> Result<(Vec<u64>, Vec<u64>)> {
    let text = fs::read_to_string(path).map_err(|source| StoreError::io("read", path, source))?;
    let mut lines = text.lines();
    let malformed = || StoreError::MalformedMarker {
        path: path.to_path_buf(),
    };
    if lines.next() != Some(MARKER_TITLE) {
        return Err(malformed());
    }
    let mut numbers = |label: &str| -> Result<Vec<u64>> {
        let line = lines.next().ok_or_else(malformed)?;
        let rest = line.strip_prefix(label).ok_or_else(malformed)?;
        rest.split_whitespace()
            .map(|word| word.parse().map_err(|_| malformed()))
            .collect()
    };
    let inputs = numbers("inputs")?;
    let outputs = numbers("outputs")?;
    Ok((inputs, outputs))
}

/// Finishes a compaction that was interrupted after its marker was written, and removes the
/// output of one that was interrupted before. Returns whether there was anything to do.
pub(crate) fn clean_up_interrupted(dir: &Path) -> Result<bool> {
    let mut did_something = false;
    let tmp = dir.join(MARKER_TMP);
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(|source| StoreError::io("remove", &tmp, source))?;
        did_something = true;
    }
    let marker = dir.join(MARKER);
    if marker.exists() {
        let (inputs, outputs) = read_marker(&marker)?;
        for number in outputs {
            let from = dir.join(segment::file_name(number, COMPACTING_SUFFIX));
            if from.exists() {
                let to = dir.join(segment::file_name(number, SEGMENT_SUFFIX));
                fs::rename(&from, &to).map_err(|source| StoreError::io("rename", &from, source))?;
            }
        }
        segment::sync_dir(dir)?;
        for number in inputs {
            let input = dir.join(segment::file_name(number, SEGMENT_SUFFIX));
            if input.exists() {
                fs::remove_file(&input)
                    .map_err(|source| StoreError::io("remove", &input, source))?;
            }
        }
        segment::sync_dir(dir)?;
        remove_marker(dir)?;
        did_something = true;
    }
    let listing =
        fs::read_dir(dir).map_err(|source| StoreError::io("list store directory", dir, source))?;
    for item in listing {
        let item = item.map_err(|source| StoreError::io("list store directory", dir, source))?;
        let name = item.file_name();
        let abandoned = name
            .to_str()
            .and_then(|name| segment::parse_file_name(name, COMPACTING_SUFFIX))
            .is_some();
        if abandoned {
            let path = item.path();
            fs::remove_file(&path).map_err(|source| StoreError::io("remove", &path, source))?;
            did_something = true;
        }
    }
    if did_something {
        segment::sync_dir(dir)?;
    }
    Ok(did_something)
}
