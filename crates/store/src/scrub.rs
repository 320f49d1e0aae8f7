//! Scrubbing: the bytes of records that are no longer live (the earlier versions of a key,
//! and the last version of a deleted one) overwritten now, rather than at the next
//! compaction. An erasure needs it: an erased member's name was in a metadata record that
//! has since been replaced and in the EXIF of previews that have since been deleted, and
//! rewriting the whole store to drop them would cost as much as the store is large.
//!
//! Each dead record of the keys asked for becomes a padding record of zeros (the record
//! type recovery already steps over), the same length, so that every other record keeps
//! its offset. The bodies are zeroed and flushed first, then the headers are written and
//! flushed: a crash between the two leaves old headers over zero bodies, which a hashed
//! scan sets aside as unreadable zeros, never the old bytes.
//!
//! Which records are dead is decided by sequence number alone: for each key, only records
//! already durable count, the newest of them (a put or a tombstone) is left alone, and every
//! older put is scrubbed. A write in flight is newer than all of them and is never touched.
//! Compaction waits meanwhile (it moves records between files).

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::format::{HEADER_LEN, Header, RecordType};
use crate::segment::{self, BodyCheck, Segment};
use crate::{AssetId, Key, Kind, Store};

/// A record to overwrite: where it starts and how long it is, header included.
struct Dead {
    offset: u64,
    len: u64,
}

impl Store {
    /// Overwrites every record of `keys` other than the newest durable one with zeros,
    /// durably; returns how many records were scrubbed. The live bytes of each key are
    /// untouched.
    pub fn scrub(&self, keys: &[(AssetId, Kind)]) -> Result<u64> {
        let _one_at_a_time = self
            .compacting
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let wanted: HashSet<Key> = keys.iter().copied().collect();
        if wanted.is_empty() {
            return Ok(0);
        }
        let durable = self.durable_seq();
        let written_end = self.written_end();
        let segments = self.segments_now();
        // Every durable record of a wanted key: (seq, segment index, offset, length, put?).
        let mut found: HashMap<Key, Vec<(u64, usize, Dead, bool)>> = HashMap::new();
        for (at, segment) in segments.iter().enumerate() {
            let len = match written_end {
                Some((number, end)) if number == segment.number => end,
                _ => segment.file_len()?,
            };
            let bytes = segment.slice(0, len).unwrap_or_default();
            for record in segment::scan(bytes, BodyCheck::HeaderOnly).records {
                let header = record.header;
                let (kind, put) = match header.record_type {
                    RecordType::Put(kind) => (kind, true),
                    RecordType::Tombstone(kind) => (kind, false),
                    RecordType::Seal | RecordType::Padding => continue,
                };
                let key = (header.asset, kind);
                if header.seq > durable || !wanted.contains(&key) {
                    continue;
                }
                let dead = Dead {
                    offset: record.offset,
                    len: header.record_len(),
                };
                found
                    .entry(key)
                    .or_default()
                    .push((header.seq, at, dead, put));
            }
        }
        let mut by_segment: HashMap<usize, Vec<Dead>> = HashMap::new();
        for mut records in found.into_values() {
            records.sort_by_key(|(seq, ..)| *seq);
            records.pop(); // the newest: live, or the tombstone that hides the rest
            for (_, at, dead, put) in records {
                if put {
                    by_segment.entry(at).or_default().push(dead);
                }
            }
        }
        let mut scrubbed = 0;
        for (at, dead) in by_segment {
            scrub_segment(&segments[at], &dead)?;
            scrubbed += dead.len() as u64;
        }
        Ok(scrubbed)
    }
}

/// Zeroes the bodies, flushes, then writes padding headers over them and flushes again.
fn scrub_segment(segment: &Segment, dead: &[Dead]) -> Result<()> {
    const CHUNK: usize = 64 * 1024;
    let zeros = vec![0u8; CHUNK];
    for record in dead {
        let mut at = record.offset + HEADER_LEN as u64;
        let end = record.offset + record.len;
        while at < end {
            let part = ((end - at) as usize).min(CHUNK);
            segment.write_at(at, &[&zeros[..part]])?;
            at += part as u64;
        }
    }
    segment.sync()?;
    for record in dead {
        let body_len = record.len - HEADER_LEN as u64;
        let mut hasher = blake3::Hasher::new();
        let mut left = body_len;
        while left > 0 {
            let part = (left as usize).min(CHUNK);
            hasher.update(&zeros[..part]);
            left -= part as u64;
        }
        let header = Header {
            record_type: RecordType::Padding,
            asset: AssetId::from_u64(0),
            seq: 0,
            body_len,
            body_hash: *hasher.finalize().as_bytes(),
        };
        debug_assert_eq!(header.record_len(), record.len);
        segment.write_at(record.offset, &[&header.encode()])?;
    }
    segment.sync()
}
