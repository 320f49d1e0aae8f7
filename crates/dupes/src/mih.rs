//! Multi-index hashing tables: for each of the 16 slots of 16 bits, the records grouped by
//! slot value (a counting sort into one offsets array and one id array per slot).
//!
//! A slot is a diagonal of PDQ's 16×16 grid of DCT bits (one bit from each row and each
//! column), not a row: a row is one vertical frequency, and photographs share its patterns
//! (the fullest row bucket of 1 M real-photo hashes held 2,435 of them, the fullest
//! diagonal bucket 692; uniform bits would give ~15), and every hash in a probed bucket is
//! a candidate to check. Diagonals cut the candidates per query by a third.

use memmap2::{Advice, MmapMut};
use stockroom_phash::Hash256;

use crate::file::{self, RECORD_LEN};

/// Zeroed anonymous memory, in transparent huge pages where the kernel allows (madvise
/// mode is the common default). The search reads these arrays at random; with 4 KiB pages
/// nearly every candidate check also missed the TLB.
pub fn huge_zeroed(len: usize) -> MmapMut {
    let map = MmapMut::map_anon(len.max(1)).unwrap_or_else(|_| {
        // Out of address space for an anonymous map is out of memory: as a Vec would.
        std::alloc::handle_alloc_error(std::alloc::Layout::new::<u64>())
    });
    let _ = map.advise(Advice::HugePage);
    map
}

/// Every record's hash, 32 bytes apiece in record order, in huge pages: what a candidate
/// check reads. Removal records have a zero hash and are never candidates.
#[derive(Debug)]
pub struct Hashes {
    bytes: MmapMut,
}

impl Hashes {
    pub fn build(records: &[u8]) -> Hashes {
        let count = records.len() / RECORD_LEN;
        let mut bytes = huge_zeroed(count * 32);
        for (record, out) in records
            .chunks_exact(RECORD_LEN)
            .zip(bytes.chunks_exact_mut(32))
        {
            out.copy_from_slice(&record[8..40]);
        }
        Hashes { bytes }
    }

    #[inline]
    pub fn get(&self, index: u32) -> Hash256 {
        let at = index as usize * 32;
        Hash256([
            file::word(&self.bytes, at),
            file::word(&self.bytes, at + 8),
            file::word(&self.bytes, at + 16),
            file::word(&self.bytes, at + 24),
        ])
    }
}

pub const SLOTS: usize = 16;
const BUCKETS: usize = 1 << 16;

/// Probing each slot within `threshold / 16` bits finds every hash within `threshold`
/// (pigeonhole). Radius 3 (697 probes per slot) covers up to 63; beyond, scan.
pub const MAX_THRESHOLD: u32 = 63;

#[derive(Debug, Default)]
pub struct Tables {
    /// `SLOTS × (BUCKETS + 1)` start offsets into `ids`, per slot.
    offsets: Vec<u32>,
    /// `SLOTS × records` record indexes, grouped by slot value within each slot, as
    /// little-endian u32s in huge pages.
    ids: Option<MmapMut>,
    records: usize,
}

/// The 16 slot keys of a hash: key `s` takes bit `16 i + (i + s) % 16` as its bit `i`.
/// A permutation of the hash's bits, so one bit flipped in the hash flips one key bit.
#[inline]
pub fn slot_keys(hash: &Hash256) -> [u16; SLOTS] {
    let mut keys = [0u16; SLOTS];
    for row in 0..SLOTS {
        let rotated = hash.slot(row).rotate_right(row as u32);
        for (slot, key) in keys.iter_mut().enumerate() {
            *key |= ((rotated >> slot) & 1) << row;
        }
    }
    keys
}

impl Tables {
    /// Builds the tables over the encoded records in `bytes`. Removal records are left out
    /// (they carry no hash).
    pub fn build(bytes: &[u8]) -> Tables {
        let records = bytes.len() / RECORD_LEN;
        let keys: Vec<Option<[u16; SLOTS]>> = bytes
            .chunks_exact(RECORD_LEN)
            .map(|record| {
                (record[42] & file::FLAG_REMOVED == 0).then(|| slot_keys(&file::hash_at(record, 0)))
            })
            .collect();
        let mut offsets = vec![0u32; SLOTS * (BUCKETS + 1)];
        let mut ids = huge_zeroed(SLOTS * records * 4);
        for slot in 0..SLOTS {
            let offsets = &mut offsets[slot * (BUCKETS + 1)..(slot + 1) * (BUCKETS + 1)];
            for keys in keys.iter().flatten() {
                offsets[usize::from(keys[slot]) + 1] += 1;
            }
            for bucket in 0..BUCKETS {
                offsets[bucket + 1] += offsets[bucket];
            }
            let mut next: Vec<u32> = offsets[..BUCKETS].to_vec();
            let ids = &mut ids[slot * records * 4..(slot + 1) * records * 4];
            for (index, keys) in keys.iter().enumerate() {
                if let Some(keys) = keys {
                    let bucket = usize::from(keys[slot]);
                    let at = next[bucket] as usize * 4;
                    ids[at..at + 4].copy_from_slice(&(index as u32).to_le_bytes());
                    next[bucket] += 1;
                }
            }
        }
        Tables {
            offsets,
            ids: Some(ids),
            records,
        }
    }

    /// Calls `candidate` with every record index that may be within `threshold` of `hash`
    /// (some more than once; the caller checks the full distance).
    pub fn probe(&self, hash: &Hash256, threshold: u32, mut candidate: impl FnMut(u32)) {
        let Some(ids) = self.ids.as_deref() else {
            return;
        };
        if self.records == 0 {
            return;
        }
        let radius = threshold / SLOTS as u32;
        let keys = slot_keys(hash);
        for (slot, &value) in keys.iter().enumerate() {
            let offsets = &self.offsets[slot * (BUCKETS + 1)..(slot + 1) * (BUCKETS + 1)];
            let ids = &ids[slot * self.records * 4..(slot + 1) * self.records * 4];
            let mut bucket = |value: u16| {
                let start = offsets[usize::from(value)] as usize;
                let end = offsets[usize::from(value) + 1] as usize;
                for id in ids[start * 4..end * 4].chunks_exact(4) {
                    candidate(u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
                }
            };
            bucket(value);
            if radius >= 1 {
                for a in 0..16 {
                    bucket(value ^ (1 << a));
                    if radius >= 2 {
                        for b in a + 1..16 {
                            bucket(value ^ (1 << a) ^ (1 << b));
                            if radius >= 3 {
                                for c in b + 1..16 {
                                    bucket(value ^ (1 << a) ^ (1 << b) ^ (1 << c));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
