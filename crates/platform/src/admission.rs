//! Admitting images, from files (`stockroom ingest`) or uploads (`POST /v1/assets`): the
//! one pipeline. Decoding checks the image before anything is stored; an exact duplicate
//! (same blake3 as a stored original) is refused naming the existing asset; a near
//! duplicate (a reliable PDQ match within the threshold, under any rotation or flip, whole,
//! trimmed, centre-cropped or shifted) is stored but held `pending` for a moderator; the
//! rest is stored active and indexed. An admission returns once the original, its metadata
//! record and its catalogue row are durable; on failure nothing of it is left behind.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use stockroom_catalog::{NewAsset, Principal};
use stockroom_index::Author;
use stockroom_store::{Kind, Store};
use stockroom_vocab::{AssetId, AssetStatus};

use crate::error::{PlatformError, Result};
use crate::feed::Change;
use crate::fingerprint::{self, Candidate, DuplicateReport, Hashed};
use crate::follow::Document;
use crate::metadata::{AssetMetadata, MetadataRecord, RECORD_VERSION};
use crate::originals::Originals;
use crate::{Platform, TakenIds, search};

/// Ids and hashes already taken, shared by parallel admissions.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    pub(crate) by_hash: HashMap<[u8; 32], AssetId>,
    pub(crate) ids: TakenIds,
    /// Claimed and on their way into the store.
    in_flight: HashSet<AssetId>,
    /// Originals a crash left behind mid-admission (see [`Platform::orphans`]): nobody's
    /// duplicate, exact or near.
    pub(crate) orphans: HashSet<AssetId>,
}

impl Claims {
    /// What is stored: every id, and each original's hash, less the orphans.
    pub(crate) fn of(
        store: &Store,
        originals: &dyn Originals,
        catalog: &dyn stockroom_catalog::Catalog,
    ) -> Result<Claims> {
        let mut claims = Claims::default();
        for entry in store.entries() {
            claims.ids.insert(entry.asset);
        }
        // The catalogue says what is stored (object storage opened without a listing):
        // nothing is read at start, whatever the catalogue's size. The catalogue refuses
        // exact duplicates itself (under its write lock) and a fresh id that a row has
        // (2^-64 a try); [`Platform::find_orphans`] lists the bucket to look for orphans.
        if originals.knows_from_catalogue() {
            return Ok(claims);
        }
        let catalogued: HashSet<AssetId> = catalog.asset_ids()?.into_iter().collect();
        for (asset, blake3) in originals.list()? {
            claims.ids.insert(asset);
            if !catalogued.contains(&asset) && is_orphan(store, asset) {
                claims.orphans.insert(asset);
            } else {
                claims.by_hash.insert(blake3, asset);
            }
        }
        Ok(claims)
    }
}

/// Whether an original the catalogue lacks was left by a crash mid-admission: with no
/// metadata record (the crash came before it), or with one this build wrote (this build
/// always commits the catalogue row next). An original with a record from before
/// versioned records and no row is an asset from before the catalogue: kept as one.
fn is_orphan(store: &Store, asset: AssetId) -> bool {
    match store.get(asset, Kind::Metadata) {
        None => true,
        Some(bytes) => MetadataRecord::decode(asset, &bytes)
            .map_or(true, |record| record.version >= RECORD_VERSION),
    }
}

/// An author's upload: the image and what `POST /v1/assets` says of it.
#[derive(Debug)]
pub struct Upload<'a> {
    /// The image bytes (JPEG, PNG or WebP).
    pub image: &'a [u8],
    /// The uploading member, credited as the author.
    pub author: &'a Principal,
    /// Title, keywords and terms (validated here).
    pub metadata: AssetMetadata,
}

/// What became of an admitted image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// Stored and public.
    Active {
        /// Its new id.
        id: AssetId,
    },
    /// Stored, held for a moderator by these near duplicates.
    Pending {
        /// Its new id.
        id: AssetId,
        /// Nearest first.
        duplicates: Vec<Candidate>,
    },
    /// The very same bytes are already the original of `existing`; nothing was stored.
    Duplicate {
        /// The asset that has them.
        existing: AssetId,
    },
}

/// What became of one file given to [`Platform::ingest_files`] (one line of `stockroom
/// ingest`'s output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum FileOutcome {
    /// Stored and public.
    Stored {
        /// Its new id.
        id: AssetId,
    },
    /// Stored, but held for a moderator: near duplicates of existing assets.
    Pending {
        /// Its new id.
        id: AssetId,
        /// Nearest first.
        duplicates: Vec<Candidate>,
    },
    /// Already stored as this asset.
    Duplicate {
        /// The existing asset.
        id: AssetId,
    },
    /// Not stored, and why.
    Failed {
        /// The failure, as a sentence.
        error: String,
    },
    /// Not tried (an earlier write found the disk full).
    Skipped {
        /// Why.
        reason: String,
    },
}

impl From<Admitted> for FileOutcome {
    fn from(admitted: Admitted) -> FileOutcome {
        match admitted {
            Admitted::Active { id } => FileOutcome::Stored { id },
            Admitted::Pending { id, duplicates } => FileOutcome::Pending { id, duplicates },
            Admitted::Duplicate { existing } => FileOutcome::Duplicate { id: existing },
        }
    }
}

impl Platform {
    /// An author's upload (`POST /v1/assets`): refused unless the member may upload, then
    /// admitted as [`Platform::admit`] does, crediting the member; an active one is
    /// searchable when this returns.
    pub fn upload(&self, upload: Upload<'_>) -> Result<Admitted> {
        stockroom_catalog::terms::may_upload(&upload.author.roles, upload.author.status)?;
        let member = self.catalog.member(&upload.author.member_id)?;
        let metadata = AssetMetadata {
            author: member.name.clone(),
            ..upload.metadata
        }
        .validated()?;
        let author = Author {
            id: upload.author.member_id.clone(),
            name: member.name,
        };
        let admitted = self.admit(upload.image, &metadata, &author, "upload")?;
        if matches!(admitted, Admitted::Active { .. }) {
            // Its card and search results show it as soon as the author is answered.
            self.index.commit()?;
        }
        Ok(admitted)
    }

    /// Ingests files (`stockroom ingest`) on every CPU, each with the metadata
    /// `metadata_of` gives it (validated), crediting its metadata's author. `done` is
    /// called after each file. After a write finds the disk full, the files not yet begun
    /// are skipped. Every active asset is searchable when this returns.
    pub fn ingest_files(
        &self,
        files: &[PathBuf],
        metadata_of: impl Fn(&Path) -> Result<AssetMetadata> + Sync,
        done: impl Fn() + Sync,
    ) -> Result<Vec<FileOutcome>> {
        let disk_full = AtomicBool::new(false);
        let outcomes = files
            .par_iter()
            .map(|file| {
                let outcome = if disk_full.load(Ordering::Relaxed) {
                    FileOutcome::Skipped {
                        reason: "an earlier write found the disk full".into(),
                    }
                } else {
                    match self.ingest_file(file, &metadata_of) {
                        Ok(admitted) => admitted.into(),
                        Err(error) => {
                            if error.class() == crate::ErrorClass::Full {
                                disk_full.store(true, Ordering::Relaxed);
                            }
                            FileOutcome::Failed {
                                error: crate::error::one_line(&error),
                            }
                        }
                    }
                };
                done();
                outcome
            })
            .collect();
        // Searchable when ingest returns, not merely within the commit interval.
        self.index.commit()?;
        Ok(outcomes)
    }

    fn ingest_file(
        &self,
        file: &Path,
        metadata_of: &(impl Fn(&Path) -> Result<AssetMetadata> + Sync),
    ) -> Result<Admitted> {
        let metadata = metadata_of(file)?.validated()?;
        let bytes = fingerprint::read_image_file(file, self.options.max_upload_bytes)?;
        let source = file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let author = match &metadata.author_member {
            Some(member) => self.author_member(member)?,
            None => search::credit(&metadata),
        };
        self.admit(&bytes, &metadata, &author, &source)
    }

    /// An author member as ingest credits them: a member who may upload (an author or an
    /// admin, not blocked), by id, credited with their name.
    fn author_member(&self, id: &str) -> Result<Author> {
        let member = self.catalog.member(id)?;
        stockroom_catalog::terms::may_upload(&member.roles, member.status)?;
        Ok(Author {
            id: member.id,
            name: member.name,
        })
    }

    /// The catalogue's near duplicates of an image, nothing stored (a moderator's check).
    pub fn duplicates(&self, image: &[u8]) -> Result<DuplicateReport> {
        self.duplicates_within(image, self.options.dedup_threshold)
    }

    /// [`Platform::duplicates`] at another threshold (`stockroom dedup --threshold`).
    pub fn duplicates_within(&self, image: &[u8], threshold: u32) -> Result<DuplicateReport> {
        let hashed = fingerprint::hash_bytes(image, &self.options.limits)?;
        Ok(fingerprint::report(
            &self.duplicate_index(),
            &hashed.fingerprint,
            threshold,
            |asset| self.exists(asset),
        ))
    }

    pub(crate) fn claims(&self) -> MutexGuard<'_, Claims> {
        self.claims
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Whether `asset` counts for duplicate checks: the store has its original, or it is on
    /// its way there.
    pub fn exists(&self, asset: AssetId) -> bool {
        self.counts(&self.claims(), asset)
    }

    fn counts(&self, claims: &Claims, asset: AssetId) -> bool {
        claims.in_flight.contains(&asset)
            || (self.originals.contains(asset) && !claims.orphans.contains(&asset))
    }

    /// Assets the catalogue says still have an original (not taken down, not purged) that
    /// the originals' storage does not hold: lost bytes, for `verify` to report.
    pub fn missing_originals(&self) -> Result<Vec<AssetId>> {
        // Where the catalogue says what is stored, `contains` knows only what this process
        // saw go: the store is listed to know.
        let listed: Option<HashSet<AssetId>> = match self.originals.knows_from_catalogue() {
            true => Some(
                self.originals
                    .list()?
                    .into_iter()
                    .map(|(asset, _)| asset)
                    .collect(),
            ),
            false => None,
        };
        let stored = |asset| match &listed {
            Some(listed) => listed.contains(&asset),
            None => self.originals.contains(asset),
        };
        let mut missing = Vec::new();
        for asset in self.catalog.asset_ids()? {
            if stored(asset) {
                continue;
            }
            let record = self.catalog.asset(asset)?;
            if record.status != AssetStatus::Removed && record.purged_at.is_none() {
                missing.push(asset);
            }
        }
        missing.sort();
        Ok(missing)
    }

    /// Originals a crash left behind mid-admission (stored, with no catalogue row): found
    /// at start, kept in place for an operator to look at, and nobody's duplicate (their
    /// hashes left the duplicate index), so their image can be uploaded again.
    pub fn orphans(&self) -> Vec<AssetId> {
        let mut orphans: Vec<AssetId> = self.claims().orphans.iter().copied().collect();
        orphans.sort();
        orphans
    }

    /// [`Platform::orphans`], looked for now where the start did not look (object storage
    /// known from the catalogue: every object is listed and set against the catalogue;
    /// what `stats` and `verify` report). What it finds is nobody's duplicate from now on.
    /// An upload that another node has stored but not yet catalogued may be named too.
    pub fn find_orphans(&self) -> Result<Vec<AssetId>> {
        if !self.originals.knows_from_catalogue() {
            return Ok(self.orphans());
        }
        let catalogued: HashSet<AssetId> = self.catalog.asset_ids()?.into_iter().collect();
        let mut found = Vec::new();
        for (asset, _) in self.originals.list()? {
            if catalogued.contains(&asset) || self.claims().in_flight.contains(&asset) {
                continue;
            }
            // Catalogued while the bucket was listed: not an orphan.
            match self.catalog.asset(asset) {
                Ok(_) => continue,
                Err(error) if error.class() == stockroom_catalog::ErrorClass::NotFound => {}
                Err(error) => return Err(error.into()),
            }
            self.originals.learn(asset, None);
            found.push(asset);
        }
        let mut claims = self.claims();
        claims.orphans.extend(found.iter().copied());
        let mut orphans: Vec<AssetId> = claims.orphans.iter().copied().collect();
        orphans.sort();
        Ok(orphans)
    }

    /// Admits one image with its (validated) metadata, crediting `author`: refused as an
    /// exact duplicate, stored `pending` beside near duplicates, else stored active and
    /// indexed. Returns once the bytes and the catalogue row are durable; on failure
    /// nothing of it is left behind.
    pub fn admit(
        &self,
        bytes: &[u8],
        metadata: &AssetMetadata,
        author: &Author,
        source_file: &str,
    ) -> Result<Admitted> {
        // Decoding checks the image (format, limits, integrity) before anything is stored.
        let hashed = fingerprint::hash_bytes(bytes, &self.options.limits)?;
        // A taken-down image (or one on an imported list) does not come back.
        self.check_blocklist(&hashed)?;
        let hash = *hashed.blake3.as_bytes();
        let id = {
            let mut claims = self.claims();
            if let Some(&existing) = claims.by_hash.get(&hash) {
                // Taken down since (its bytes deleted), it is nobody's duplicate.
                if self.counts(&claims, existing) {
                    return Ok(Admitted::Duplicate { existing });
                }
            }
            let id = fresh_id(&claims.ids)?;
            claims.ids.insert(id);
            claims.in_flight.insert(id);
            claims.by_hash.insert(hash, id);
            id
        };
        let admitted = self.store_new(id, bytes, &hashed, metadata, author, source_file);
        let mut claims = self.claims();
        claims.in_flight.remove(&id);
        match &admitted {
            // Let a retry take the bytes again.
            Err(_) => {
                claims.by_hash.remove(&hash);
            }
            // The catalogue named the asset another node admitted them as.
            Ok(Admitted::Duplicate { existing }) => {
                claims.by_hash.insert(hash, *existing);
            }
            Ok(_) => {}
        }
        drop(claims);
        if matches!(
            admitted,
            Ok(Admitted::Active { .. } | Admitted::Pending { .. })
        ) {
            self.feed.publish(&Change::AssetAdded(id));
        }
        admitted
    }

    fn store_new(
        &self,
        id: AssetId,
        bytes: &[u8],
        hashed: &Hashed,
        metadata: &AssetMetadata,
        author: &Author,
        source_file: &str,
    ) -> Result<Admitted> {
        let duplicates = self.index_hashes(id, hashed)?;
        let pending = duplicates.iter().any(|candidate| candidate.reliable);
        let record = MetadataRecord {
            version: RECORD_VERSION,
            id: Some(id),
            media_type: hashed.media_type.to_string(),
            bytes: bytes.len() as u64,
            blake3: hashed.blake3.to_hex().to_string(),
            source_file: source_file.to_string(),
            ingested_at: u64::try_from(self.clock.now()).unwrap_or(0),
            status: if pending {
                AssetStatus::Pending
            } else {
                AssetStatus::Active
            },
            width: hashed.size.0,
            height: hashed.size.1,
            auto_keywords: hashed.auto_keywords.clone(),
            author_id: Some(author.id.clone()),
            duplicates: if pending {
                duplicates.clone()
            } else {
                Vec::new()
            },
            metadata: AssetMetadata {
                author: author.name.clone(),
                ..metadata.clone()
            },
        };
        // Acknowledged only once the bytes and the catalogue row are durable (DESIGN §4).
        let stored = self
            .originals
            .put(id, bytes)
            .and_then(|()| Ok(self.blobs.put(id, Kind::Metadata, &record.encode())?))
            .and_then(|()| {
                self.catalog
                    .add_asset(&NewAsset {
                        document: Document::encode(&record, hashed),
                        blake3: Some(record.blake3.clone()),
                        ..catalog_row(id, metadata, author, pending)
                    })
                    .map_err(PlatformError::from)
            });
        if let Err(error) = stored {
            // Leave no half-admitted asset behind.
            let _ = self.originals.delete(id);
            let _ = self.blobs.delete(id, Kind::Metadata);
            let _ = self.duplicate_index().remove(id.as_u64());
            // Another node admitted the very same bytes first (its claim had not reached
            // this one): an exact duplicate after all.
            if let PlatformError::Catalog(stockroom_catalog::CatalogError::SameBytes { existing }) =
                error
            {
                return Ok(Admitted::Duplicate { existing });
            }
            return Err(error);
        }
        if pending {
            return Ok(Admitted::Pending { id, duplicates });
        }
        let doc = search::asset_doc(id, &record);
        self.index
            .upsert(&doc)
            .map_err(|source| PlatformError::NotIndexed { asset: id, source })?;
        Ok(Admitted::Active { id })
    }

    /// Looks the image up and adds its hashes under one lock, so near duplicates in the
    /// same batch see each other; returns what it found.
    fn index_hashes(&self, id: AssetId, hashed: &Hashed) -> Result<Vec<Candidate>> {
        let mut index = self.duplicate_index();
        let print = &hashed.fingerprint;
        let found = fingerprint::candidates(&index, print, self.options.dedup_threshold, |asset| {
            self.exists(asset)
        });
        index.add(id.as_u64(), &print.index_hashes(), print.reliable())?;
        Ok(found)
    }
}

/// The asset's catalogue row: its terms and who is credited.
fn catalog_row(id: AssetId, metadata: &AssetMetadata, author: &Author, pending: bool) -> NewAsset {
    NewAsset {
        id,
        author_id: author.id.clone(),
        author_name: author.name.clone(),
        title: metadata.title.clone(),
        collection: metadata.collection,
        editorial_only: metadata.editorial_only,
        model_release: metadata.model_release,
        property_release: metadata.property_release,
        pending,
        document: Vec::new(),
        blake3: None,
    }
}

/// A random id not yet taken.
fn fresh_id(taken: &TakenIds) -> Result<AssetId> {
    loop {
        let raw = getrandom::u64().map_err(PlatformError::Random)?;
        let id = AssetId::from_u64(raw);
        if !taken.contains(&id) {
            return Ok(id);
        }
    }
}
