//! Hashing an image for duplicate detection, shared by admission, the moderators' checks,
//! `similar`, `stockroom hash` and `stockroom dedup`, and the tools.
//!
//! The image is decoded at reduced scale (JPEG in the DCT, WebP in libwebp, PNG box-averaged
//! row by row) with EXIF orientation applied, then hashed: PDQ of the whole (the standard
//! hash, comparable with other platforms' lists), a DCT pHash and blake3 of the file's
//! bytes; for a lookup also PDQ of the picture inside uniform borders, of its centre crop
//! and of the windows and mirror images a lookup compares (`Fingerprint::of_rgb_covering`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use stockroom_dupes::{DupIndex, Match, Query};
use stockroom_phash::{
    DECODE_LONG_SIDE, Fingerprint, Luma, Pdq, pdq, pdq_from_rgb_covering, phash64, phash64_grey,
};
use stockroom_render::{
    Limits, Pixels, RenderError, auto_keywords, decode_grey_oriented, decode_oriented,
};
use stockroom_vocab::AssetId;

use crate::error::{PlatformError, Result};

/// An image's hashes and what admission reads off its pixels.
#[derive(Debug)]
pub struct Hashed {
    /// The perceptual hashes a lookup compares (and a subset of which is indexed).
    pub fingerprint: Fingerprint,
    /// blake3 of the file's bytes: exact duplicates.
    pub blake3: blake3::Hash,
    /// The file's media type.
    pub media_type: &'static str,
    /// Width and height as displayed (after EXIF orientation), of the original.
    pub size: (u32, u32),
    /// Orientation, size class and dominant colours, for search.
    pub auto_keywords: Vec<String>,
}

/// Reads an image file, refusing it before reading if it is over `max_bytes`.
pub fn read_image_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .map_err(PlatformError::io("reading", path))?
        .len();
    if size > max_bytes {
        return Err(PlatformError::TooLarge {
            bytes: size,
            max: max_bytes,
        });
    }
    std::fs::read(path).map_err(PlatformError::io("reading", path))
}

/// Reads and hashes `files` on every CPU (each refused over `max_bytes`), handing each
/// outcome to `emit` in the order given, as soon as those before it were handed over
/// (`stockroom hash` and `dedup` stream their lines this way). Once `emit` fails, files
/// not yet begun are skipped and its error is returned.
pub fn hash_files_in_order<T: Send, E>(
    files: &[PathBuf],
    max_bytes: u64,
    hash: impl Fn(&[u8]) -> Result<T> + Sync,
    mut emit: impl FnMut(&Path, Result<T>) -> Result<(), E>,
) -> Result<(), E> {
    let (sender, outcomes) = std::sync::mpsc::channel();
    let hash = &hash;
    let stop = &AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            files
                .par_iter()
                .enumerate()
                .for_each_with(sender, |sender, (number, file)| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let outcome = read_image_file(file, max_bytes).and_then(|bytes| hash(&bytes));
                    // The receiver only goes away once `emit` failed.
                    if sender.send((number, outcome)).is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                });
        });
        let (mut waiting, mut next) = (BTreeMap::new(), 0);
        for (number, outcome) in outcomes {
            waiting.insert(number, outcome);
            while let Some(outcome) = waiting.remove(&next) {
                if let Err(error) = emit(&files[next], outcome) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(error);
                }
                next += 1;
            }
        }
        Ok(())
    })
}

/// Decodes (within `limits`) an image file's bytes for hashing: the pixels, and the
/// original's size as displayed.
fn decode(bytes: &[u8], limits: &Limits) -> Result<(Pixels, (u32, u32)), RenderError> {
    let pixels = decode_oriented(bytes, limits, DECODE_LONG_SIDE)?;
    let size = pixels.source.displayed_size();
    Ok((pixels, size))
}

/// The picture a reduced decode stands for, as [`Fingerprint::of_rgb_covering`] takes it.
fn covers((width, height): (u32, u32)) -> (usize, usize) {
    (width as usize, height as usize)
}

/// Decodes (within `limits`) and hashes an image file's bytes, to look it up in the
/// duplicate index (and then perhaps index it).
pub fn hash_bytes(bytes: &[u8], limits: &Limits) -> Result<Hashed, RenderError> {
    let (pixels, size) = decode(bytes, limits)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    Ok(Hashed {
        fingerprint: Fingerprint::of_rgb_covering(&pixels.rgb, width, height, covers(size)),
        blake3: blake3::hash(bytes),
        media_type: pixels.source.format.media_type(),
        size,
        auto_keywords: auto_keywords(size.0, size.1, &pixels.rgb),
    })
}

/// Decodes (within the default limits) and fingerprints an image to index it (without the
/// lookup-only insets), as ingest's hashes are computed; with the pixels hashed.
pub fn fingerprint_for_index(bytes: &[u8]) -> Result<(Fingerprint, Pixels), RenderError> {
    let (pixels, size) = decode(bytes, &Limits::default())?;
    let print = Fingerprint::for_index_covering(
        &pixels.rgb,
        pixels.width as usize,
        pixels.height as usize,
        covers(size),
    );
    Ok((print, pixels))
}

/// Decodes (within the default limits) and fingerprints an image to look it up, as an
/// upload is; with the pixels hashed.
pub fn fingerprint_for_lookup(bytes: &[u8]) -> Result<(Fingerprint, Pixels), RenderError> {
    let (pixels, size) = decode(bytes, &Limits::default())?;
    let print = Fingerprint::of_rgb_covering(
        &pixels.rgb,
        pixels.width as usize,
        pixels.height as usize,
        covers(size),
    );
    Ok((print, pixels))
}

/// An image's published hashes, as `stockroom hash` prints them.
#[derive(Debug)]
pub struct Printed {
    /// PDQ of the whole image, comparable with other platforms' hash lists.
    pub pdq: Pdq,
    /// The 64-bit DCT pHash.
    pub phash: u64,
    /// blake3 of the file's bytes.
    pub blake3: blake3::Hash,
}

/// Decodes (within `limits`) an image file's bytes and computes only its published hashes:
/// none of the trimmed, centre, mirrored or inset regions a lookup needs.
pub fn print_bytes(bytes: &[u8], limits: &Limits) -> Result<Printed, RenderError> {
    // A JPEG's own luma is all these hashes look at: the decoder then skips colour.
    if let Some(grey) = decode_grey_oriented(bytes, limits, DECODE_LONG_SIDE)? {
        let (width, height) = (grey.width as usize, grey.height as usize);
        let luma = Luma::from_grey(&grey.luma, width, height);
        let (full_width, full_height) = covers(grey.source.displayed_size());
        return Ok(Printed {
            pdq: pdq(luma.covering(full_width, full_height)),
            phash: phash64_grey(&grey.luma, width, height),
            blake3: blake3::hash(bytes),
        });
    }
    let (pixels, size) = decode(bytes, limits)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    Ok(Printed {
        pdq: pdq_from_rgb_covering(&pixels.rgb, width, height, covers(size)),
        phash: phash64(&pixels.rgb, width, height),
        blake3: blake3::hash(bytes),
    })
}

/// An image's size as displayed and its automatic keywords, read off the pixels decoded
/// as for hashing.
pub fn size_and_keywords(
    bytes: &[u8],
    limits: &Limits,
) -> Result<((u32, u32), Vec<String>), RenderError> {
    let (pixels, size) = decode(bytes, limits)?;
    Ok((size, auto_keywords(size.0, size.1, &pixels.rgb)))
}

/// One near duplicate (DESIGN §6), nearest first in every list. Also what `stockroom
/// dedup` prints and what a held asset's record keeps, so it reads back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The asset it looks like.
    pub asset_id: AssetId,
    /// Bits of 256 in which the PDQ hashes differ.
    pub distance: u32,
    /// `identity`, `rot90`, …, `flip`: how the query relates to the asset.
    pub transform: String,
    /// Which part of the upload matched (`whole`, `trimmed`, `centre`): a `centre` on one
    /// side means one is a crop of the other.
    pub query_region: String,
    /// Which part of the asset matched.
    pub asset_region: String,
    /// Whether this match alone may hold an upload (the asset's hash reliable, the
    /// upload's reliable as a query).
    pub reliable: bool,
}

/// An image's near duplicates (DESIGN §6; `query` is filled in by whoever names it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DuplicateReport {
    /// PDQ quality, 0–100: below 50 the hash is too flat to auto-match.
    pub quality: u8,
    /// Whether the image's hash may hold an upload by itself.
    pub reliable: bool,
    /// Nearest first.
    pub matches: Vec<Candidate>,
}

/// The candidates for an image, nearest first, among the assets `exists` accepts. (The
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
            asset_id: AssetId::from_u64(found.asset),
            distance: found.distance,
            transform: found.transform.name().to_string(),
            query_region: found.query_region.name().to_string(),
            asset_region: found.indexed_region.name().to_string(),
            reliable: found.reliable && fingerprint.reliable_query(),
        })
        .collect()
}

/// The report for an image looked up with `threshold`.
pub fn report(
    index: &DupIndex,
    fingerprint: &Fingerprint,
    threshold: u32,
    exists: impl Fn(AssetId) -> bool,
) -> DuplicateReport {
    DuplicateReport {
        quality: fingerprint.pdq.quality,
        reliable: fingerprint.reliable_query(),
        matches: candidates(index, fingerprint, threshold, exists),
    }
}

#[cfg(test)]
mod tests {
    use stockroom_phash::pdq_from_rgb;

    use super::*;

    /// `stockroom hash` decodes at 1/4 or 1/8 scale; its PDQ must still be the one computed
    /// on the full decode, which other platforms' hash lists hold.
    #[test]
    fn the_published_pdq_of_a_photo_is_the_one_its_full_decode_gives() {
        let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/photos");
        let mut distances = Vec::new();
        let mut before = Vec::new();
        for entry in std::fs::read_dir(photos).expect("corpus/photos") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("photo");
            let limits = Limits::default();
            let full = decode_oriented(&bytes, &limits, u32::MAX).expect("full decode");
            let reference = pdq_from_rgb(&full.rgb, full.width as usize, full.height as usize);
            assert!(full.width >= 1280, "{}: decoded whole", path.display());
            let printed = print_bytes(&bytes, &limits).expect("printed").pdq;
            let reduced = decode(&bytes, &limits).expect("reduced decode").0;
            let alone = pdq_from_rgb(
                &reduced.rgb,
                reduced.width as usize,
                reduced.height as usize,
            );
            assert!(
                reduced.width <= full.width / 4,
                "{}: decoded reduced",
                path.display()
            );
            if reference.quality >= 80 {
                distances.push((printed.hash.distance(&reference.hash), path.clone()));
                before.push(alone.hash.distance(&reference.hash));
            }
        }
        assert_eq!(
            distances.len(),
            12,
            "the bundled photos all rate 80 or more"
        );
        for (distance, path) in &distances {
            assert!(
                *distance <= 8,
                "{}: {distance} bits from the full decode's PDQ",
                path.display()
            );
        }
        // What the pixels alone give (up to 18 bits away here): the test has teeth.
        let after: u32 = distances.iter().map(|(distance, _)| distance).sum();
        let before: u32 = before.iter().sum();
        assert!(
            before > 3 * after,
            "{before} bits in all before, {after} after"
        );
    }
}
