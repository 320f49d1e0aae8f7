//! Hashing uploads for duplicate detection, shared by `ingest`, `hash` and `dedup`.
//!
//! The image is decoded at reduced scale (JPEG in the DCT, WebP in libwebp) with EXIF
//! orientation applied, then hashed: PDQ of the whole (the standard hash, comparable with
//! other platforms' lists), of the picture inside uniform borders and of its centre crop,
//! plus a DCT pHash and blake3 of the file's bytes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use stockroom_dupes::{DupIndex, Match, Query};
use stockroom_phash::{DECODE_LONG_SIDE, Fingerprint, phash_hex};
use stockroom_render::{Limits, auto_keywords, decode_oriented};
use stockroom_store::AssetId;

use crate::config::Config;

/// An upload's hashes.
#[derive(Debug)]
pub struct Hashed {
    pub fingerprint: Fingerprint,
    pub blake3: blake3::Hash,
    pub media_type: &'static str,
    /// Width and height as displayed (after EXIF orientation), of the original.
    pub size: (u32, u32),
    /// Orientation, size class and dominant colours, for search.
    pub auto_keywords: Vec<String>,
}

/// Reads an uploaded file, refusing it before reading if it is over `max_bytes`.
pub fn read_upload(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| path.display().to_string())?
        .len();
    if size > max_bytes {
        bail!("file is {size} bytes; the upload limit is {max_bytes} bytes");
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// What an image is hashed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Its hashes are printed: the lookup-only insets are not computed.
    Print,
    /// It is looked up in the duplicate index (and may then be indexed).
    Lookup,
}

/// Decodes (within `limits`) and hashes an image file's bytes.
pub fn hash_bytes(bytes: &[u8], limits: &Limits, purpose: Purpose) -> Result<Hashed> {
    let pixels = decode_oriented(bytes, limits, DECODE_LONG_SIDE)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    let size = pixels.source.displayed_size();
    Ok(Hashed {
        size,
        auto_keywords: auto_keywords(size.0, size.1, &pixels.rgb),
        fingerprint: match purpose {
            Purpose::Print => Fingerprint::for_index(&pixels.rgb, width, height),
            Purpose::Lookup => Fingerprint::of_rgb(&pixels.rgb, width, height),
        },
        blake3: blake3::hash(bytes),
        media_type: pixels.source.format.media_type(),
    })
}

/// The line `stockroom hash` prints per image (DESIGN §3).
#[derive(Debug, Serialize)]
pub struct HashLine {
    pub path: PathBuf,
    pub pdq: String,
    pub quality: u8,
    pub phash: String,
    pub blake3: String,
}

impl HashLine {
    pub fn new(path: PathBuf, hashed: &Hashed) -> HashLine {
        HashLine {
            path,
            pdq: hashed.fingerprint.pdq.hash.to_string(),
            quality: hashed.fingerprint.pdq.quality,
            phash: phash_hex(hashed.fingerprint.phash),
            blake3: hashed.blake3.to_hex().to_string(),
        }
    }
}

/// One near-duplicate as clients see it (DESIGN §6); the server's type, so the CLI and
/// the API print the same shape.
pub use stockroom_server::Candidate;

/// The candidates for an upload, nearest first, among the assets `exists` accepts. (The
/// index can name an asset the store lacks: a crash between indexing an upload and storing
/// it leaves its hashes behind.)
pub fn candidates(
    index: &DupIndex,
    fingerprint: &Fingerprint,
    threshold: u32,
    exists: impl Fn(AssetId) -> bool,
) -> Vec<Candidate> {
    let queries: Vec<Query> = fingerprint
        .query_hashes()
        .into_iter()
        .map(|(region, transform, pdq)| Query::new(pdq.hash, region, transform))
        .collect();
    index
        .search(&queries, threshold)
        .into_iter()
        .filter(|found| exists(AssetId::from_u64(found.asset)))
        .map(|found: Match| Candidate {
            asset_id: AssetId::from_u64(found.asset).to_string(),
            distance: found.distance,
            transform: found.transform.name().to_string(),
            query_region: found.query_region.name().to_string(),
            asset_region: found.indexed_region.name().to_string(),
            reliable: found.reliable && fingerprint.reliable_query(),
        })
        .collect()
}

/// Opens the data dir's duplicate index (creating it).
pub fn open_index(config: &Config) -> Result<DupIndex> {
    let path = config.dupes_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    DupIndex::open(&path).with_context(|| format!("opening {}", path.display()))
}
