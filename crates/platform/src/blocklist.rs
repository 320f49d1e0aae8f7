//! Takedowns that stick: the blocklist's entries (from the catalogue) kept ready for the
//! upload path. An upload is refused when its blake3 is an entry's, or when its PDQ comes
//! within the duplicate threshold of an entry's, in any of the eight rotations and flips
//! the duplicate index already tries; the same multi-index search as near duplicates, over
//! an index of its own that is rebuilt from the catalogue at every start.

use std::collections::{HashMap, HashSet};

use stockroom_catalog::{AuditEntry, AuditFilter, BlockEntry, BlockHashes, Principal};
use stockroom_dupes::{DupIndex, Query};
use stockroom_phash::{Fingerprint, Hash256, Pdq, Region};
use stockroom_vocab::AssetId;

use crate::Platform;
use crate::error::{PlatformError, Result};
use crate::fingerprint::Hashed;

/// The active entries, by exact hash and in a PDQ index keyed by entry number.
#[derive(Debug)]
pub(crate) struct Blocklist {
    exact: HashMap<String, i64>,
    index: DupIndex,
    entries: HashMap<i64, BlockEntry>,
    /// The audit history's newest entry when the entries were last read.
    seen: i64,
}

impl Blocklist {
    /// `index` must be empty (a fresh file); `entries` are the catalogue's active ones.
    pub(crate) fn build(index: DupIndex, entries: Vec<BlockEntry>, seen: i64) -> Result<Blocklist> {
        let mut blocklist = Blocklist {
            exact: HashMap::new(),
            index,
            entries: HashMap::new(),
            seen,
        };
        blocklist.add(entries)?;
        Ok(blocklist)
    }

    /// Adds entries, their PDQ hashes in one append (a list of 100,000 is one write and one
    /// flush, not 100,000).
    fn add(&mut self, entries: Vec<BlockEntry>) -> Result<()> {
        let mut hashes = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(blake3) = &entry.blake3 {
                self.exact.insert(blake3.clone(), entry.id);
            }
            if let Some(Ok(hash)) = entry.pdq.as_deref().map(str::parse::<Hash256>) {
                // An imported hash carries no quality; a list is trusted as given.
                let pdq = Pdq { hash, quality: 100 };
                hashes.push((entry.id as u64, Region::Whole, pdq, true));
            }
            self.entries.insert(entry.id, entry);
        }
        self.index.add_all(hashes).map_err(PlatformError::Dupes)
    }

    /// Brings the entries in line with the catalogue's active ones.
    fn sync(&mut self, active: Vec<BlockEntry>) -> Result<()> {
        let ids: HashSet<i64> = active.iter().map(|entry| entry.id).collect();
        let lifted: Vec<i64> = self
            .entries
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        for id in lifted {
            if let Some(entry) = self.entries.remove(&id) {
                if let Some(blake3) = &entry.blake3 {
                    self.exact.remove(blake3);
                }
                self.index.remove(id as u64).map_err(PlatformError::Dupes)?;
            }
        }
        let new: Vec<BlockEntry> = active
            .into_iter()
            .filter(|entry| !self.entries.contains_key(&entry.id))
            .collect();
        self.add(new)
    }

    /// The entry an image matches, if any: its exact hash first, then its PDQ.
    fn matching(&self, blake3: &str, print: &Fingerprint, threshold: u32) -> Option<&BlockEntry> {
        if let Some(id) = self.exact.get(blake3) {
            return self.entries.get(id);
        }
        let queries: Vec<Query> = print
            .query_hashes()
            .into_iter()
            .map(|(region, transform, pdq)| Query::new(pdq.hash, region, transform))
            .collect();
        let found = self.index.search(&queries, threshold);
        found
            .first()
            .and_then(|best| self.entries.get(&(best.asset as i64)))
    }
}

/// The hashes a removed image leaves on the blocklist.
pub(crate) fn hashes_of(hashed: &Hashed) -> BlockHashes {
    let whole = hashed
        .fingerprint
        .index_hashes()
        .into_iter()
        .find(|(region, _)| *region == Region::Whole)
        .map(|(_, pdq)| pdq.hash.to_string());
    BlockHashes {
        blake3: Some(hashed.blake3.to_hex().to_string()),
        pdq: Some(whole.unwrap_or_else(|| hashed.fingerprint.pdq.hash.to_string())),
    }
}

impl Platform {
    /// Refuses an image on the blocklist.
    pub(crate) fn check_blocklist(&self, hashed: &Hashed) -> Result<()> {
        let blocklist = self.blocklist();
        let blake3 = hashed.blake3.to_hex();
        match blocklist.matching(&blake3, &hashed.fingerprint, self.options.dedup_threshold) {
            Some(entry) => Err(PlatformError::Blocked {
                entry: entry.id,
                source_label: entry.source.clone(),
                reason: entry.reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Re-reads the active entries (after a takedown, a lift, an import, here or in another
    /// process).
    pub fn sync_blocklist(&self) -> Result<()> {
        let seen = self.catalog.last_action_seq()?;
        let active = self.catalog.active_blocks()?;
        let mut blocklist = self.blocklist();
        blocklist.sync(active)?;
        blocklist.seen = blocklist.seen.max(seen);
        Ok(())
    }

    /// [`Platform::sync_blocklist`] only when the audit history moved since (a cheap
    /// check a server makes twice a second, so that a list imported or an entry lifted with
    /// the CLI reaches it); whether it re-read.
    pub fn sync_blocklist_if_changed(&self) -> Result<bool> {
        let newest = self.catalog.last_action_seq()?;
        if newest <= self.blocklist().seen {
            return Ok(false);
        }
        self.sync_blocklist()?;
        Ok(true)
    }

    /// The blocklist, newest first, lifted entries included.
    pub fn blocklist_entries(&self, before: Option<i64>, limit: u32) -> Result<Vec<BlockEntry>> {
        Ok(self.catalog.blocklist(before, limit)?)
    }

    /// A moderator lifts an entry: the image it matched may be uploaded again.
    pub fn lift_block(
        &self,
        entry: i64,
        moderator: &Principal,
        reason: &str,
    ) -> Result<BlockEntry> {
        let lifted = self.catalog.lift_block(entry, moderator, reason)?;
        self.sync_blocklist()?;
        Ok(lifted)
    }

    /// A moderator imports a hash list: PDQ hashes, 64 hex digits, one a line; anything
    /// after the hash and a space, tab, comma or semicolon (a quality, a comment), blank
    /// lines and lines starting with `#` are ignored. A line that is not a hash refuses the
    /// whole list, naming it, and so does a list with no hash.
    pub fn import_blocklist(
        &self,
        moderator: &Principal,
        source: &str,
        list: &str,
    ) -> Result<Vec<i64>> {
        let blank = |c: char| matches!(c, ' ' | '\t' | '\r');
        let mut hashes = Vec::new();
        for (number, line) in list.split('\n').enumerate() {
            let line = line.trim_matches(blank);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.split([' ', '\t', ',', ';']).next().unwrap_or_default();
            let hash = stockroom_catalog::valid_pdq(first).ok_or_else(|| {
                PlatformError::BadMetadata(format!(
                    "line {}: {first:?} is not a PDQ hash (64 hex digits)",
                    number + 1
                ))
            })?;
            hashes.push(hash);
        }
        if hashes.is_empty() {
            return Err(PlatformError::BadMetadata(
                "the list holds no PDQ hash".into(),
            ));
        }
        let ids = self.catalog.import_blocks(moderator, source, hashes)?;
        self.sync_blocklist()?;
        Ok(ids)
    }

    /// The audit history, newest first.
    pub fn audit_history(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
        Ok(self.catalog.actions(filter, limit)?)
    }

    /// The blocklist entry a takedown of `asset` leaves: its hashes, from its original.
    pub(crate) fn takedown_hashes(&self, asset: AssetId) -> Result<Vec<BlockHashes>> {
        let Some(original) = self.originals.get(asset)? else {
            return Ok(Vec::new());
        };
        // An original that no longer decodes (stored by an older build) is still refused
        // byte for byte.
        Ok(vec![
            match crate::fingerprint::hash_bytes(&original.bytes, &self.options.limits) {
                Ok(hashed) => hashes_of(&hashed),
                Err(_) => BlockHashes {
                    blake3: Some(blake3::hash(&original.bytes).to_hex().to_string()),
                    pdq: None,
                },
            },
        ])
    }
}
