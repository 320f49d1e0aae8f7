//! `stats`: counts and sizes, from the index and the segment files.

use std::collections::HashSet;

use crate::Store;
use crate::error::Result;
use crate::format::{Kind, record_len};

/// Live records of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Live records of the kind.
    pub records: u64,
    /// Bytes of the blobs themselves (no headers).
    pub bytes: u64,
}

/// A summary of what the store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segment files.
    pub segments: usize,
    /// Bytes of all segment files.
    pub disk_bytes: u64,
    /// Distinct assets with at least one live record.
    pub assets: usize,
    /// Live records by kind, in [`Kind::ALL`] order.
    pub kinds: Vec<(Kind, KindStats)>,
    /// Bytes compaction could reclaim: superseded and deleted records, tombstones, seals.
    pub reclaimable_bytes: u64,
}

impl Store {
    /// Counts live records by kind and measures the segment files.
    pub fn stats(&self) -> Result<Stats> {
        let segments = self.segments_now();
        let mut disk_bytes = 0;
        for segment in &segments {
            disk_bytes += segment.file_len()?;
        }
        let mut kinds: Vec<(Kind, KindStats)> = Kind::ALL
            .iter()
            .map(|&kind| (kind, KindStats::default()))
            .collect();
        let mut assets = HashSet::new();
        let mut live_record_bytes = 0;
        {
            let index = self
                .index
                .read()
                .unwrap_or_else(|poison| poison.into_inner());
            for (&(asset, kind), entry) in index.iter() {
                assets.insert(asset);
                live_record_bytes += record_len(entry.body_len);
                if let Some((_, stats)) = kinds.iter_mut().find(|(each, _)| *each == kind) {
                    stats.records += 1;
                    stats.bytes += entry.body_len;
                }
            }
        }
        Ok(Stats {
            segments: segments.len(),
            disk_bytes,
            assets: assets.len(),
            kinds,
            reclaimable_bytes: disk_bytes.saturating_sub(live_record_bytes),
        })
    }
}
