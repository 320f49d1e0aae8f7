//! `stockroom ingest`: store image files as assets (original + submitted metadata).
//!
//! Files are read, decoded at reduced scale and hashed in parallel on rayon's pool; the
//! store's group commit batches their flushes. An exact duplicate (same blake3 as a stored
//! original) is reported with the existing id and not stored again. A near duplicate (a
//! reliable PDQ match within the threshold, under any rotation or flip, whole, trimmed,
//! centre-cropped or shifted; see `Region::margin` for how far each lookup reaches) is
//! stored but held `pending` for a moderator, with its candidates. Each file's outcome is
//! one JSON line on stdout. An active asset is added to the keyword index, searchable
//! when ingest returns.
//! Each asset gets its catalogue row (terms, author, status); the submitted metadata is
//! kept in the store beside the original (kind `metadata`), with the displayed size and
//! automatic keywords: `stockroom reindex` rebuilds the keyword index from those records.
//! The server's uploads run the same pipeline: [`Admission`] takes bytes, metadata and the
//! credited author, whether they come from a file or a request body.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;
use stockroom_catalog::{Catalog, NewAsset};
use stockroom_dupes::DupIndex;
use stockroom_index::{Author, SearchIndex};
use stockroom_render::Limits;
use stockroom_store::{AssetId, Kind, Store, StoreError};

use crate::config::Config;
use crate::fingerprint::{self, Candidate};
use crate::manifest::{AssetMetadata, Collection, Manifest};
use crate::progress;
use crate::search;

/// File extensions picked up when a directory is given.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// What became of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Stored {
        id: String,
    },
    /// Stored, but held for a moderator: near duplicates of existing assets.
    Pending {
        id: String,
        duplicates: Vec<Candidate>,
    },
    Duplicate {
        id: String,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
}

/// One output line.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The metadata record stored beside an original.
#[derive(Debug, Serialize)]
struct StoredMetadata<'a> {
    id: String,
    media_type: &'static str,
    bytes: u64,
    blake3: String,
    source_file: String,
    ingested_at: u64,
    /// `active`, or `pending` when near duplicates hold it for a moderator.
    status: &'static str,
    /// Displayed size (after EXIF orientation).
    width: u32,
    height: u32,
    /// Orientation, size class, dominant colours.
    auto_keywords: &'a [String],
    /// The credited author's id (the member's, or the slug of an ingested file's author).
    author_id: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    duplicates: &'a [Candidate],
    #[serde(flatten)]
    metadata: &'a AssetMetadata,
}

/// Ids and hashes already taken, shared by the parallel workers.
#[derive(Debug, Default)]
struct Claims {
    by_hash: HashMap<[u8; 32], AssetId>,
    ids: HashSet<AssetId>,
    /// Claimed and on their way into the store.
    in_flight: HashSet<AssetId>,
}

/// Ingests `paths` (files, or directories searched for images); with no paths, every file
/// the manifest lists. Returns one report per file, in input order.
pub fn run(
    config: &Config,
    manifest: Option<&Manifest>,
    paths: &[PathBuf],
    show_progress: bool,
) -> Result<Vec<FileReport>> {
    let files = match (paths.is_empty(), manifest) {
        (false, _) => collect_files(paths)?,
        (true, Some(manifest)) => manifest.files().to_vec(),
        (true, None) => bail!("nothing to ingest: give image files or directories, or --manifest"),
    };
    let catalog = Catalog::open(&config.catalog_dir(), config.catalog_options())
        .with_context(|| format!("opening {}", config.catalog_dir().display()))?;
    let admission = Admission::open(
        config,
        Arc::new(config.open_blobs()?),
        Arc::new(catalog),
        Arc::new(search::open_index(
            config,
            stockroom_index::Options::default(),
        )?),
    )?;
    let progress = progress::bar("ingest", files.len() as u64, show_progress);
    let disk_full = AtomicBool::new(false);
    let reports = files
        .par_iter()
        .map(|file| {
            let outcome = if disk_full.load(Ordering::Relaxed) {
                Outcome::Skipped {
                    reason: "an earlier write found the disk full".into(),
                }
            } else {
                ingest_one(config, &admission, manifest, file).unwrap_or_else(|error| {
                    if is_disk_full(&error) {
                        disk_full.store(true, Ordering::Relaxed);
                    }
                    Outcome::Failed {
                        error: format!("{error:#}"),
                    }
                })
            };
            progress.inc(1);
            FileReport {
                path: file.clone(),
                outcome,
            }
        })
        .collect();
    progress.finish_and_clear();
    // Searchable when ingest returns, not merely within the commit interval.
    admission
        .search
        .commit()
        .context("committing the search index")?;
    Ok(reports)
}

/// Whether a failure was a store write finding the disk full.
pub fn is_disk_full(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<StoreError>())
        .any(StoreError::is_disk_full)
}

/// What admitting images shares, whether they come from files (`ingest`) or from uploads
/// (the server's [`Intake`](stockroom_server::Intake)): the stores they go into, and the
/// hashes and ids already taken.
#[derive(Debug)]
pub struct Admission {
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub search: Arc<SearchIndex>,
    duplicates: Mutex<DupIndex>,
    claims: Mutex<Claims>,
    threshold: u32,
}

/// Expands directories (recursively, image extensions only, sorted); keeps files as given.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            collect_dir(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_dir(&path, files)?;
        } else if has_image_extension(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

fn ingest_one(
    config: &Config,
    admission: &Admission,
    manifest: Option<&Manifest>,
    file: &Path,
) -> Result<Outcome> {
    let canonical = file
        .canonicalize()
        .with_context(|| format!("{}", file.display()))?;
    let metadata = match manifest.and_then(|manifest| manifest.get(&canonical)) {
        Some(listed) => listed.clone(),
        None => AssetMetadata::from_file_name(file).validated()?,
    };
    let bytes = fingerprint::read_upload(file, config.max_upload_bytes)?;
    let source = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    admission.admit(&bytes, &metadata, &search::credit(&metadata), &source)
}

impl Admission {
    /// Over the data directory's stores; reads which ids and originals the store holds.
    pub fn open(
        config: &Config,
        store: Arc<Store>,
        catalog: Arc<Catalog>,
        search: Arc<SearchIndex>,
    ) -> Result<Admission> {
        let mut claims = Claims::default();
        for entry in store.entries() {
            claims.ids.insert(entry.asset);
            if entry.kind == Kind::Original {
                claims.by_hash.insert(entry.blake3, entry.asset);
            }
        }
        Ok(Admission {
            duplicates: Mutex::new(fingerprint::open_index(config)?),
            claims: Mutex::new(claims),
            threshold: config.dedup_threshold,
            store,
            catalog,
            search,
        })
    }

    fn claims(&self) -> MutexGuard<'_, Claims> {
        self.claims
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The PDQ distance within which an image is held as a near duplicate.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    pub fn duplicate_index(&self) -> MutexGuard<'_, DupIndex> {
        self.duplicates
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Whether `asset` counts for duplicate checks: the store has its original, or it is on
    /// its way there.
    pub fn exists(&self, asset: AssetId) -> bool {
        self.counts(&self.claims(), asset)
    }

    /// [`Admission::exists`] for a caller already holding the claims.
    fn counts(&self, claims: &Claims, asset: AssetId) -> bool {
        claims.in_flight.contains(&asset) || self.store.contains(asset, Kind::Original)
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
    ) -> Result<Outcome> {
        // Decoding checks the image (format, limits, integrity) before anything is stored.
        let hashed = fingerprint::hash_bytes(bytes, &Limits::default())?;
        let hash = *hashed.blake3.as_bytes();
        let id = {
            let mut claims = self.claims();
            if let Some(&existing) = claims.by_hash.get(&hash) {
                // Taken down since (its bytes deleted), it is nobody's duplicate.
                if self.counts(&claims, existing) {
                    return Ok(Outcome::Duplicate {
                        id: existing.to_string(),
                    });
                }
            }
            let id = fresh_id(&claims.ids)?;
            claims.ids.insert(id);
            claims.in_flight.insert(id);
            claims.by_hash.insert(hash, id);
            id
        };
        let outcome = self.store_new(id, bytes, &hashed, metadata, author, source_file);
        let mut claims = self.claims();
        claims.in_flight.remove(&id);
        if outcome.is_err() {
            // Let a retry take the bytes again.
            claims.by_hash.remove(&hash);
        }
        outcome
    }

    fn store_new(
        &self,
        id: AssetId,
        bytes: &[u8],
        hashed: &fingerprint::Hashed,
        metadata: &AssetMetadata,
        author: &Author,
        source_file: &str,
    ) -> Result<Outcome> {
        // Search and add under one lock, so near duplicates in the same batch see each other.
        let duplicates = {
            let mut index = self.duplicate_index();
            let found =
                fingerprint::candidates(&index, &hashed.fingerprint, self.threshold, |asset| {
                    self.exists(asset)
                });
            let print = &hashed.fingerprint;
            index
                .add(id.as_u64(), &print.index_hashes(), print.reliable())
                .context("adding to the duplicate index")?;
            found
        };
        let pending = duplicates.iter().any(|candidate| candidate.reliable);
        let record = StoredMetadata {
            id: id.to_string(),
            media_type: hashed.media_type,
            bytes: bytes.len() as u64,
            blake3: hashed.blake3.to_hex().to_string(),
            source_file: source_file.to_string(),
            ingested_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or(0),
            status: if pending { "pending" } else { "active" },
            width: hashed.size.0,
            height: hashed.size.1,
            auto_keywords: &hashed.auto_keywords,
            author_id: &author.id,
            duplicates: if pending { &duplicates } else { &[] },
            metadata: &AssetMetadata {
                author: author.name.clone(),
                ..metadata.clone()
            },
        };
        let ingested_at = record.ingested_at;
        let record = serde_json::to_vec(&record).context("encoding metadata")?;
        // Acknowledged only once the bytes and the catalogue row are durable (DESIGN §4).
        let stored = self
            .store
            .put(id, Kind::Original, bytes)
            .and_then(|()| self.store.put(id, Kind::Metadata, &record))
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                self.catalog
                    .add_asset(&catalog_row(id, metadata, author, pending))
                    .context("adding the asset to the catalogue")
            });
        if let Err(error) = stored {
            // Leave no half-admitted asset behind.
            let _ = self.store.delete(id, Kind::Original);
            let _ = self.store.delete(id, Kind::Metadata);
            let _ = self.duplicate_index().remove(id.as_u64());
            return Err(error);
        }
        if pending {
            return Ok(Outcome::Pending {
                id: id.to_string(),
                duplicates,
            });
        }
        let doc = search::asset_doc(
            id,
            metadata,
            author.clone(),
            hashed.size,
            &hashed.auto_keywords,
            ingested_at,
        );
        self.search.upsert(&doc).with_context(|| {
            format!("asset {id} is stored, but adding it to the search index failed; run `stockroom reindex`")
        })?;
        Ok(Outcome::Stored { id: id.to_string() })
    }
}

/// The asset's catalogue row: its terms and who is credited.
fn catalog_row(id: AssetId, metadata: &AssetMetadata, author: &Author, pending: bool) -> NewAsset {
    NewAsset {
        id,
        author_id: author.id.clone(),
        author_name: author.name.clone(),
        title: metadata.title.clone(),
        collection: match metadata.collection {
            Collection::Free => stockroom_catalog::Collection::Free,
            Collection::Unlimited => stockroom_catalog::Collection::Unlimited,
        },
        editorial_only: metadata.editorial_only,
        model_release: metadata.model_release,
        property_release: metadata.property_release,
        pending,
    }
}

/// A random id not yet taken.
fn fresh_id(taken: &HashSet<AssetId>) -> Result<AssetId> {
    loop {
        let raw = getrandom::u64()
            .map_err(|error| anyhow::anyhow!("reading the system's random source: {error}"))?;
        let id = AssetId::from_u64(raw);
        if !taken.contains(&id) {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_yield_images_only_in_sorted_order() -> Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("sub"))?;
        for name in ["b.JPG", "a.png", "notes.txt", "sub/c.webp"] {
            std::fs::write(dir.path().join(name), b"x")?;
        }
        let files = collect_files(&[dir.path().to_path_buf()])?;
        let names: Vec<_> = files
            .iter()
            .map(|path| path.strip_prefix(dir.path()).map(Path::to_path_buf))
            .collect::<Result<_, _>>()?;
        assert_eq!(
            names,
            vec![
                PathBuf::from("a.png"),
                PathBuf::from("b.JPG"),
                PathBuf::from("sub/c.webp")
            ]
        );
        Ok(())
    }
}
