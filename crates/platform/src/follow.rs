//! Following the catalogue's change feed (DESIGN §7): what keeps a node's replicas (its
//! search index, its duplicate index, its metadata records, its preview cache and blobs,
//! its object storage's map of originals) in step with the catalogue when another node
//! (or the CLI) changed an asset.
//!
//! Each change names an asset; applying it reads the asset's state now from the catalogue
//! and makes the node agree with it, so applying a change twice, or applying the node's
//! own changes again, does no harm. The sequence number applied last is kept in a file
//! (`DATA/index/feed-seq`) written after the index commit and the duplicate index's flush,
//! so a node that stopped reads on from there; a node without that file (new, or one whose
//! index was removed) first builds its replicas from every document in the catalogue.
//!
//! A document is what admission stores in the catalogue beside the asset's row: its
//! metadata record without the author (whose name is the row's, which an erasure
//! replaces) and its indexed perceptual hashes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use stockroom_catalog::{AssetChange, AssetRecord, ChangeKind, ErrorClass as CatalogClass};
use stockroom_phash::{Pdq, Region};
use stockroom_store::Kind;
use stockroom_vocab::{AssetId, AssetStatus, PreviewSize};

use crate::Platform;
use crate::error::{PlatformError, Result};
use crate::feed::Change;
use crate::fingerprint::Hashed;
use crate::metadata::MetadataRecord;

/// Changes read from the catalogue at a time.
const PAGE: u32 = 500;

/// An asset's document in the catalogue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Document {
    /// The metadata record, its author left out.
    record: MetadataRecord,
    /// The indexed hashes: `(region, hash as hex, quality)`.
    hashes: Vec<(String, String, u8)>,
    /// Whether the image's hashes are reliable.
    reliable: bool,
}

impl Document {
    /// The document of a new asset: `record` as admission wrote it, `hashed` its image.
    pub(crate) fn encode(record: &MetadataRecord, hashed: &Hashed) -> Vec<u8> {
        let mut record = record.clone();
        record.metadata.author = String::new();
        record.author_id = None;
        let print = &hashed.fingerprint;
        let document = Document {
            record,
            hashes: print
                .index_hashes()
                .into_iter()
                .map(|(region, pdq)| (region.name().to_string(), pdq.hash.to_string(), pdq.quality))
                .collect(),
            reliable: print.reliable(),
        };
        serde_json::to_vec(&document).unwrap_or_default()
    }

    fn decode(asset: AssetId, bytes: &[u8]) -> Result<Document> {
        let document: Document =
            serde_json::from_slice(bytes).map_err(|error| PlatformError::Record {
                asset,
                why: format!("its document in the catalogue: {error}"),
            })?;
        // Refused, like a stored record of a newer version, rather than read wrongly.
        if document.record.version > crate::metadata::RECORD_VERSION {
            return Err(PlatformError::Record {
                asset,
                why: format!(
                    "its document was written at version {}; this build reads up to {}",
                    document.record.version,
                    crate::metadata::RECORD_VERSION
                ),
            });
        }
        Ok(document)
    }

    fn hashes(&self, asset: AssetId) -> Result<Vec<(Region, Pdq)>> {
        self.hashes
            .iter()
            .map(|(name, hash, quality)| {
                let region = [Region::Whole, Region::Trimmed, Region::Centre]
                    .into_iter()
                    .find(|known| known.name() == name);
                match (region, hash.parse()) {
                    (Some(region), Ok(hash)) => Ok((
                        region,
                        Pdq {
                            hash,
                            quality: *quality,
                        },
                    )),
                    _ => Err(PlatformError::Record {
                        asset,
                        why: format!("its document's hash {name} {hash} does not read"),
                    }),
                }
            })
            .collect()
    }
}

/// What a round of following did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Followed {
    /// Changes applied.
    pub applied: usize,
    /// The sequence number applied last.
    pub seq: i64,
    /// Whether this node's position was behind the feed's horizon (the changes after it
    /// were pruned): its replicas were made to agree with every asset in the catalogue.
    pub rebuilt: bool,
    /// Changes passed over because their asset's document or record does not read (a
    /// newer build's, or damaged), and why: the feed goes on past them (for the caller to
    /// log); anything else (the catalogue or the disk failing) stops the round, to be
    /// tried again.
    pub skipped: Vec<(AssetId, String)>,
}

/// Whether a change's failure is its asset's own (it would fail every time): skipped.
fn the_assets_own(error: &PlatformError) -> bool {
    matches!(
        error,
        PlatformError::Record { .. } | PlatformError::NoAsset(_) | PlatformError::Image(_)
    )
}

impl Platform {
    /// The sequence number of the change applied last.
    pub fn applied_change(&self) -> i64 {
        *self.applied()
    }

    /// The position, locked: a round of following holds it, and so does each lifecycle
    /// action, so that a round never applies a state read just before the action changed
    /// it after the action's own steps (which would put a withdrawn asset back in search
    /// until the next round).
    pub(crate) fn applied(&self) -> std::sync::MutexGuard<'_, i64> {
        self.applied
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Whether this node has never followed the feed (no `feed-seq` file): its replicas
    /// are built from the catalogue's documents first ([`Platform::build_replicas`]).
    pub fn replicas_unbuilt(&self) -> bool {
        self.options
            .feed_state
            .as_ref()
            .is_some_and(|path| !path.exists())
    }

    /// Builds this node's replicas from every document in the catalogue (a new node), then
    /// records the feed's position as of the start, so that following goes on from there.
    /// `progress` is called after each asset, with the catalogue's document count. An
    /// asset whose document does not read is passed to `skipped` and left out.
    pub fn build_replicas(
        &self,
        progress: impl Fn(u64, u64),
        skipped: impl Fn(AssetId, String),
    ) -> Result<u64> {
        let start = self.catalog.last_change()?;
        let total = self.catalog.count_documents()?;
        let mut after = None;
        let mut built = 0;
        loop {
            let page = self.catalog.documents_after(after, PAGE)?;
            let Some(&(last, _)) = page.last() else { break };
            after = Some(last);
            for (asset, bytes) in page {
                let row = match self.catalog.asset(asset) {
                    Ok(row) => row,
                    Err(error) if error.class() == CatalogClass::NotFound => continue,
                    Err(error) => return Err(error.into()),
                };
                let adopted = if self.blobs.contains(asset, Kind::Metadata) {
                    Ok(())
                } else {
                    self.adopt(asset, &row, &bytes)
                };
                let indexed = adopted.and_then(|()| match row.is_public() {
                    true => match self.indexable(asset)? {
                        Some(doc) => Ok(self.index.upsert(&doc)?),
                        None => Ok(()),
                    },
                    false => Ok(()),
                });
                match indexed {
                    Ok(()) => {}
                    Err(error) if the_assets_own(&error) => {
                        skipped(asset, crate::error::one_line(&error));
                    }
                    Err(error) => return Err(error),
                }
                built += 1;
                progress(built, total);
            }
        }
        self.index.commit()?;
        self.applied_up_to(start)?;
        Ok(built)
    }

    /// Applies every change after the one applied last (one round: a server calls this
    /// whenever the catalogue says there is something new). Searchable when this returns.
    pub fn follow(&self) -> Result<Followed> {
        let mut applied = self.applied();
        let mut followed = Followed {
            seq: *applied,
            ..Followed::default()
        };
        loop {
            let changes = self.catalog.changes_after(followed.seq, PAGE)?;
            // Read after the page: a horizon at or before the position means that no change
            // after it had been pruned when the page was read, so the page is whole.
            if self.catalog.feed_horizon()? > followed.seq {
                let (seq, skipped) = self.reconcile()?;
                followed.rebuilt = true;
                followed.seq = seq;
                followed.skipped.extend(skipped);
                continue;
            }
            let Some(last) = changes.last().map(|change| change.seq) else {
                break;
            };
            for change in &changes {
                match self.apply(change) {
                    Ok(()) => {}
                    Err(error) if the_assets_own(&error) => followed
                        .skipped
                        .push((change.asset_id, crate::error::one_line(&error))),
                    Err(error) => return Err(error),
                }
            }
            followed.applied += changes.len();
            followed.seq = last;
            if changes.len() < PAGE as usize {
                break;
            }
        }
        if followed.applied > 0 || followed.rebuilt {
            self.index.commit()?;
            self.sync_blocklist_if_changed()?;
            self.store_position(followed.seq)?;
            *applied = followed.seq;
        }
        Ok(followed)
    }

    /// Makes this node agree with the catalogue about every asset it has a row for (rows
    /// are never deleted, so taken-down and purged assets are among them): what a node
    /// does whose position fell behind the feed's horizon, having missed changes that
    /// are no longer there to read. Returns the feed's newest number as of the start
    /// (changes after it are read next) and the assets passed over. One pass over the
    /// catalogue, like building a new node's replicas. The caller holds the position.
    fn reconcile(&self) -> Result<(i64, Vec<(AssetId, String)>)> {
        let start = self.catalog.last_change()?;
        let mut skipped = Vec::new();
        let mut after = None;
        loop {
            let page = self.catalog.asset_ids_after(after, PAGE)?;
            let Some(&last) = page.last() else { break };
            after = Some(last);
            for asset_id in page {
                // `Credit`: also re-reads who the asset credits (an erasure may be among
                // the missed changes).
                let change = AssetChange {
                    seq: start,
                    asset_id,
                    kind: ChangeKind::Credit,
                    at: 0,
                };
                match self.apply(&change) {
                    Ok(()) => {}
                    Err(error) if the_assets_own(&error) => {
                        skipped.push((asset_id, crate::error::one_line(&error)));
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Ok((start, skipped))
    }

    /// Deletes the feed's changes older than [`Options::feed_retention`](crate::Options)
    /// (the newest always stays); returns how many went. Any node may run it (the server
    /// does with its purge job); a node away for longer than the retention rebuilds when
    /// it returns ([`Followed::rebuilt`]).
    pub fn prune_feed(&self) -> Result<u64> {
        let retention = i64::try_from(self.options.feed_retention.as_secs()).unwrap_or(i64::MAX);
        let before = self.clock.now().saturating_sub(retention);
        Ok(self.catalog.prune_changes(before)?)
    }

    fn applied_up_to(&self, seq: i64) -> Result<()> {
        self.store_position(seq)?;
        *self.applied() = seq;
        Ok(())
    }

    fn store_position(&self, seq: i64) -> Result<()> {
        let Some(path) = &self.options.feed_state else {
            return Ok(());
        };
        stockroom_vocab::durable::write_file(path, format!("{seq}\n").as_bytes(), None)
            .map_err(PlatformError::io("writing", path))
    }

    /// Makes this node agree with the catalogue about `change`'s asset.
    fn apply(&self, change: &AssetChange) -> Result<()> {
        let asset = change.asset_id;
        let row = match self.catalog.asset(asset) {
            Ok(row) => row,
            // A row is never deleted; a change without one is not this node's concern.
            Err(error) if error.class() == CatalogClass::NotFound => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        if row.status == AssetStatus::Removed || row.purged_at.is_some() {
            return self.forget(asset, row.status == AssetStatus::Removed);
        }
        if !self.blobs.contains(asset, Kind::Metadata) {
            if let Some(bytes) = self.catalog.asset_document(asset)? {
                self.adopt(asset, &row, &bytes)?;
            }
        } else if change.kind == ChangeKind::Credit {
            self.recredit(asset, &row)?;
        }
        match row.status {
            AssetStatus::Active => {
                // A change this node made itself (the embedded shape follows its own
                // writes too) finds the index as it would leave it: nothing is written,
                // so the round commits nothing.
                if let Some(doc) = self.indexable(asset)? {
                    self.index.upsert_if_changed(&doc)?;
                }
                self.feed.publish(&Change::AssetChanged(asset));
            }
            AssetStatus::Pending => self.index.remove(&asset.to_string())?,
            status => {
                self.index.remove(&asset.to_string())?;
                self.feed.publish(&Change::AssetRemoved(asset));
                self.drop_previews(asset)?;
                if status == AssetStatus::Rejected {
                    self.duplicate_index().remove(asset.as_u64())?;
                }
            }
        }
        Ok(())
    }

    /// Takes in an asset another node admitted: its record (crediting the catalogue's
    /// author), its hashes, its original's hash for exact duplicates.
    fn adopt(&self, asset: AssetId, row: &AssetRecord, bytes: &[u8]) -> Result<()> {
        let document = Document::decode(asset, bytes)?;
        let hashes = document.hashes(asset)?;
        let mut record = document.record;
        record.metadata.author = row.author_name.clone();
        record.author_id = Some(row.author_id.clone());
        let blake3 = record.blake3_bytes();
        if let Some(blake3) = blake3 {
            self.originals.learn(asset, Some(blake3));
        }
        // Where the catalogue says what is stored, it also refuses exact duplicates: the
        // claims stay this node's own uploads, not a map of every asset.
        if !self.originals.knows_from_catalogue() {
            let mut claims = self.claims();
            claims.ids.insert(asset);
            if let Some(blake3) = blake3 {
                claims.by_hash.insert(blake3, asset);
            }
        }
        if row.status != AssetStatus::Rejected {
            self.duplicate_index()
                .add(asset.as_u64(), &hashes, document.reliable)?;
        }
        // Last: a crash before it adopts the asset again.
        self.blobs.put(asset, Kind::Metadata, &record.encode())?;
        Ok(())
    }

    /// An asset whose author was erased: its record credits the pseudonym, and no preview
    /// drawn with the old name is kept.
    fn recredit(&self, asset: AssetId, row: &AssetRecord) -> Result<()> {
        let mut record = self.record(asset)?;
        if record.author_id.as_deref() == Some(row.author_id.as_str()) {
            return Ok(());
        }
        record.metadata.author = row.author_name.clone();
        record.author_id = Some(row.author_id.clone());
        self.blobs.put(asset, Kind::Metadata, &record.encode())?;
        self.feed.publish(&Change::AssetChanged(asset));
        self.drop_previews(asset)?;
        let keys: Vec<(AssetId, Kind)> = [Kind::Metadata, Kind::Thumb, Kind::Small, Kind::Large]
            .into_iter()
            .map(|kind| (asset, kind))
            .collect();
        self.blobs.scrub(&keys)?;
        Ok(())
    }

    /// Deletes this node's previews of `asset` (the node that made the change archived the
    /// thumbnail where one is kept).
    fn drop_previews(&self, asset: AssetId) -> Result<()> {
        let keys: Vec<(AssetId, Kind)> = PreviewSize::ALL
            .iter()
            .map(|&size| (asset, crate::previews::kind(size)))
            .collect();
        self.blobs.delete_all(&keys)?;
        Ok(())
    }

    /// An asset taken down (`removed`) or purged: nothing of it stays on this node.
    fn forget(&self, asset: AssetId, removed: bool) -> Result<()> {
        self.index.remove(&asset.to_string())?;
        self.feed.publish(&Change::AssetRemoved(asset));
        self.originals.learn(asset, None);
        let keys: Vec<(AssetId, Kind)> = Kind::ALL.iter().map(|&kind| (asset, kind)).collect();
        if self.blobs.delete_all(&keys)? > 0 && removed {
            // Infringing bytes leave the disk now.
            self.blobs.scrub(&keys)?;
        }
        if removed && self.archive.delete(asset, Kind::Thumb)? {
            self.archive.scrub(&[(asset, Kind::Thumb)])?;
        }
        self.duplicate_index().remove(asset.as_u64())?;
        Ok(())
    }
}

/// What [`Platform::backfill_documents`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// Documents (and hashes) written.
    pub documents: u64,
    /// Assets left without, and why (no metadata record here, an original that does not
    /// read): other nodes cannot index them.
    pub left_out: Vec<(AssetId, String)>,
}

impl Platform {
    /// Writes the document and the original's hash of every kept asset that has none in
    /// the catalogue (admitted before it kept them), from this data directory's metadata
    /// records and the originals (decoded again for their perceptual hashes): what a
    /// platform moving to the cluster shape needs, so that every node can index every
    /// asset and the catalogue can refuse exact duplicates. `done` is called per asset
    /// with the count to do.
    pub fn backfill_documents(&self, done: impl Fn(u64)) -> Result<Backfilled> {
        let lacking = self.catalog.assets_lacking_documents()?;
        let total = lacking.len() as u64;
        let mut backfilled = Backfilled::default();
        for asset in lacking {
            let document = self.record(asset).and_then(|record| {
                let original = self
                    .originals
                    .get(asset)?
                    .ok_or(PlatformError::NoAsset(asset))?;
                let hashed = crate::fingerprint::hash_bytes(&original.bytes, &self.options.limits)?;
                let blake3 = hashed.blake3.to_hex().to_string();
                Ok((Document::encode(&record, &hashed), blake3))
            });
            match document {
                Ok((document, blake3)) => {
                    self.catalog.keep_document(asset, &document, &blake3)?;
                    backfilled.documents += 1;
                }
                Err(error) if the_assets_own(&error) => backfilled
                    .left_out
                    .push((asset, crate::error::one_line(&error))),
                Err(error) => return Err(error),
            }
            done(total);
        }
        Ok(backfilled)
    }
}

/// The sequence number a node's `feed-seq` file holds (0 when it has none).
pub fn read_position(path: &Path) -> Result<i64> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map_err(|_| {
            PlatformError::Aborted(format!(
                "{} does not hold a sequence number: remove it to rebuild this node's replicas",
                path.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(PlatformError::io("reading", path)(error)),
    }
}
