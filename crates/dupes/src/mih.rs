//! Multi-index hashing tables: for each of the 16 slots of 16 bits, the records grouped by
//! slot value (a counting sort into one offsets array and one id array per slot).

use stockroom_phash::Hash256;

use crate::file::{self, RECORD_LEN};

pub const SLOTS: usize = 16;
const BUCKETS: usize = 1 << 16;

/// Probing each slot within `threshold / 16` bits finds every hash within `threshold`
/// (pigeonhole). Radius 2 (137 probes per slot) covers up to 47; beyond, scan.
pub const MAX_THRESHOLD: u32 = 47;

#[derive(Debug, Default)]
pub struct Tables {
    /// `SLOTS × (BUCKETS + 1)` start offsets into `ids`, per slot.
    offsets: Vec<u32>,
    /// `SLOTS × records` record indexes, grouped by slot value within each slot.
    ids: Vec<u32>,
    records: usize,
}

impl Tables {
    /// Builds the tables over `records` encoded records in `bytes`. Removal records are
    /// left out (they carry no hash).
    pub fn build(bytes: &[u8], records: usize) -> Tables {
        let hashes: Vec<Option<Hash256>> = bytes
            .chunks_exact(RECORD_LEN)
            .take(records)
            .map(|record| (record[42] & file::FLAG_REMOVED == 0).then(|| file::hash_at(record, 0)))
            .collect();
        let mut offsets = vec![0u32; SLOTS * (BUCKETS + 1)];
        let mut ids = vec![0u32; SLOTS * records];
        for slot in 0..SLOTS {
            let offsets = &mut offsets[slot * (BUCKETS + 1)..(slot + 1) * (BUCKETS + 1)];
            for hash in hashes.iter().flatten() {
                offsets[usize::from(hash.slot(slot)) + 1] += 1;
            }
            for bucket in 0..BUCKETS {
                offsets[bucket + 1] += offsets[bucket];
            }
            let mut next: Vec<u32> = offsets[..BUCKETS].to_vec();
            let ids = &mut ids[slot * records..(slot + 1) * records];
            for (index, hash) in hashes.iter().enumerate() {
                if let Some(hash) = hash {
                    let bucket = usize::from(hash.slot(slot));
                    ids[next[bucket] as usize] = index as u32;
                    next[bucket] += 1;
                }
            }
        }
        Tables {
            offsets,
            ids,
            records,
        }
    }

    /// Calls `candidate` with every record index that may be within `threshold` of `hash`
    /// (some more than once; the caller checks the full distance).
    pub fn probe(&self, hash: &Hash256, threshold: u32, mut candidate: impl FnMut(u32)) {
        if self.records == 0 {
            return;
        }
        let radius = threshold / SLOTS as u32;
        for slot in 0..SLOTS {
            let offsets = &self.offsets[slot * (BUCKETS + 1)..(slot + 1) * (BUCKETS + 1)];
            let ids = &self.ids[slot * self.records..(slot + 1) * self.records];
            let mut bucket = |value: u16| {
                let start = offsets[usize::from(value)] as usize;
                let end = offsets[usize::from(value) + 1] as usize;
                ids[start..end].iter().for_each(|&id| candidate(id));
            };
            let value = hash.slot(slot);
            bucket(value);
            if radius >= 1 {
                for a in 0..16 {
                    bucket(value ^ (1 << a));
                    if radius >= 2 {
                        for b in a + 1..16 {
                            bucket(value ^ (1 << a) ^ (1 << b));
                        }
                    }
                }
            }
        }
    }
}
