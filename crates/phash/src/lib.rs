//! Perceptual hashes for finding duplicates: PDQ (bit-compatible with Meta's reference, so
//! hash lists other platforms share can be matched), a 64-bit DCT pHash as a second
//! signal, and what makes them robust beyond the published hashes: uniform borders trimmed
//! (a lookup also tries the picture with only its outermost border gone),
//! a centre crop hashed beside the whole, nine shifted 95% insets looked up against it (a
//! copy cut a few per cent off one side), all eight rotations and flips derived at query
//! time from the DCTs of the region and its three mirror images (mirroring the pixels
//! keeps PDQ's decimation grid where the original's was; mirroring in the DCT moves it),
//! and per-lookup margins so the extra lookups do not buy recall with false matches.
//!
//! No I/O and no decoding: callers pass RGB pixels, ideally from a reduced-scale decode
//! (PDQ looks at 64×64; see [`DECODE_LONG_SIDE`]).

#![warn(missing_docs)]

mod dct_phash;
mod hash;
mod pdq;
mod trim;

pub use dct_phash::{phash64, phash64_grey};
pub use hash::{Hash256, ParseHashError, phash_hex};
pub use pdq::{
    Luma, MIN_HASHABLE_DIM, MIN_RELIABLE_QUALITY, Pdq, PdqDct, Transform, luma_from_rgb, pdq,
    pdq_dct, pdq_from_rgb, pdq_from_rgb_covering,
};
pub use trim::{Content, Rect, content};

/// The long side callers should decode to for hashing, saying what size of picture the
/// pixels stand for ([`Fingerprint::of_rgb_covering`], [`pdq_from_rgb_covering`]) so that
/// PDQ is the file's, as other platforms compute it. The smaller the decode, the coarser
/// the blocks the file's filters are computed from: at 200 px (a 1,920 px JPEG at 1/8)
/// two photos of the corpus stayed 12 and 16 bits from the reference on the full decode;
/// at 300 (JPEGs of 1,600–2,399 px at 1/4) every photo of quality ≥ 80 in the corpus and
/// the holdout is within 6, for JPEG hashing about 10% slower (`tools/phash-bench.sh`).
pub const DECODE_LONG_SIDE: u32 = 300;

/// Share of each side the centre-crop hash keeps: a copy with up to ~10% cut off its edges
/// is closer to the original's centre crop than to the whole original.
pub const CENTRE_CROP: f64 = 0.9;

/// Below this share of the picture's variance in the hashed frequencies
/// ([`PdqDct::variance_kept`]), a hash is set by noise and never holds an upload: stripes,
/// grain and other one-dimensional patterns. The corpus photographs keep 13–61%; its wood
/// grain and stripes keep under 1%.
pub const MIN_VARIANCE_KEPT: f32 = 0.02;

/// An upload below this PDQ quality is never held on its own (see
/// [`Fingerprint::reliable_query`]); indexed images need PDQ's 50.
pub const MIN_QUERY_QUALITY: u8 = 30;

/// Share of each side an [`Region::Inset`] window keeps.
pub const INSET: f64 = 0.95;

/// Where the insets sit along each axis (0: flush with the start, 1: with the end).
const INSET_POSITIONS: [f64; 3] = [0.0, 0.5, 1.0];

/// The mirrors a lookup hashes each region under, besides the region as it is.
pub const MIRRORED: [Transform; 3] = [Transform::Flip, Transform::FlipRot180, Transform::Rot180];

/// Which part of an image a fingerprint hash covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// The whole image: the standard PDQ, comparable with other platforms' hashes.
    Whole,
    /// The picture with uniform borders trimmed (only when there were borders).
    Trimmed,
    /// The centre 90% of the trimmed picture on each side.
    Centre,
    /// A 95% window of the trimmed picture at one of nine positions (query only): a copy
    /// with up to 5% cut off, on any sides, contains the original's centre crop, and one of
    /// the nine lines up with it to within about 1.3% of a side.
    Inset,
    /// The picture with only its outermost uniform border trimmed, when trimming went
    /// further (query only, met with the original's whole): a padded copy of a picture
    /// whose own edges hold uniform bands or gradients (see [`Content::outer`]).
    Unpadded,
}

impl Region {
    /// The region's name, as matches report it (`whole`, `trimmed`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Region::Whole => "whole",
            Region::Trimmed => "trimmed",
            Region::Centre => "centre",
            Region::Inset => "inset",
            Region::Unpadded => "unpadded",
        }
    }

    /// Bits a lookup of this region under `transform` may match beyond the threshold
    /// (negative: must stay inside it). Every lookup is another chance of a chance match,
    /// so the one comparison PDQ's thresholds were set for, the upload as it is against
    /// the asset as indexed (whole, trimmed or centre; the unpadded picture against a
    /// whole counts as one of these), reaches 16 bits further; the seven
    /// other rotations and flips and the shifted insets match within the threshold itself,
    /// which the default keeps at PDQ's 31; a turned inset, the rarest case and the most
    /// lookups, 8 bits inside it. On `tools/dupes-eval`, adding the insets with these
    /// margins raised recall at 31 from 74% to 83% without a false match, and 99.99%
    /// precision holds up to a threshold of 37.
    pub fn margin(self, transform: Transform) -> i32 {
        match (self == Region::Inset, transform != Transform::Identity) {
            (false, false) => 16,
            (true, true) => -8,
            _ => 0,
        }
    }

    /// Whether a query hash of region `query` is compared with an indexed hash of region
    /// `indexed`. An inset is a shifted 95% window of the query, made to line up with the
    /// centre crop of an original the query was cut from; against anything else it would
    /// only add chances of a false match.
    pub fn may_meet(query: Region, indexed: Region) -> bool {
        match query {
            Region::Inset => indexed == Region::Centre,
            Region::Unpadded => indexed == Region::Whole,
            _ => true,
        }
    }

    /// Whether hashes of this region are indexed (insets and unpadded regions are only
    /// looked up).
    pub const fn is_indexed(self) -> bool {
        !matches!(self, Region::Inset | Region::Unpadded)
    }
}

/// Everything hashed from one image's pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprint {
    /// The standard PDQ hash and quality of the whole image.
    pub pdq: Pdq,
    /// 64-bit DCT pHash of the whole image.
    pub phash: u64,
    /// The picture inside uniform borders.
    pub content: Rect,
    /// Nearly all pixels fall in two narrow luma bands (logos, text, line art on a plain
    /// ground). PDQ's quality metric rates a sharp two-tone edge highly, but unrelated
    /// two-tone images share hashes, so they never hold an upload on their own.
    pub two_tone: bool,
    /// DCT coefficients per region hashed (whole first), from which the hash and the
    /// dihedral variants of each follow. A lookup's may include [`Region::Unpadded`], which
    /// is never indexed.
    pub regions: Vec<(Region, PdqDct)>,
    /// Per region, in the order of `regions`: the DCT of its pixels mirrored left-right,
    /// upside down, and both ([`MIRRORED`]), from which the rotations and flips that
    /// mirror are undone without moving the decimation grid. Looked up, not indexed
    /// (none when built [`Fingerprint::for_index`]).
    pub mirrored: Vec<[PdqDct; 3]>,
    /// The nine inset windows, looked up but not indexed (none when built
    /// [`Fingerprint::for_index`]).
    pub insets: Vec<PdqDct>,
}

impl Fingerprint {
    /// Hashes `width × height` packed RGB, with the insets an upload is looked up by.
    pub fn of_rgb(rgb: &[u8], width: usize, height: usize) -> Fingerprint {
        Fingerprint::hash(rgb, width, height, (width, height), true)
    }

    /// As [`Fingerprint::of_rgb`], for pixels decoded at reduced scale from a picture of
    /// `covers` (width, height): each region is hashed as the reference would hash that
    /// part of the picture at full size ([`Luma::covers`]).
    pub fn of_rgb_covering(
        rgb: &[u8],
        width: usize,
        height: usize,
        covers: (usize, usize),
    ) -> Fingerprint {
        Fingerprint::hash(rgb, width, height, covers, true)
    }

    /// Hashes `width × height` packed RGB to index or print it, never to look it up: the
    /// mirrored regions and the nine insets (most of the hashing) are left out, and
    /// [`Fingerprint::query_hashes`] must not be called.
    pub fn for_index(rgb: &[u8], width: usize, height: usize) -> Fingerprint {
        Fingerprint::hash(rgb, width, height, (width, height), false)
    }

    /// As [`Fingerprint::for_index`], for pixels decoded at reduced scale from a picture of
    /// `covers` (width, height), as [`Fingerprint::of_rgb_covering`].
    pub fn for_index_covering(
        rgb: &[u8],
        width: usize,
        height: usize,
        covers: (usize, usize),
    ) -> Fingerprint {
        Fingerprint::hash(rgb, width, height, covers, false)
    }

    fn hash(
        rgb: &[u8],
        width: usize,
        height: usize,
        covers: (usize, usize),
        for_lookup: bool,
    ) -> Fingerprint {
        let luma = Luma::from_rgb(rgb, width, height).covering(covers.0, covers.1);
        let Content {
            outer,
            inner: content,
        } = content(rgb, width, height);
        let two_tone = is_two_tone(&luma.pixels);
        let whole = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        let crop = |rect: Rect| luma.crop(rect.x, rect.y, rect.width, rect.height);
        let mut crops = Vec::with_capacity(3);
        if content != whole {
            crops.push((Region::Trimmed, crop(content)));
        }
        crops.push((Region::Centre, crop(content.centre(CENTRE_CROP))));
        if for_lookup && outer != whole && outer != content {
            crops.push((Region::Unpadded, crop(outer)));
        }
        let (insets, mirrored) = if for_lookup {
            let insets = INSET_POSITIONS
                .iter()
                .flat_map(|&y| INSET_POSITIONS.map(|x| content.window(INSET, x, y)))
                .map(|window| pdq_dct(crop(window)))
                .collect();
            let mirrored = std::iter::once(&luma)
                .chain(crops.iter().map(|(_, crop)| crop))
                .map(|image| MIRRORED.map(|mirror| pdq_dct(image.mirrored(mirror))))
                .collect();
            (insets, mirrored)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut regions = Vec::with_capacity(crops.len() + 1);
        regions.push((Region::Whole, pdq_dct(luma)));
        regions.extend(
            crops
                .into_iter()
                .map(|(region, crop)| (region, pdq_dct(crop))),
        );
        let whole_dct = &regions[0].1;
        Fingerprint {
            pdq: Pdq {
                hash: whole_dct.hash(),
                quality: whole_dct.quality,
            },
            phash: phash64(rgb, width, height),
            content,
            two_tone,
            regions,
            mirrored,
            insets,
        }
    }

    /// Whether this image, as an upload, may be held by a match with a reliable asset.
    /// It needs less texture than an indexed image (PDQ quality 30, not 50): the asset's
    /// hash carries the evidence, and darkening or flattening a copy costs it quality
    /// (on the corpus, 20% darker copies of photos rated 50–68 rate 33–48).
    pub fn reliable_query(&self) -> bool {
        self.pdq.quality >= MIN_QUERY_QUALITY && self.structured()
    }

    /// Not two-tone, and not a one-dimensional pattern.
    fn structured(&self) -> bool {
        !self.two_tone && self.regions[0].1.variance_kept >= MIN_VARIANCE_KEPT
    }

    /// Whether a match on this image may hold an upload without a human looking first.
    pub fn reliable(&self) -> bool {
        self.pdq.is_reliable() && self.structured()
    }

    /// The hashes to index for this image: one per region that is indexed.
    pub fn index_hashes(&self) -> Vec<(Region, Pdq)> {
        self.regions
            .iter()
            .filter(|(region, _)| region.is_indexed())
            .map(|(region, dct)| {
                (
                    *region,
                    Pdq {
                        hash: dct.hash(),
                        quality: dct.quality,
                    },
                )
            })
            .collect()
    }

    /// The hashes to look up for this image: each region under each of the eight
    /// transforms, and each inset likewise. A region's transform that mirrors is undone
    /// from the mirrored pixels' DCT (so at most a transpose is left to do in the DCT);
    /// an inset's, from its own DCT.
    pub fn query_hashes(&self) -> Vec<(Region, Transform, Pdq)> {
        debug_assert!(
            self.insets.len() == INSET_POSITIONS.len() * INSET_POSITIONS.len()
                && self.mirrored.len() == self.regions.len(),
            "a fingerprint built for_index has no lookup hashes"
        );
        let mut out = Vec::with_capacity((self.regions.len() + self.insets.len()) * 8);
        let pdq = |dct: &PdqDct, undo: Transform| Pdq {
            hash: dct.undo(undo).hash(),
            quality: dct.quality,
        };
        for ((region, dct), mirrored) in self.regions.iter().zip(&self.mirrored) {
            for transform in Transform::ALL {
                let (mirror, rest) = transform.mirror_first();
                let source = MIRRORED
                    .iter()
                    .position(|m| *m == mirror)
                    .map_or(dct, |index| &mirrored[index]);
                out.push((*region, transform, pdq(source, rest)));
            }
        }
        for dct in &self.insets {
            for transform in Transform::ALL {
                out.push((Region::Inset, transform, pdq(dct, transform)));
            }
        }
        out
    }
}

/// At least 90% of (up to 65,536 evenly sampled) pixels in the two fullest of 32 luma bins.
fn is_two_tone(luma: &[f32]) -> bool {
    if luma.is_empty() {
        return true;
    }
    let step = luma.len().div_ceil(1 << 16).max(1);
    let mut bins = [0usize; 32];
    let mut total = 0;
    for value in luma.iter().step_by(step) {
        bins[((*value / 8.0) as usize).min(31)] += 1;
        total += 1;
    }
    bins.sort_unstable_by(|a, b| b.cmp(a));
    (bins[0] + bins[1]) * 10 >= total * 9
}

#[cfg(test)]
mod tests;
