//! Recall of the duplicate detector per transformation, at a precision of at least 99.99%.
//!
//! `stockroom-dupes-eval [--long-side N] [--windows N] [--misses] DIR...` (`--misses` lists what stockroom
//! missed, per transformation)
//!
//! 1. **Catalogue.** Every photo under the directories is hashed from its file, as ingest
//!    hashes an upload. Beside the originals, each photo gives distractors: 13 tiles (its
//!    2×2 and 3×3 grids, hashed from JPEGs like uploads) and `--windows` (default 4,000)
//!    random 64×64 windows of its image pyramid, the photo-like hashes the index benchmark
//!    uses. Pictures that share light and texture with the queries are where false matches
//!    come from, and their number sets how rare a false match must be.
//! 2. **Queries.** Each photo whose own hash may auto-match (`Fingerprint::reliable`)
//!    is reduced to a working copy of `--long-side` px (default 1024, the size of a stolen
//!    preview) and put through every transformation in [`TRANSFORMS`]; each result is
//!    encoded as a JPEG (quality 90 unless the transformation sets it) and hashed from those
//!    bytes, as an upload would be.
//! 3. **Scoring.** Each query is looked up three ways:
//!    - *stockroom*: the `DupIndex` search ingest runs (trimmed and centre regions, eight
//!      rotations and flips); a match counts only if the asset's hash is reliable and the query's reliable as a
//!      query (`Fingerprint::reliable_query`), as at ingest;
//!    - *PDQ*: the plain published hash, whole image against whole image, both of quality ≥ 50;
//!    - *pHash*: the 64-bit DCT pHash, whole against whole.
//!
//!    A query's own original is its true match. Assets of the same picture (its tiles, and
//!    files that are versions of one picture, such as `Elephants` at three sizes or the
//!    `-d`/`-l` pairs) are neither true nor false matches. Every other asset within the
//!    threshold is a false match. For each method the threshold is the largest whose
//!    precision, true matches / (true + false), is at least 99.99%, and recall is given per
//!    transformation at that threshold; for stockroom also at the default threshold, 31.

#[path = "../../common/images.rs"]
mod images;
#[path = "../../common/rng.rs"]
mod rng;
#[path = "../../common/windows.rs"]
mod windows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use rayon::prelude::*;
use rng::Rng;
use stockroom_dupes::{DEFAULT_THRESHOLD, DupIndex, Query};
use stockroom_phash::{
    CENTRE_CROP, Fingerprint, Luma, MIN_VARIANCE_KEPT, Pdq, Rect, Region, pdq_dct, phash64,
};
use stockroom_platform::fingerprint::{
    fingerprint_for_index, fingerprint_for_lookup as fingerprint,
};
use stockroom_render::{Limits, decode_oriented};

/// One step of a transformation.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Encode at this JPEG quality (instead of 90).
    Jpeg(u8),
    /// Scale width and height by these factors.
    Resize(f64, f64),
    /// Gaussian blur of this sigma (px of the working copy).
    Blur(f32),
    /// `v ↦ 255 (v / 255)^γ`.
    Gamma(f64),
    /// Multiply every channel.
    Brightness(f64),
    /// Scale the distance from mid-grey.
    Contrast(f64),
    Grayscale,
    /// A large semi-transparent word across the middle.
    TextWatermark,
    /// An opaque-ish badge in the bottom-right corner.
    LogoWatermark,
    /// Gaussian noise of this sigma (0–255 scale).
    Noise(f64),
    /// Cut this share off width and height, split randomly between the sides.
    Crop(f64),
    /// Add a uniform border of this share of width and height, split randomly.
    Pad(f64),
    /// Turn by this many degrees on the same canvas (corners black).
    Rotate(f64),
    FlipH,
    FlipV,
    Rot90,
    Rot180,
    Rot270,
    Transpose,
}

use Step::*;

/// The transformations, named for the table. The list: JPEG quality 30–95, resize
/// 0.25–2× with aspect change, blur, gamma, brightness/contrast ±20%, grayscale, text and
/// logo watermarks, noise, crop 2–10%, pad 10–20%, rotation 1–4°, flips and 90° turns,
/// and combinations.
const TRANSFORMS: &[(&str, &[Step])] = &[
    ("jpeg q30", &[Jpeg(30)]),
    ("jpeg q50", &[Jpeg(50)]),
    ("jpeg q70", &[Jpeg(70)]),
    ("jpeg q95", &[Jpeg(95)]),
    ("resize 0.25×", &[Resize(0.25, 0.25)]),
    ("resize 0.5×", &[Resize(0.5, 0.5)]),
    ("resize 2×", &[Resize(2.0, 2.0)]),
    ("resize 1×0.8 (aspect)", &[Resize(1.0, 0.8)]),
    ("resize 0.6×0.75 (aspect)", &[Resize(0.6, 0.75)]),
    ("blur σ1", &[Blur(1.0)]),
    ("blur σ3", &[Blur(3.0)]),
    ("gamma 0.7", &[Gamma(0.7)]),
    ("gamma 1.5", &[Gamma(1.5)]),
    ("brightness +20%", &[Brightness(1.2)]),
    ("brightness −20%", &[Brightness(0.8)]),
    ("contrast +20%", &[Contrast(1.2)]),
    ("contrast −20%", &[Contrast(0.8)]),
    ("grayscale", &[Grayscale]),
    ("text watermark", &[TextWatermark]),
    ("logo watermark", &[LogoWatermark]),
    ("noise σ12", &[Noise(12.0)]),
    ("crop 2%", &[Crop(0.02)]),
    ("crop 5%", &[Crop(0.05)]),
    ("crop 10%", &[Crop(0.10)]),
    ("pad 10%", &[Pad(0.10)]),
    ("pad 20%", &[Pad(0.20)]),
    ("rotate 1°", &[Rotate(1.0)]),
    ("rotate 2°", &[Rotate(2.0)]),
    ("rotate 4°", &[Rotate(4.0)]),
    ("flip", &[FlipH]),
    ("flip vertical", &[FlipV]),
    ("turn 90°", &[Rot90]),
    ("turn 180°", &[Rot180]),
    ("turn 270°", &[Rot270]),
    ("transpose", &[Transpose]),
    ("half size, q50, flip", &[Resize(0.5, 0.5), FlipH, Jpeg(50)]),
    ("crop 5%, text, q70", &[Crop(0.05), TextWatermark, Jpeg(70)]),
    (
        "pad 10%, gamma 1.3, turn 90°",
        &[Pad(0.10), Gamma(1.3), Rot90],
    ),
    (
        "grayscale, blur σ1, contrast +20%",
        &[Grayscale, Blur(1.0), Contrast(1.2)],
    ),
    (
        "rotate 2°, crop 5%, brightness −20%",
        &[Rotate(2.0), Crop(0.05), Brightness(0.8)],
    ),
];

/// Default JPEG quality of a transformed copy.
const QUALITY: u8 = 90;

/// The highest stockroom score looked at: a distance of 64 through a lookup without a
/// margin. Scores go down to -16 (a plain lookup's margin), so they are kept shifted.
const MAX_SCORE: u32 = 64;
const SCORE_SHIFT: u32 = 16;

/// The precision each method's threshold must keep.
const PRECISION: f64 = 0.9999;

fn main() -> Result<()> {
    stockroom_render::keep_decode_buffers();
    let mut long_side = 1024u32;
    let mut misses = false;
    let mut windows = 4000usize;
    let mut dirs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--long-side" => long_side = args.next().context("--long-side N")?.parse()?,
            "--misses" => misses = true,
            "--windows" => windows = args.next().context("--windows N")?.parse()?,
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    let files = images::collect_images(&dirs)?;
    ensure!(
        !files.is_empty(),
        "usage: stockroom-dupes-eval [--long-side N] [--windows N] [--misses] DIR... (no images under {dirs:?})"
    );
    let started = Instant::now();

    let photos: Vec<Photo> = files
        .par_iter()
        .map(|path| Photo::load(path, long_side))
        .collect::<Result<_>>()?;
    let mut assets: Vec<Asset> = photos
        .iter()
        .enumerate()
        .map(|(photo, p)| Asset::of(photo, &p.fingerprint))
        .collect();
    let distractors: Vec<Vec<Asset>> = photos
        .par_iter()
        .enumerate()
        .map(|(photo, p)| distractors(photo, &p.work, windows))
        .collect::<Result<_>>()?;
    assets.extend(distractors.into_iter().flatten());

    let sources: Vec<usize> = (0..photos.len())
        .filter(|&photo| photos[photo].fingerprint.reliable())
        .collect();
    let jobs: Vec<(usize, usize)> = sources
        .iter()
        .flat_map(|&photo| (0..TRANSFORMS.len()).map(move |transform| (photo, transform)))
        .collect();
    let queries: Vec<Fingerprint> = jobs
        .par_iter()
        .map(|&(photo, transform)| {
            let mut rng = Rng::new((photo * TRANSFORMS.len() + transform) as u64);
            let (image, quality) = apply(&photos[photo].work, TRANSFORMS[transform].1, &mut rng);
            Ok(fingerprint(&encode(&image, quality)?)?.0)
        })
        .collect::<Result<_>>()?;
    let hashed = started.elapsed();

    let dir = tempfile::tempdir()?;
    let mut index = DupIndex::open(dir.path().join("hashes"))?;
    for (id, asset) in assets.iter().enumerate() {
        index.add(id as u64, &asset.hashes, asset.reliable)?;
    }
    let index = DupIndex::open(dir.path().join("hashes"))?;

    let outcomes: Vec<Outcome> = queries
        .par_iter()
        .zip(&jobs)
        .map(|(query, &(photo, _))| judge(&index, &photos, &assets, photo, query))
        .collect();
    let mut scores = [
        Score::new(MAX_SCORE, SCORE_SHIFT),
        Score::new(256, 0),
        Score::new(64, 0),
    ];
    for (outcome, &(_, transform)) in outcomes.iter().zip(&jobs) {
        for (method, score) in scores.iter_mut().enumerate() {
            score
                .true_distances
                .push((transform, outcome.true_distance[method]));
            for &distance in &outcome.false_distances[method] {
                score.false_at[distance as usize] += 1;
            }
        }
    }

    print_report(&photos, &sources, &assets, &queries, &scores, hashed);
    if misses {
        let notes: Vec<&str> = outcomes.iter().map(|o| o.note.as_str()).collect();
        print_misses(&photos, &jobs, &scores[0], &notes);
    }
    Ok(())
}

/// One query's verdicts by the three methods (stockroom, PDQ, pHash).
struct Outcome {
    /// Distance to the query's own original, if the method matched it at all.
    true_distance: [Option<u32>; 3],
    /// Distances of matches with assets of other pictures.
    false_distances: [Vec<u32>; 3],
    /// Why stockroom did not count the own original, when it found it unreliable.
    note: String,
}

fn judge(
    index: &DupIndex,
    photos: &[Photo],
    assets: &[Asset],
    photo: usize,
    query: &Fingerprint,
) -> Outcome {
    let mut verdicts: [Vec<(usize, u32)>; 3] = Default::default();
    let mut note = String::new();
    // stockroom: the index search ingest runs; only reliable matches may hold an upload.
    let lookups: Vec<Query> = query
        .query_hashes()
        .into_iter()
        .map(|(region, transform, pdq)| Query::new(pdq.hash, region, transform))
        .collect();
    for found in index.search(&lookups, MAX_SCORE) {
        if found.reliable && query.reliable_query() {
            verdicts[0].push((
                found.asset as usize,
                (found.score + SCORE_SHIFT as i32) as u32,
            ));
        } else if found.asset as usize == photo {
            note = format!(
                "{} but query quality {}{}",
                found.score,
                query.pdq.quality,
                if query.two_tone { ", two-tone" } else { "" }
            );
        }
    }
    for (id, asset) in assets.iter().enumerate() {
        if asset.pdq.is_reliable() && query.pdq.is_reliable() {
            verdicts[1].push((id, asset.pdq.hash.distance(&query.pdq.hash)));
        }
        let distance = (asset.phash ^ query.phash).count_ones();
        verdicts[2].push((id, distance));
    }
    let mut outcome = Outcome {
        true_distance: [None; 3],
        false_distances: Default::default(),
        note,
    };
    for (method, found) in verdicts.into_iter().enumerate() {
        for (id, distance) in found {
            let other = assets[id].photo;
            if id == photo {
                outcome.true_distance[method] = Some(distance);
            } else if photos[other].group != photos[photo].group {
                // Tiles of the query's own picture are neither true nor false matches.
                outcome.false_distances[method].push(distance);
            }
        }
    }
    outcome
}

/// A corpus photo: its catalogue hashes and the working copy queries are made from.
struct Photo {
    name: String,
    /// Files that are versions of one picture share a group.
    group: String,
    fingerprint: Fingerprint,
    work: RgbImage,
}

impl Photo {
    fn load(path: &Path, long_side: u32) -> Result<Photo> {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        let (fingerprint, _) =
            fingerprint_for_index(&bytes).with_context(|| path.display().to_string())?;
        let pixels = decode_oriented(&bytes, &Limits::default(), long_side)?;
        let work = RgbImage::from_raw(pixels.width, pixels.height, pixels.rgb)
            .context("decoded buffer has the wrong size")?;
        let scale = long_side as f64 / pixels.width.max(pixels.height) as f64;
        let work = if scale < 1.0 {
            let (w, h) = scaled(&work, scale, scale);
            imageops::resize(&work, w, h, FilterType::CatmullRom)
        } else {
            work
        };
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Photo {
            group: picture_group(&name),
            name,
            fingerprint,
            work,
        })
    }
}

/// The picture a file shows, from its name: the Debian wallpaper packages ship some
/// pictures several times (`_3840x2160` sizes, `-d`/`-l` and `-Dark`/`-Light` variants,
/// four colourings of `Ubuntu-Mate-*-no-logo`). Those are true duplicates of each other,
/// not false matches.
fn picture_group(name: &str) -> String {
    let mut group = name.to_ascii_lowercase();
    if let Some((head, tail)) = group.rsplit_once('_')
        && tail.split_once('x').is_some_and(|(w, h)| {
            !w.is_empty()
                && !h.is_empty()
                && (w.chars().chain(h.chars())).all(|c| c.is_ascii_digit())
        })
    {
        group = head.to_string();
    }
    for suffix in ["-d", "-l", "-dark", "-light"] {
        if let Some(head) = group.strip_suffix(suffix) {
            group = head.to_string();
        }
    }
    if group.contains("ubuntu-mate-") && group.ends_with("-no-logo") {
        group = "ubuntu-mate-no-logo".into();
    }
    group
}

/// An indexed image: an original, or a distractor cut from `photo`.
struct Asset {
    photo: usize,
    /// What ingest indexes for it.
    hashes: Vec<(Region, Pdq)>,
    reliable: bool,
    /// The plain PDQ and pHash of the whole, for the baselines.
    pdq: Pdq,
    phash: u64,
}

impl Asset {
    fn of(photo: usize, print: &Fingerprint) -> Asset {
        Asset {
            photo,
            hashes: print.index_hashes(),
            reliable: print.reliable(),
            pdq: print.pdq,
            phash: print.phash,
        }
    }
}

/// A photo's distractors: its 2×2 and 3×3 grid tiles, each hashed from a JPEG as an
/// upload would be, and `windows` random 64×64 windows of its image pyramid (hashed
/// directly: a catalogue's bulk at low cost).
fn distractors(photo: usize, work: &RgbImage, windows: usize) -> Result<Vec<Asset>> {
    let mut out = Vec::new();
    for grid in [2u32, 3] {
        let (w, h) = (work.width() / grid, work.height() / grid);
        for row in 0..grid {
            for column in 0..grid {
                let tile = imageops::crop_imm(work, column * w, row * h, w, h).to_image();
                out.push(Asset::of(
                    photo,
                    &fingerprint_for_index(&encode(&tile, QUALITY)?)?.0,
                ));
            }
        }
    }
    let luma = Luma::from_rgb(work.as_raw(), work.width() as usize, work.height() as usize);
    let pyramid = windows::pyramid(&luma);
    let mut rng = Rng::new(!(photo as u64));
    for _ in 0..windows {
        let (window, dct) = windows::textured_window(|_| &pyramid, &mut rng);
        let pdq = Pdq {
            hash: dct.hash(),
            quality: dct.quality,
        };
        // Indexed as ingest would index a picture: whole and centre crop.
        let centre = Rect {
            x: 0,
            y: 0,
            width: window.width,
            height: window.height,
        }
        .centre(CENTRE_CROP);
        let centre = pdq_dct(window.crop(centre.x, centre.y, centre.width, centre.height));
        let centre = Pdq {
            hash: centre.hash(),
            quality: centre.quality,
        };
        let grey: Vec<u8> = window
            .pixels
            .iter()
            .flat_map(|&v| [v.round().clamp(0.0, 255.0) as u8; 3])
            .collect();
        out.push(Asset {
            photo,
            hashes: vec![(Region::Whole, pdq), (Region::Centre, centre)],
            reliable: pdq.is_reliable() && dct.variance_kept >= MIN_VARIANCE_KEPT,
            pdq,
            phash: phash64(&grey, window.width, window.height),
        });
    }
    Ok(out)
}

fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(image)?;
    Ok(bytes)
}

fn scaled(image: &RgbImage, fx: f64, fy: f64) -> (u32, u32) {
    (
        ((image.width() as f64 * fx).round() as u32).max(1),
        ((image.height() as f64 * fy).round() as u32).max(1),
    )
}

/// Applies the steps in order; returns the image and the JPEG quality to encode it at.
fn apply(work: &RgbImage, steps: &[Step], rng: &mut Rng) -> (RgbImage, u8) {
    let mut image = work.clone();
    let mut quality = QUALITY;
    for step in steps {
        image = match *step {
            Jpeg(q) => {
                quality = q;
                image
            }
            Resize(fx, fy) => {
                let (w, h) = scaled(&image, fx, fy);
                imageops::resize(&image, w, h, FilterType::Triangle)
            }
            Blur(sigma) => imageops::blur(&image, sigma),
            Gamma(gamma) => map_channels(image, |v| 255.0 * (v / 255.0).powf(gamma)),
            Brightness(factor) => map_channels(image, |v| v * factor),
            Contrast(factor) => map_channels(image, |v| (v - 128.0) * factor + 128.0),
            Grayscale => {
                let mut image = image;
                for pixel in image.pixels_mut() {
                    let [r, g, b] = pixel.0.map(f64::from);
                    let y = (0.299 * r + 0.587 * g + 0.114 * b).round() as u8;
                    *pixel = Rgb([y, y, y]);
                }
                image
            }
            TextWatermark => {
                let mut image = image;
                let cell = (image.width() as f64 * 0.7 / WORD_CELLS as f64).max(1.0);
                let x = (image.width() as f64 - cell * WORD_CELLS as f64) / 2.0;
                let y = (image.height() as f64 - cell * 7.0) / 2.0;
                draw_word(&mut image, x, y, cell, [255, 255, 255], 0.45);
                image
            }
            LogoWatermark => {
                let mut image = image;
                let cell = (image.width() as f64 * 0.2 / WORD_CELLS as f64).max(1.0);
                let (bw, bh) = (cell * (WORD_CELLS as f64 + 2.0), cell * 9.0);
                let (bx, by) = (
                    image.width() as f64 - bw - cell * 2.0,
                    image.height() as f64 - bh - cell * 2.0,
                );
                fill(&mut image, bx, by, bw, bh, [30, 30, 30], 0.75);
                draw_word(&mut image, bx + cell, by + cell, cell, [255, 255, 255], 1.0);
                image
            }
            Noise(sigma) => {
                let mut image = image;
                for value in image.iter_mut() {
                    // Box–Muller.
                    let (u, v) = (rng.unit().max(1e-12), rng.unit());
                    let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                    *value = (*value as f64 + sigma * z).round().clamp(0.0, 255.0) as u8;
                }
                image
            }
            Crop(share) => {
                let (w, h) = scaled(&image, 1.0 - share, 1.0 - share);
                let x = rng.below((image.width() - w) as usize + 1) as u32;
                let y = rng.below((image.height() - h) as usize + 1) as u32;
                imageops::crop_imm(&image, x, y, w, h).to_image()
            }
            Pad(share) => {
                let (bw, bh) = scaled(&image, share, share);
                let colour = [
                    Rgb([0, 0, 0]),
                    Rgb([255, 255, 255]),
                    Rgb([128, 128, 128]),
                    Rgb([
                        rng.below(256) as u8,
                        rng.below(256) as u8,
                        rng.below(256) as u8,
                    ]),
                ][rng.below(4)];
                let mut padded =
                    RgbImage::from_pixel(image.width() + bw, image.height() + bh, colour);
                let (x, y) = (rng.below(bw as usize + 1), rng.below(bh as usize + 1));
                imageops::replace(&mut padded, &image, x as i64, y as i64);
                padded
            }
            Rotate(degrees) => rotate(&image, degrees),
            FlipH => imageops::flip_horizontal(&image),
            FlipV => imageops::flip_vertical(&image),
            Rot90 => imageops::rotate90(&image),
            Rot180 => imageops::rotate180(&image),
            Rot270 => imageops::rotate270(&image),
            Transpose => imageops::flip_horizontal(&imageops::rotate90(&image)),
        };
    }
    (image, quality)
}

fn map_channels(mut image: RgbImage, f: impl Fn(f64) -> f64) -> RgbImage {
    let table: Vec<u8> = (0..256)
        .map(|v| f(v as f64).round().clamp(0.0, 255.0) as u8)
        .collect();
    for value in image.iter_mut() {
        *value = table[*value as usize];
    }
    image
}

/// Turns `image` about its centre with bilinear sampling; the corners that
/// come from outside the picture are black, as most editors leave them.
fn rotate(image: &RgbImage, degrees: f64) -> RgbImage {
    let (w, h) = image.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
        let (sx, sy) = (cos * dx - sin * dy + cx, sin * dx + cos * dy + cy);
        if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f64 || sy > (h - 1) as f64 {
            return Rgb([0, 0, 0]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
        let at = |x, y, c: usize| image.get_pixel(x, y).0[c] as f64;
        Rgb(std::array::from_fn(|c| {
            let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
            let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
            (top * (1.0 - fy) + bottom * fy).round() as u8
        }))
    })
}

/// The watermark word in a 5×7 pixel font, one cell of spacing between letters.
const WORD: &str = "STOCKROOM";
const WORD_CELLS: usize = WORD.len() * 6 - 1;

fn glyph(letter: char) -> [&'static str; 7] {
    match letter {
        'S' => [
            " ####", "#    ", "#    ", " ### ", "    #", "    #", "#### ",
        ],
        'T' => [
            "#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
        'O' => [
            " ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
        'C' => [
            " ####", "#    ", "#    ", "#    ", "#    ", "#    ", " ####",
        ],
        'K' => [
            "#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #",
        ],
        'R' => [
            "#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #",
        ],
        'M' => [
            "#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #",
        ],
        _ => ["     "; 7],
    }
}

fn draw_word(image: &mut RgbImage, x: f64, y: f64, cell: f64, colour: [u8; 3], alpha: f64) {
    for (index, letter) in WORD.chars().enumerate() {
        for (row, line) in glyph(letter).iter().enumerate() {
            for (column, bit) in line.chars().enumerate() {
                if bit == '#' {
                    let cx = x + (index * 6 + column) as f64 * cell;
                    fill(image, cx, y + row as f64 * cell, cell, cell, colour, alpha);
                }
            }
        }
    }
}

/// Blends `colour` over a rectangle (clipped to the image).
fn fill(image: &mut RgbImage, x: f64, y: f64, w: f64, h: f64, colour: [u8; 3], alpha: f64) {
    let clip = |v: f64, max: u32| (v.round().max(0.0) as u32).min(max);
    let (x0, x1) = (clip(x, image.width()), clip(x + w, image.width()));
    let (y0, y1) = (clip(y, image.height()), clip(y + h, image.height()));
    for py in y0..y1 {
        for px in x0..x1 {
            let pixel = image.get_pixel_mut(px, py);
            for (value, target) in pixel.0.iter_mut().zip(colour) {
                *value = (*value as f64 * (1.0 - alpha) + target as f64 * alpha).round() as u8;
            }
        }
    }
}

/// One method's outcome over all queries.
struct Score {
    /// `(transform, distance to the true original)`, `None` when not found.
    true_distances: Vec<(usize, Option<u32>)>,
    /// False matches by distance.
    false_at: Vec<u64>,
    /// Distances are kept this much above the method's own scale (stockroom scores start
    /// below zero).
    shift: u32,
}

impl Score {
    fn new(max_distance: u32, shift: u32) -> Score {
        Score {
            true_distances: Vec::new(),
            false_at: vec![0; (max_distance + shift) as usize + 1],
            shift,
        }
    }

    /// A kept distance on the method's own scale.
    fn label(&self, kept: u32) -> i64 {
        i64::from(kept) - i64::from(self.shift)
    }

    fn true_at(&self, threshold: u32) -> usize {
        self.true_distances
            .iter()
            .filter(|(_, distance)| distance.is_some_and(|d| d <= threshold))
            .count()
    }

    fn false_within(&self, threshold: u32) -> u64 {
        self.false_at[..=threshold as usize].iter().sum()
    }

    fn precision(&self, threshold: u32) -> f64 {
        let (hits, false_hits) = (self.true_at(threshold) as f64, self.false_within(threshold));
        if hits + false_hits as f64 == 0.0 {
            1.0
        } else {
            hits / (hits + false_hits as f64)
        }
    }

    /// The largest threshold that keeps [`PRECISION`].
    fn threshold(&self) -> u32 {
        (0..self.false_at.len() as u32)
            .rev()
            .find(|&t| self.precision(t) >= PRECISION)
            .unwrap_or(0)
    }

    /// Found / queries per transformation, then overall, at `threshold`.
    fn recall(&self, threshold: u32) -> (BTreeMap<usize, (usize, usize)>, f64) {
        let mut per = BTreeMap::new();
        for &(transform, distance) in &self.true_distances {
            let entry = per.entry(transform).or_insert((0, 0));
            entry.1 += 1;
            if distance.is_some_and(|d| d <= threshold) {
                entry.0 += 1;
            }
        }
        let overall = self.true_at(threshold) as f64 / self.true_distances.len().max(1) as f64;
        (per, overall)
    }
}

/// What stockroom missed at its threshold: per transformation, each photo and its distance.
fn print_misses(photos: &[Photo], jobs: &[(usize, usize)], score: &Score, notes: &[&str]) {
    let threshold = score.threshold();
    println!(
        "\nstockroom misses at threshold {} (photo: score against its original):",
        score.label(threshold)
    );
    for (transform, (name, _)) in TRANSFORMS.iter().enumerate() {
        let missed: Vec<String> = jobs
            .iter()
            .zip(&score.true_distances)
            .zip(notes)
            .filter(|(((_, t), (_, distance)), _)| {
                *t == transform && !distance.is_some_and(|d| d <= threshold)
            })
            .map(|(((photo, _), (_, distance)), note)| {
                let distance = match (distance, note.is_empty()) {
                    (Some(d), _) => score.label(*d).to_string(),
                    (None, true) => format!("over {MAX_SCORE}"),
                    (None, false) => note.to_string(),
                };
                format!("{} {distance}", photos[*photo].name)
            })
            .collect();
        if !missed.is_empty() {
            println!("- {name}: {}", missed.join(", "));
        }
    }
}

fn print_report(
    photos: &[Photo],
    sources: &[usize],
    assets: &[Asset],
    queries: &[Fingerprint],
    scores: &[Score; 3],
    hashed: std::time::Duration,
) {
    let flat: Vec<&str> = (0..photos.len())
        .filter(|photo| !sources.contains(photo))
        .map(|photo| photos[photo].name.as_str())
        .collect();
    println!(
        "catalogue: {} photos and {} distractors (grid tiles and pyramid windows of the same photos); {} queries ({} transformations of {} photos), hashed in {:.1} s",
        photos.len(),
        assets.len() - photos.len(),
        queries.len(),
        TRANSFORMS.len(),
        sources.len(),
        hashed.as_secs_f64()
    );
    println!(
        "not queried (flat, two-tone or striped: never auto-matched, so catalogue only): {}",
        if flat.is_empty() {
            "none".to_string()
        } else {
            flat.join(", ")
        }
    );
    let negatives = queries.len() * assets.len();
    println!(
        "negative pairs per method: about {negatives} (every query against every asset of another picture)\n"
    );
    let names = ["stockroom", "PDQ", "pHash"];
    let thresholds: Vec<u32> = scores.iter().map(Score::threshold).collect();
    let recalls: Vec<_> = scores
        .iter()
        .zip(&thresholds)
        .map(|(score, &t)| score.recall(t))
        .collect();
    let default_at = DEFAULT_THRESHOLD + SCORE_SHIFT;
    let default = scores[0].recall(default_at);
    println!(
        "| transformation | queries | stockroom T={} | stockroom T={DEFAULT_THRESHOLD} | PDQ T={} | pHash T={} |",
        scores[0].label(thresholds[0]),
        thresholds[1],
        thresholds[2]
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let percent = |(found, total): (usize, usize)| 100.0 * found as f64 / total.max(1) as f64;
    for (transform, (name, _)) in TRANSFORMS.iter().enumerate() {
        let count = recalls[0].0.get(&transform).map_or(0, |e| e.1);
        print!("| {name} | {count} ");
        for column in [&recalls[0].0, &default.0, &recalls[1].0, &recalls[2].0] {
            print!(
                "| {:.1}% ",
                percent(column.get(&transform).copied().unwrap_or((0, 0)))
            );
        }
        println!("|");
    }
    println!(
        "| **all** | {} | **{:.1}%** | **{:.1}%** | **{:.1}%** | **{:.1}%** |\n",
        queries.len(),
        100.0 * recalls[0].1,
        100.0 * default.1,
        100.0 * recalls[1].1,
        100.0 * recalls[2].1
    );
    for ((name, score), &t) in names.iter().zip(scores).zip(&thresholds) {
        println!(
            "{name}: threshold {} (largest with precision ≥ {:.2}%): {} true, {} false matches, precision {:.4}%; next threshold adds {} false",
            score.label(t),
            100.0 * PRECISION,
            score.true_at(t),
            score.false_within(t),
            100.0 * score.precision(t),
            score
                .false_at
                .get(t as usize + 1)
                .map_or("no".to_string(), |n| n.to_string())
        );
    }
    println!(
        "stockroom at the default threshold {DEFAULT_THRESHOLD}: {} false matches, precision {:.4}%",
        scores[0].false_within(default_at),
        100.0 * scores[0].precision(default_at)
    );
}
