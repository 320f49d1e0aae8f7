//! Hashing uploads for duplicate detection, shared by `ingest`, `hash` and `dedup`.
//!
//! The image is decoded at reduced scale (JPEG in the DCT, WebP in libwebp, PNG box-averaged
//! row by row) with EXIF orientation applied, then hashed: PDQ of the whole (the standard
//! hash, comparable with other platforms' lists), a DCT pHash and blake3 of the file's
//! bytes; for a lookup also PDQ of the picture inside uniform borders, of its centre crop
//! and of the windows and mirror images a lookup compares (`Fingerprint::of_rgb`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use stockroom_dupes::{DupIndex, Match, Query};
use stockroom_phash::{DECODE_LONG_SIDE, Fingerprint, Pdq, pdq_from_rgb, phash_hex, phash64};
use stockroom_render::{Limits, Pixels, auto_keywords, decode_oriented};
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

/// Decodes (within `limits`) an image file's bytes for hashing: the pixels, and the
/// original's size as displayed.
fn decode(bytes: &[u8], limits: &Limits) -> Result<(Pixels, (u32, u32))> {
    let pixels = decode_oriented(bytes, limits, DECODE_LONG_SIDE)?;
    let size = pixels.source.displayed_size();
    Ok((pixels, size))
}

/// Decodes (within `limits`) and hashes an image file's bytes, to look it up in the
/// duplicate index (and then perhaps index it).
pub fn hash_bytes(bytes: &[u8], limits: &Limits) -> Result<Hashed> {
    let (pixels, size) = decode(bytes, limits)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    Ok(Hashed {
        fingerprint: Fingerprint::of_rgb(&pixels.rgb, width, height),
        blake3: blake3::hash(bytes),
        media_type: pixels.source.format.media_type(),
        size,
        auto_keywords: auto_keywords(size.0, size.1, &pixels.rgb),
    })
}

/// An image's published hashes, as `stockroom hash` prints them.
#[derive(Debug)]
pub struct Printed {
    /// PDQ of the whole image, comparable with other platforms' hash lists.
    pub pdq: Pdq,
    pub phash: u64,
    pub blake3: blake3::Hash,
}

/// Decodes (within `limits`) an image file's bytes and computes only its published hashes:
/// none of the trimmed, centre, mirrored or inset regions a lookup needs.
pub fn print_bytes(bytes: &[u8], limits: &Limits) -> Result<Printed> {
    let (pixels, _) = decode(bytes, limits)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    Ok(Printed {
        pdq: pdq_from_rgb(&pixels.rgb, width, height),
        phash: phash64(&pixels.rgb, width, height),
        blake3: blake3::hash(bytes),
    })
}

/// An image's size as displayed and its automatic keywords, read off the pixels decoded
/// as for hashing.
pub fn size_and_keywords(bytes: &[u8], limits: &Limits) -> Result<((u32, u32), Vec<String>)> {
    let (pixels, size) = decode(bytes, limits)?;
    Ok((size, auto_keywords(size.0, size.1, &pixels.rgb)))
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
    pub fn new(path: PathBuf, printed: &Printed) -> HashLine {
        HashLine {
            path,
            pdq: printed.pdq.hash.to_string(),
            quality: printed.pdq.quality,
            phash: phash_hex(printed.phash),
            blake3: printed.blake3.to_hex().to_string(),
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
