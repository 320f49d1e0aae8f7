//! The duplicate index: every PDQ hash of every indexed photo, searched exactly for all
//! hashes within a Hamming distance of a query.
//!
//! Hashes live in one append-only file in the data dir ([`file`] has the layout), mapped
//! with memmap2. Search uses multi-index hashing: each 256-bit hash is cut into 16 slots of
//! 16 bits, and a table per slot lists the records with each slot value. Two hashes within
//! distance 31 must agree to within one bit in at least one slot (16 slots × 2 bits > 31),
//! so probing each slot's value and its 16 one-bit neighbours finds every match; each
//! candidate is then checked with a full popcount. The tables are rebuilt from the mapped
//! file at open (a counting sort over every record) rather than stored, so they can never
//! disagree with it. Records appended since are scanned linearly until
//! there are enough of them to be worth a rebuild.

#![warn(missing_docs)]

mod error;
mod file;
mod mih;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};
use stockroom_phash::{Hash256, Pdq, Region, Transform};

pub use error::{DupesError, Result};
pub use file::OpenReport;
use file::{FLAG_RELIABLE, FLAG_REMOVED, HEADER_LEN, RECORD_LEN, Record};

/// Default match threshold: PDQ's recommended 31 of 256 bits.
pub const DEFAULT_THRESHOLD: u32 = 31;

/// One hash to look up: a region of the query image, undone by a transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The query region's PDQ hash, undone by `transform`.
    pub hash: Hash256,
    /// Which part of the query image it hashes.
    pub region: Region,
    /// The rotation or flip the hash was computed under.
    pub transform: Transform,
    /// Bits this lookup may match beyond the threshold, or (negative) must stay inside it
    /// (see [`Region::margin`]).
    pub margin: i32,
}

impl Query {
    /// A lookup with the margin its region and transform carry.
    pub fn new(hash: Hash256, region: Region, transform: Transform) -> Query {
        Query {
            hash,
            region,
            transform,
            margin: region.margin(transform),
        }
    }

    /// Distance this lookup may match within under `threshold` (`None`: none).
    fn limit(&self, threshold: u32) -> Option<u32> {
        u32::try_from(threshold as i32 + self.margin).ok()
    }
}

/// The best match with one indexed asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The indexed asset (its id's 64 bits).
    pub asset: u64,
    /// Hamming distance of the two hashes.
    pub distance: u32,
    /// `distance` less the lookup's margin: what the threshold and the order apply to.
    pub score: i32,
    /// How the query relates to the asset (`Rot90`: the query is the asset turned clockwise).
    pub transform: Transform,
    /// Which part of the query matched.
    pub query_region: Region,
    /// Which indexed part of the asset it matched.
    pub indexed_region: Region,
    /// The indexed image's hash was reliable (quality and not two-tone).
    pub reliable: bool,
}

/// The index, open on its file.
#[derive(Debug)]
pub struct DupIndex {
    path: PathBuf,
    file: File,
    /// Bytes of the file the process has written or found valid.
    len: u64,
    /// The file as of the last (re)build; records `0..base` are in the tables.
    map: Option<Mmap>,
    base: usize,
    tables: mih::Tables,
    /// The base records' hashes, compact and in huge pages, for candidate checks.
    hashes: mih::Hashes,
    /// Records appended since the last build, scanned linearly.
    recent: Vec<Record>,
    removed: HashSet<u64>,
    report: OpenReport,
}

impl DupIndex {
    /// Opens the index at `path` (created if missing), repairing a torn tail.
    pub fn open(path: impl AsRef<Path>) -> Result<DupIndex> {
        let path = path.as_ref().to_path_buf();
        let (file, report) = file::open(&path)?;
        let mut index = DupIndex {
            len: (HEADER_LEN + report.records * RECORD_LEN) as u64,
            path,
            file,
            map: None,
            base: 0,
            tables: mih::Tables::default(),
            hashes: mih::Hashes::build(&[]),
            recent: Vec::new(),
            removed: HashSet::new(),
            report,
        };
        index.rebuild()?;
        Ok(index)
    }

    /// What opening found.
    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    /// Hash records on file (removals included).
    pub fn records(&self) -> usize {
        self.base + self.recent.len()
    }

    /// Maps the file as it is now and rebuilds the slot tables over it.
    fn rebuild(&mut self) -> Result<()> {
        let records = (self.len as usize - HEADER_LEN) / RECORD_LEN;
        let map = if records == 0 {
            None
        } else {
            // SAFETY: the file is only ever appended to by this process (the data dir is
            // locked by the store), so the mapped prefix never changes under the mapping;
            // every read is bounds-checked against `len`, which excludes any torn tail.
            #[allow(unsafe_code)]
            let map = unsafe { MmapOptions::new().len(self.len as usize).map(&self.file) }
                .map_err(|source| DupesError::Io {
                    what: "map hash file",
                    path: self.path.clone(),
                    source,
                })?;
            Some(map)
        };
        let bytes = map.as_deref().map_or(&[][..], |map| &map[HEADER_LEN..]);
        self.removed.clear();
        for record in bytes.chunks_exact(RECORD_LEN) {
            if record[42] & FLAG_REMOVED != 0 {
                self.removed.insert(file::word(record, 0));
            }
        }
        self.tables = mih::Tables::build(bytes);
        self.hashes = mih::Hashes::build(bytes);
        self.map = map;
        self.base = records;
        self.recent.clear();
        Ok(())
    }

    fn base_bytes(&self) -> &[u8] {
        self.map
            .as_deref()
            .map_or(&[][..], |map| &map[HEADER_LEN..])
    }

    /// Indexes the hashes of one asset, durably.
    pub fn add(&mut self, asset: u64, hashes: &[(Region, Pdq)], reliable: bool) -> Result<()> {
        self.add_all(
            hashes
                .iter()
                .map(|(region, pdq)| (asset, *region, *pdq, reliable)),
        )
    }

    /// Indexes many assets' hashes with one write and one sync (bulk loads, rebuilds):
    /// `(asset, region, hash, reliable)` per hash.
    pub fn add_all(
        &mut self,
        hashes: impl IntoIterator<Item = (u64, Region, Pdq, bool)>,
    ) -> Result<()> {
        let records = Self::to_records(hashes)?;
        self.append(records)
    }

    /// Replaces everything indexed with `hashes` (as [`DupIndex::add_all`] takes them),
    /// in a new file renamed over the old one: what rehashing writes. The file is then
    /// current ([`OpenReport::stale_hashes`] is false).
    pub fn replace_all(
        &mut self,
        hashes: impl IntoIterator<Item = (u64, Region, Pdq, bool)>,
    ) -> Result<()> {
        let records = Self::to_records(hashes)?;
        file::replace(&self.path, &records)?;
        *self = DupIndex::open(&self.path)?;
        Ok(())
    }

    /// The assets indexed and not removed, in id order.
    pub fn assets(&self) -> Vec<u64> {
        let on_file = self
            .base_bytes()
            .chunks_exact(RECORD_LEN)
            .map(|record| file::word(record, 0));
        let recent = self.recent.iter().map(|record| record.asset);
        let assets: std::collections::BTreeSet<u64> = on_file
            .chain(recent)
            .filter(|asset| !self.removed.contains(asset))
            .collect();
        assets.into_iter().collect()
    }

    fn to_records(
        hashes: impl IntoIterator<Item = (u64, Region, Pdq, bool)>,
    ) -> Result<Vec<Record>> {
        let records: Vec<Record> = hashes
            .into_iter()
            .map(|(asset, region, pdq, reliable)| Record {
                asset,
                hash: pdq.hash,
                quality: pdq.quality,
                region,
                flags: if reliable { FLAG_RELIABLE } else { 0 },
            })
            .collect();
        if let Some(record) = records.iter().find(|record| !record.region.is_indexed()) {
            return Err(DupesError::LookupOnly(record.region.name()));
        }
        Ok(records)
    }

    /// Removes an asset from future results (withdrawn or taken down), durably.
    /// Removing one already removed writes nothing (ids are never reused).
    pub fn remove(&mut self, asset: u64) -> Result<()> {
        if self.removed.contains(&asset) {
            return Ok(());
        }
        self.append(vec![Record {
            asset,
            hash: Hash256::default(),
            quality: 0,
            region: Region::Whole,
            flags: FLAG_REMOVED,
        }])?;
        self.removed.insert(asset);
        Ok(())
    }

    fn append(&mut self, records: Vec<Record>) -> Result<()> {
        if let Err(error) = file::append(&self.file, &self.path, &records) {
            // Cut whatever part of the write landed, so the next append stays aligned.
            let _ = self.file.set_len(self.len);
            return Err(error);
        }
        self.len += (records.len() * RECORD_LEN) as u64;
        self.recent.extend(records);
        if self.recent.len() > 4096.max(self.base / 16) {
            self.rebuild()?;
        }
        Ok(())
    }

    /// Every indexed asset with a match scoring within `threshold` (distance less the
    /// query's margin), with its best match, best first (ties by asset id). Multi-index
    /// hashing for lookups whose distance limit is at most 63; a linear scan for the rest.
    pub fn search(&self, queries: &[Query], threshold: u32) -> Vec<Match> {
        let mut best = HashMap::new();
        let bytes = self.base_bytes();
        let mut scan = Vec::new();
        for query in queries {
            let Some(limit) = query.limit(threshold) else {
                continue;
            };
            if limit > mih::MAX_THRESHOLD {
                scan.push(*query);
                continue;
            }
            self.tables.probe(&query.hash, limit, |index| {
                let distance = self.hashes.get(index).distance(&query.hash);
                if distance <= limit {
                    let offset = index as usize * RECORD_LEN;
                    let record = &bytes[offset..offset + RECORD_LEN];
                    consider(&mut best, query, distance, record_fields(record));
                }
            });
        }
        self.scan_base(&scan, threshold, &mut best);
        self.scan_recent(queries, threshold, &mut best);
        self.finish(best)
    }

    /// The same answer as [`search`](Self::search) by comparing every record: the baseline
    /// the benchmark compares against, and the oracle the tests check the tables with.
    pub fn search_linear(&self, queries: &[Query], threshold: u32) -> Vec<Match> {
        let mut best = HashMap::new();
        self.scan_base(queries, threshold, &mut best);
        self.scan_recent(queries, threshold, &mut best);
        self.finish(best)
    }

    fn scan_base(&self, queries: &[Query], threshold: u32, best: &mut HashMap<u64, Match>) {
        let limits = limits(queries, threshold);
        if limits.is_empty() {
            return;
        }
        for record in self.base_bytes().chunks_exact(RECORD_LEN) {
            let hash = file::hash_at(record, 0);
            for (query, limit) in &limits {
                let distance = hash.distance(&query.hash);
                if distance <= *limit {
                    consider(best, query, distance, record_fields(record));
                }
            }
        }
    }

    fn scan_recent(&self, queries: &[Query], threshold: u32, best: &mut HashMap<u64, Match>) {
        let limits = limits(queries, threshold);
        for record in &self.recent {
            for (query, limit) in &limits {
                let distance = record.hash.distance(&query.hash);
                if distance <= *limit {
                    let fields = (record.asset, record.region, record.flags);
                    consider(best, query, distance, fields);
                }
            }
        }
    }

    fn finish(&self, best: HashMap<u64, Match>) -> Vec<Match> {
        let mut matches: Vec<Match> = best
            .into_values()
            .filter(|found| !self.removed.contains(&found.asset))
            .collect();
        matches.sort_by_key(|found| (found.score, found.asset));
        matches
    }
}

/// The queries that can match at all under `threshold`, with their distance limits.
fn limits(queries: &[Query], threshold: u32) -> Vec<(&Query, u32)> {
    queries
        .iter()
        .filter_map(|query| Some((query, query.limit(threshold)?)))
        .collect()
}

/// Asset, region and flags of an encoded record (the file's check passed at open).
fn record_fields(record: &[u8]) -> (u64, Region, u8) {
    let region = file::region_from(record[41]).unwrap_or(Region::Whole);
    (file::word(record, 0), region, record[42])
}

fn consider(
    best: &mut HashMap<u64, Match>,
    query: &Query,
    distance: u32,
    (asset, region, flags): (u64, Region, u8),
) {
    if flags & FLAG_REMOVED != 0 || !Region::may_meet(query.region, region) {
        return;
    }
    let candidate = Match {
        asset,
        distance,
        score: distance as i32 - query.margin,
        transform: query.transform,
        query_region: query.region,
        indexed_region: region,
        reliable: flags & FLAG_RELIABLE != 0,
    };
    best.entry(asset)
        .and_modify(|current| {
            let key = |m: &Match| {
                (
                    m.score,
                    m.distance,
                    m.transform,
                    m.query_region,
                    m.indexed_region,
                )
            };
            if key(&candidate) < key(current) {
                *current = candidate;
            }
        })
        .or_insert(candidate);
}

#[cfg(test)]
mod tests;
