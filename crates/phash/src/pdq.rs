//! PDQ, ported operation for operation from Meta's C++ reference
//! (`ThreatExchange/pdq/cpp`): float luma, two passes of Jarosz box filters, decimation to
//! 64×64, a 16×16 corner of the 64×64 DCT (DC excluded), bits above the median. The float
//! operations run in the reference's order, so on the same pixels the hashes agree bit for
//! bit except where a coefficient sits within rounding of the median.

// The matrix loops index like the reference does, so the two can be read side by side.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use crate::hash::Hash256;

/// Images smaller than this on either side hash to zero with quality 0, as in the reference.
pub const MIN_HASHABLE_DIM: usize = 5;

/// Below this quality a PDQ hash is unreliable (flat or two-tone images): the reference's
/// documentation says so, and such hashes never hold an upload automatically.
pub const MIN_RELIABLE_QUALITY: u8 = 50;

const DOWNSAMPLE: usize = 64;
const DCT_SIZE: usize = 16;

/// Luma as the reference computes it from RGB (BT.601 weights, in `f32`).
pub fn luma_from_rgb(rgb: &[u8]) -> Vec<f32> {
    rgb.chunks_exact(3)
        .map(|pixel| {
            0.299f32 * f32::from(pixel[0])
                + 0.587f32 * f32::from(pixel[1])
                + 0.114f32 * f32::from(pixel[2])
        })
        .collect()
}

/// A row-major float image.
#[derive(Clone, Debug, PartialEq)]
pub struct Luma {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Luminance per pixel, row by row (`width × height` values).
    pub pixels: Vec<f32>,
    /// Width and height of the picture these pixels stand for: their own for a full
    /// decode; for a reduced one (JPEG's 1/8, a box-averaged PNG), the file's, each pixel
    /// being the mean of a block of it. PDQ is computed as the reference would compute it
    /// on the file (see [`pdq_dct`]).
    pub covers: (usize, usize),
}

impl Luma {
    /// The luminance of packed RGB pixels, weighted as the reference does (BT.601), as a
    /// picture of their own size.
    pub fn from_rgb(rgb: &[u8], width: usize, height: usize) -> Luma {
        let pixels = luma_from_rgb(rgb);
        debug_assert_eq!(pixels.len(), width * height);
        Luma {
            width,
            height,
            pixels,
            covers: (width, height),
        }
    }

    /// One byte of grey a pixel (BT.601 luma, as a JPEG's Y channel holds it), as a
    /// picture of its own size.
    pub fn from_grey(grey: &[u8], width: usize, height: usize) -> Luma {
        debug_assert_eq!(grey.len(), width * height);
        Luma {
            width,
            height,
            pixels: grey.iter().map(|&value| f32::from(value)).collect(),
            covers: (width, height),
        }
    }

    /// The same pixels, standing for a picture of `width × height` (never less than the
    /// pixels themselves).
    pub fn covering(self, width: usize, height: usize) -> Luma {
        let covers = (width.max(self.width), height.max(self.height));
        Luma { covers, ..self }
    }

    /// The image as `mirror` (one of [`Transform::MIRRORS`]) leaves it.
    pub fn mirrored(&self, mirror: Transform) -> Luma {
        let (reverse_x, reverse_y) = match mirror {
            Transform::Flip => (true, false),
            Transform::FlipRot180 => (false, true),
            Transform::Rot180 => (true, true),
            _ => (false, false),
        };
        let mut pixels = Vec::with_capacity(self.pixels.len());
        for y in 0..self.height {
            let source = if reverse_y { self.height - 1 - y } else { y };
            let row = &self.pixels[source * self.width..(source + 1) * self.width];
            if reverse_x {
                pixels.extend(row.iter().rev());
            } else {
                pixels.extend_from_slice(row);
            }
        }
        Luma {
            width: self.width,
            height: self.height,
            pixels,
            covers: self.covers,
        }
    }

    /// The pixels inside `x..x + width`, `y..y + height` (clamped to the image).
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Luma {
        let x = x.min(self.width);
        let y = y.min(self.height);
        let width = width.min(self.width - x);
        let height = height.min(self.height - y);
        let mut pixels = Vec::with_capacity(width * height);
        for row in self
            .pixels
            .chunks_exact(self.width.max(1))
            .skip(y)
            .take(height)
        {
            pixels.extend_from_slice(&row[x..x + width]);
        }
        // The part of the picture the cropped pixels stand for, in proportion.
        let part = |kept: usize, of: usize, covers: usize| {
            (kept * covers + of / 2)
                .checked_div(of)
                .map_or(kept, |part| part.max(kept))
        };
        Luma {
            covers: (
                part(width, self.width, self.covers.0),
                part(height, self.height, self.covers.1),
            ),
            width,
            height,
            pixels,
        }
    }
}

/// The 16×16 DCT coefficients a PDQ hash thresholds, with the image's quality. Keeping the
/// coefficients lets a query derive the hashes of all eight rotations and flips without
/// touching pixels again.
#[derive(Clone, Debug, PartialEq)]
pub struct PdqDct {
    /// Row `i` is vertical frequency `i + 1`, column `j` horizontal frequency `j + 1`.
    pub coefficients: [[f32; DCT_SIZE]; DCT_SIZE],
    /// 0–100: how much gradient the 64×64 image has.
    pub quality: u8,
    /// Share of the 64×64 image's variance that the 16×16 coefficients hold. The rest is in
    /// the frequencies PDQ leaves out: the zero row and column (a picture that varies along
    /// one axis only, such as stripes or wood grain) and those above 16 (fine texture).
    /// When it is tiny, the bits are set by noise: the hash neither survives a re-encode
    /// nor tells such a picture from other stripes.
    pub variance_kept: f32,
}

/// A PDQ hash and its quality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pdq {
    /// The 256 bits.
    pub hash: Hash256,
    /// 0–100: how much structure the hash rests on (flat images score low).
    pub quality: u8,
}

impl Pdq {
    /// Whether the quality is high enough for a match on this hash alone to count.
    pub fn is_reliable(&self) -> bool {
        self.quality >= MIN_RELIABLE_QUALITY
    }
}

/// PDQ of a float luma image (consumed: the filter works in place, as the reference's does).
pub fn pdq(luma: Luma) -> Pdq {
    let dct = pdq_dct(luma);
    Pdq {
        hash: dct.hash(),
        quality: dct.quality,
    }
}

/// PDQ of packed RGB pixels.
pub fn pdq_from_rgb(rgb: &[u8], width: usize, height: usize) -> Pdq {
    pdq(Luma::from_rgb(rgb, width, height))
}

/// PDQ of packed RGB pixels decoded at reduced scale from a picture of `covers` (width,
/// height): the reference's PDQ of the file, not of these pixels (see [`pdq_dct`]).
pub fn pdq_from_rgb_covering(
    rgb: &[u8],
    width: usize,
    height: usize,
    covers: (usize, usize),
) -> Pdq {
    pdq(Luma::from_rgb(rgb, width, height).covering(covers.0, covers.1))
}

/// The reference's `pdqFloat256FromFloatLuma`, with its tiny-image rule from
/// `pdqHash256FromFloatLuma`.
///
/// When the pixels stand for a larger picture ([`Luma::covers`]), the 64×64 image is the
/// one the reference's filters and decimation would make of that picture, each of its
/// pixels taken as the mean of the block it fell in ([`covering_downsample`]): its windows
/// and sample points are the file's, not the reduced pixels'. On the reduced pixels
/// themselves the hash lands 10–46 bits from the file's reference on photos decoded at
/// 1/8; this way, within a few.
pub fn pdq_dct(luma: Luma) -> PdqDct {
    let Luma {
        width,
        height,
        pixels,
        covers,
    } = luma;
    if width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM || pixels.len() != width * height {
        return PdqDct {
            coefficients: [[0.0; DCT_SIZE]; DCT_SIZE],
            quality: 0,
            variance_kept: 0.0,
        };
    }
    let mut small = [[0f32; DOWNSAMPLE]; DOWNSAMPLE];
    if covers.0 > width || covers.1 > height {
        small = covering_downsample(&pixels, width, height, covers);
    } else if width == DOWNSAMPLE && height == DOWNSAMPLE {
        for (row, source) in small.iter_mut().zip(pixels.chunks_exact(DOWNSAMPLE)) {
            row.copy_from_slice(source);
        }
    } else {
        small = jarosz_downsample(pixels, width, height);
    }
    let coefficients = dct64_to_16(&small);
    PdqDct {
        variance_kept: variance_kept(&small, &coefficients),
        quality: quality(&small),
        coefficients,
    }
}

/// The reference's two rounds of Jarosz box filters (along rows, then along columns) and
/// `decimateFloat`. Each pixel kept sees exactly the reference's sequence of float
/// operations; only the loop order differs, for speed (`reference` in the tests holds the
/// reference's order and checks the two agree bit for bit):
/// - rows are filtered eight at a time and columns a whole row at a time, so that
///   independent sums advance together instead of each being one long chain of adds;
/// - the second round emits only the 64 columns and 64 rows that decimation keeps.
fn jarosz_downsample(
    mut image: Vec<f32>,
    width: usize,
    height: usize,
) -> [[f32; DOWNSAMPLE]; DOWNSAMPLE] {
    let along_rows = jarosz_window(width, DOWNSAMPLE);
    let along_cols = jarosz_window(height, DOWNSAMPLE);
    let kept_cols: Vec<usize> = (0..DOWNSAMPLE)
        .map(|j| decimation_centre(j, width))
        .collect();
    let kept_rows: Vec<usize> = (0..DOWNSAMPLE)
        .map(|i| decimation_centre(i, height))
        .collect();
    let mut filtered = vec![0f32; width * height];

    box_along_rows(&image, &mut filtered, width, along_rows, None);
    box_along_cols(&filtered, &mut image, width, height, along_cols, None);

    let wanted = |kept: &[usize], length: usize| {
        let mut wanted = vec![false; length];
        kept.iter().for_each(|&index| wanted[index] = true);
        wanted
    };
    box_along_rows(
        &image,
        &mut filtered,
        width,
        along_rows,
        Some(&wanted(&kept_cols, width)),
    );
    // The columns along rows, then only those columns along columns.
    let mut narrow = vec![0f32; height * DOWNSAMPLE];
    for (out, row) in narrow
        .chunks_exact_mut(DOWNSAMPLE)
        .zip(filtered.chunks_exact(width))
    {
        for (value, &col) in out.iter_mut().zip(&kept_cols) {
            *value = row[col];
        }
    }
    let mut narrow_filtered = vec![0f32; height * DOWNSAMPLE];
    box_along_cols(
        &narrow,
        &mut narrow_filtered,
        DOWNSAMPLE,
        height,
        along_cols,
        Some(&wanted(&kept_rows, height)),
    );
    let mut small = [[0f32; DOWNSAMPLE]; DOWNSAMPLE];
    for (row, &source) in small.iter_mut().zip(&kept_rows) {
        row.copy_from_slice(&narrow_filtered[source * DOWNSAMPLE..(source + 1) * DOWNSAMPLE]);
    }
    small
}

/// The 64×64 image the reference's two rounds of box filters and decimation make of a
/// picture of `covers` pixels, given only `width × height` means of its blocks: each of
/// the picture's pixels is taken to be the mean of the block it falls in, so the whole
/// pipeline is, along each axis, one weighting of the reduced pixels per sample
/// ([`sample_weights`]), applied along rows and then along columns.
fn covering_downsample(
    pixels: &[f32],
    width: usize,
    height: usize,
    covers: (usize, usize),
) -> [[f32; DOWNSAMPLE]; DOWNSAMPLE] {
    let along_rows = sample_weights(covers.0.max(width), width);
    let along_cols = sample_weights(covers.1.max(height), height);
    let mut narrow = vec![[0f32; DOWNSAMPLE]; height];
    for (out, row) in narrow.iter_mut().zip(pixels.chunks_exact(width)) {
        for (value, (first, weights)) in out.iter_mut().zip(&along_rows) {
            *value = weights.iter().zip(&row[*first..]).map(|(w, v)| w * v).sum();
        }
    }
    let mut small = [[0f32; DOWNSAMPLE]; DOWNSAMPLE];
    for (out, (first, weights)) in small.iter_mut().zip(&along_cols) {
        for (weight, row) in weights.iter().zip(&narrow[*first..]) {
            for (value, source) in out.iter_mut().zip(row) {
                *value += weight * source;
            }
        }
    }
    small
}

/// Along one side of `full` picture pixels averaged down to `reduced`, for each of the 64
/// samples decimation keeps: the first reduced pixel that counts and the weight of each
/// from there. The reference's box filter writes, at `o`, the mean of the inputs
/// `o - (window - half) ..= o + half - 1` that exist (`phases`); two rounds of it put on
/// picture pixel `k` the weight a sample gives it, and picture pixel `k` is reduced
/// pixel `k × reduced / full`.
fn sample_weights(full: usize, reduced: usize) -> Vec<(usize, Vec<f32>)> {
    let window = jarosz_window(full, DOWNSAMPLE);
    let half = (window + 2) / 2;
    let span = |o: usize| {
        (
            o.saturating_sub(window - half),
            (o + half - 1).min(full - 1),
        )
    };
    let reduced_of = |k: usize| k * reduced / full;
    (0..DOWNSAMPLE)
        .map(|index| {
            let (first, last) = span(decimation_centre(index, full));
            let (low, high) = (span(first).0, span(last).1);
            // Each input of the second round spreads its weight evenly over its own span:
            // added as differences, then summed along.
            let mut steps = vec![0f64; high - low + 2];
            let share = 1.0 / (last - first + 1) as f64;
            for o in first..=last {
                let (from, to) = span(o);
                let each = share / (to - from + 1) as f64;
                steps[from - low] += each;
                steps[to - low + 1] -= each;
            }
            let start = reduced_of(low);
            let mut weights = vec![0f64; reduced_of(high) - start + 1];
            let mut level = 0f64;
            for (k, step) in (low..=high).zip(&steps) {
                level += step;
                weights[reduced_of(k) - start] += level;
            }
            (start, weights.into_iter().map(|w| w as f32).collect())
        })
        .collect()
}

/// `computeJaroszFilterWindowSize`.
fn jarosz_window(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// `decimateFloat`'s source index for output index `index` of 64 along a side of `size`.
fn decimation_centre(index: usize, size: usize) -> usize {
    ((index as f64 + 0.5) * size as f64 / DOWNSAMPLE as f64) as usize
}

/// The phase counts of the reference's `box1DFloat`: accumulate without writing, write with
/// a growing window, write with the full window, write with a shrinking window.
/// `window <= length` always holds here: `(n + 127) / 128 <= n` for `n >= 1`.
fn phases(length: usize, window: usize) -> (usize, usize, usize, usize) {
    let half = (window + 2) / 2;
    (
        half - 1,
        window - half + 1,
        length.saturating_sub(window),
        half - 1,
    )
}

/// `boxAlongRowsFloat`, eight rows at a time (each row sees exactly the reference's
/// sequence of float operations). With `wanted`, only the columns it marks are written.
fn box_along_rows(
    input: &[f32],
    output: &mut [f32],
    width: usize,
    window: usize,
    wanted: Option<&[bool]>,
) {
    const LANES: usize = 8;
    let mut blocks = input.chunks_exact(width * LANES);
    let mut out_blocks = output.chunks_exact_mut(width * LANES);
    for (block, out) in (&mut blocks).zip(&mut out_blocks) {
        box_rows_together::<LANES>(block, out, width, window, wanted);
    }
    let rest = blocks.remainder().chunks_exact(width);
    for (row, out) in rest.zip(out_blocks.into_remainder().chunks_exact_mut(width)) {
        box_rows_together::<1>(row, out, width, window, wanted);
    }
}

/// The box filter along `N` rows of `width`, their sums advancing in step.
fn box_rows_together<const N: usize>(
    input: &[f32],
    output: &mut [f32],
    width: usize,
    window: usize,
    wanted: Option<&[bool]>,
) {
    let (grow_silently, grow, full, shrink) = phases(width, window);
    let rows: [&[f32]; N] = std::array::from_fn(|r| &input[r * width..(r + 1) * width]);
    let mut sums = [0f32; N];
    let (mut left, mut right, mut written) = (0, 0, 0);
    let mut count = 0usize;
    let mut emit = |sums: &[f32; N], count: usize, written: usize| {
        if wanted.is_some_and(|wanted| !wanted[written]) {
            return;
        }
        let divisor = count as f32;
        for (r, sum) in sums.iter().enumerate() {
            output[r * width + written] = sum / divisor;
        }
    };
    for _ in 0..grow_silently {
        (0..N).for_each(|r| sums[r] += rows[r][right]);
        count += 1;
        right += 1;
    }
    for _ in 0..grow {
        (0..N).for_each(|r| sums[r] += rows[r][right]);
        count += 1;
        emit(&sums, count, written);
        right += 1;
        written += 1;
    }
    for _ in 0..full {
        (0..N).for_each(|r| {
            sums[r] += rows[r][right];
            sums[r] -= rows[r][left];
        });
        emit(&sums, count, written);
        left += 1;
        right += 1;
        written += 1;
    }
    for _ in 0..shrink {
        (0..N).for_each(|r| sums[r] -= rows[r][left]);
        count -= 1;
        emit(&sums, count, written);
        left += 1;
        written += 1;
    }
}

/// `boxAlongColsFloat`, computed a whole row of columns at a time (each column sees exactly
/// the reference's sequence of float operations; only the loop order differs, for cache
/// and SIMD). With `wanted`, only the output rows it marks are written.
fn box_along_cols(
    input: &[f32],
    output: &mut [f32],
    width: usize,
    height: usize,
    window: usize,
    wanted: Option<&[bool]>,
) {
    let (grow_silently, grow, full, shrink) = phases(height, window);
    let row = |index: usize| &input[index * width..(index + 1) * width];
    let mut sums = vec![0f32; width];
    let (mut left, mut right, mut written) = (0, 0, 0);
    let mut count = 0usize;
    let emit = |sums: &[f32], count: usize, written: usize, output: &mut [f32]| {
        if wanted.is_some_and(|wanted| !wanted[written]) {
            return;
        }
        let divisor = count as f32;
        for (out, sum) in output[written * width..(written + 1) * width]
            .iter_mut()
            .zip(sums)
        {
            *out = sum / divisor;
        }
    };
    for _ in 0..grow_silently {
        sums.iter_mut().zip(row(right)).for_each(|(s, v)| *s += v);
        count += 1;
        right += 1;
    }
    for _ in 0..grow {
        sums.iter_mut().zip(row(right)).for_each(|(s, v)| *s += v);
        count += 1;
        emit(&sums, count, written, output);
        right += 1;
        written += 1;
    }
    for _ in 0..full {
        sums.iter_mut()
            .zip(row(right).iter().zip(row(left)))
            .for_each(|(s, (add, sub))| {
                *s += add;
                *s -= sub;
            });
        emit(&sums, count, written, output);
        left += 1;
        right += 1;
        written += 1;
    }
    for _ in 0..shrink {
        sums.iter_mut().zip(row(left)).for_each(|(s, v)| *s -= v);
        count -= 1;
        emit(&sums, count, written, output);
        left += 1;
        written += 1;
    }
}

/// The coefficients' energy over the image's variance (the DCT rows are orthonormal, so by
/// Parseval the full 64×64 transform without its DC term would give exactly 1).
fn variance_kept(
    image: &[[f32; DOWNSAMPLE]; DOWNSAMPLE],
    coefficients: &[[f32; DCT_SIZE]; DCT_SIZE],
) -> f32 {
    let mean = image.iter().flatten().sum::<f32>() / (DOWNSAMPLE * DOWNSAMPLE) as f32;
    let variance: f32 = image
        .iter()
        .flatten()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    let kept: f32 = coefficients.iter().flatten().map(|c| c * c).sum();
    if variance > 0.0 {
        (kept / variance).min(1.0)
    } else {
        0.0
    }
}

/// `pdqImageDomainQualityMetric`: summed, truncated gradients, scaled to 0–100.
fn quality(image: &[[f32; DOWNSAMPLE]; DOWNSAMPLE]) -> u8 {
    let step = |u: f32, v: f32| -> i32 { (((u - v) * 100.0) / 255.0) as i32 };
    let mut sum = 0i32;
    for i in 0..DOWNSAMPLE - 1 {
        for j in 0..DOWNSAMPLE {
            sum += step(image[i][j], image[i + 1][j]).abs();
        }
    }
    for row in image {
        for j in 0..DOWNSAMPLE - 1 {
            sum += step(row[j], row[j + 1]).abs();
        }
    }
    (sum / 90).clamp(0, 100) as u8
}

type DctMatrix = [[f32; DOWNSAMPLE]; DCT_SIZE];

/// The reference's 16×64 DCT-II matrix (rows 1–16; row 0, the DC term, is skipped), and
/// its transpose.
fn dct_matrix() -> &'static (DctMatrix, [[f32; DCT_SIZE]; DOWNSAMPLE]) {
    static MATRIX: OnceLock<(DctMatrix, [[f32; DCT_SIZE]; DOWNSAMPLE])> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0f64 / DOWNSAMPLE as f64).sqrt() as f32;
        let mut matrix = [[0f32; DOWNSAMPLE]; DCT_SIZE];
        let mut transposed = [[0f32; DCT_SIZE]; DOWNSAMPLE];
        for (i, row) in matrix.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                let angle = (std::f64::consts::PI / 2.0 / DOWNSAMPLE as f64)
                    * (i + 1) as f64
                    * (2 * j + 1) as f64;
                *value = (f64::from(scale) * angle.cos()) as f32;
                transposed[j][i] = *value;
            }
        }
        (matrix, transposed)
    })
}

/// `dct64To16`: `D · A · Dᵀ`. Each coefficient sums its 64 products in the reference's
/// order; the loops run so that the inner one is over independent outputs (SIMD lanes).
fn dct64_to_16(a: &[[f32; DOWNSAMPLE]; DOWNSAMPLE]) -> [[f32; DCT_SIZE]; DCT_SIZE] {
    let (d, d_transposed) = dct_matrix();
    let mut t = [[0f32; DOWNSAMPLE]; DCT_SIZE];
    for i in 0..DCT_SIZE {
        for k in 0..DOWNSAMPLE {
            let factor = d[i][k];
            for (out, value) in t[i].iter_mut().zip(&a[k]) {
                *out += factor * value;
            }
        }
    }
    let mut b = [[0f32; DCT_SIZE]; DCT_SIZE];
    for i in 0..DCT_SIZE {
        for k in 0..DOWNSAMPLE {
            let factor = t[i][k];
            for (out, value) in b[i].iter_mut().zip(&d_transposed[k]) {
                *out += factor * value;
            }
        }
    }
    b
}

/// The eight rotations and flips of an image, as seen from the image that was indexed: a
/// query that is the indexed photo turned 90° clockwise matches with `Rot90`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    /// Unchanged.
    Identity,
    /// Turned 90° clockwise.
    Rot90,
    /// Turned 180°.
    Rot180,
    /// Turned 90° counter-clockwise.
    Rot270,
    /// Mirrored left to right.
    Flip,
    /// Mirrored left to right, then turned 90° clockwise (the anti-transpose).
    FlipRot90,
    /// Mirrored left to right, then turned 180° (upside down).
    FlipRot180,
    /// Mirrored left to right, then turned 90° counter-clockwise (a transpose).
    FlipRot270,
}

impl Transform {
    /// The transforms that mirror along axes without turning: their pixels can be produced
    /// by reading rows and columns backwards, and every transform is one of them followed
    /// by a transpose or not.
    pub const MIRRORS: [Transform; 4] = [
        Transform::Identity,
        Transform::Flip,
        Transform::FlipRot180,
        Transform::Rot180,
    ];

    /// Where this transform takes a pixel's offset from the centre (x right, y down).
    const fn matrix(self) -> [[i8; 2]; 2] {
        match self {
            Transform::Identity => [[1, 0], [0, 1]],
            Transform::Rot90 => [[0, -1], [1, 0]],
            Transform::Rot180 => [[-1, 0], [0, -1]],
            Transform::Rot270 => [[0, 1], [-1, 0]],
            Transform::Flip => [[-1, 0], [0, 1]],
            Transform::FlipRot90 => [[0, -1], [-1, 0]],
            Transform::FlipRot180 => [[1, 0], [0, -1]],
            Transform::FlipRot270 => [[0, 1], [1, 0]],
        }
    }

    /// `self` applied after `first`.
    pub fn after(self, first: Transform) -> Transform {
        let (a, b) = (self.matrix(), first.matrix());
        let product = [
            [
                a[0][0] * b[0][0] + a[0][1] * b[1][0],
                a[0][0] * b[0][1] + a[0][1] * b[1][1],
            ],
            [
                a[1][0] * b[0][0] + a[1][1] * b[1][0],
                a[1][0] * b[0][1] + a[1][1] * b[1][1],
            ],
        ];
        Transform::ALL
            .into_iter()
            .find(|t| t.matrix() == product)
            .expect("the eight transforms are closed under composition")
    }

    /// The mirror to apply to a query's pixels so that what remains of undoing `self` is
    /// the identity or a transpose. Those two keep the reference's decimation grid where it
    /// was; undoing a mirror in the DCT reverses the grid, which lands up to a pixel off on
    /// each mirrored axis (tens of bits on a 200 px image).
    pub fn mirror_first(self) -> (Transform, Transform) {
        Transform::MIRRORS
            .into_iter()
            .map(|mirror| (mirror, mirror.after(self)))
            .find(|(_, rest)| matches!(rest, Transform::Identity | Transform::FlipRot270))
            .expect("every transform is a mirror and maybe a transpose")
    }

    /// Every transform, in the order matches are reported and hashes computed.
    pub const ALL: [Transform; 8] = [
        Transform::Identity,
        Transform::Rot90,
        Transform::Rot180,
        Transform::Rot270,
        Transform::Flip,
        Transform::FlipRot90,
        Transform::FlipRot180,
        Transform::FlipRot270,
    ];

    /// The transform's name, as matches report it (`identity`, `rot90`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Transform::Identity => "identity",
            Transform::Rot90 => "rot90",
            Transform::Rot180 => "rot180",
            Transform::Rot270 => "rot270",
            Transform::Flip => "flip",
            Transform::FlipRot90 => "flip_rot90",
            Transform::FlipRot180 => "flip_rot180",
            Transform::FlipRot270 => "flip_rot270",
        }
    }
}

impl PdqDct {
    /// `pdqBuffer16x16ToBits`: bit `16 i + j` is set when coefficient `(i, j)` is above
    /// the median (the 128th smallest, as the reference's Torben selection returns).
    pub fn hash(&self) -> Hash256 {
        let mut values: Vec<f32> = self.coefficients.iter().flatten().copied().collect();
        let (_, median, _) = values.select_nth_unstable_by(127, f32::total_cmp);
        let median = *median;
        let mut hash = Hash256::default();
        for (bit, value) in self.coefficients.iter().flatten().enumerate() {
            if *value > median {
                hash.set_bit(bit);
            }
        }
        hash
    }

    /// The coefficients of this image undone by `transform`: if this image is an indexed
    /// photo after `transform`, the result's hash is (close to) the indexed photo's hash.
    /// Signs and transposes only, as in the reference's `dct16OriginalTo*`: a mirror
    /// negates the odd-frequency terms along its axis, a quarter turn transposes.
    pub fn undo(&self, transform: Transform) -> PdqDct {
        let a = &self.coefficients;
        let odd = |index: usize| index.is_multiple_of(2); // index 0 is frequency 1
        let mut b = [[0f32; DCT_SIZE]; DCT_SIZE];
        for i in 0..DCT_SIZE {
            for j in 0..DCT_SIZE {
                let value = a[i][j];
                // Reference names: FlipX negates odd vertical frequencies (upside down),
                // FlipY odd horizontal ones (left-right), Rotate90 is counter-clockwise.
                match transform {
                    Transform::Identity => b[i][j] = value,
                    // Undo a clockwise turn: turn counter-clockwise (reference Rotate90).
                    Transform::Rot90 => b[j][i] = if odd(j) { -value } else { value },
                    Transform::Rot180 => b[i][j] = if odd(i) != odd(j) { -value } else { value },
                    // Undo a counter-clockwise turn: reference Rotate270.
                    Transform::Rot270 => b[j][i] = if odd(i) { -value } else { value },
                    Transform::Flip => b[i][j] = if odd(j) { -value } else { value },
                    // The anti-transpose is its own inverse (reference FlipMinus1).
                    Transform::FlipRot90 => b[j][i] = if odd(i) != odd(j) { -value } else { value },
                    Transform::FlipRot180 => b[i][j] = if odd(i) { -value } else { value },
                    // A transpose is its own inverse (reference FlipPlus1).
                    Transform::FlipRot270 => b[j][i] = value,
                }
            }
        }
        PdqDct {
            coefficients: b,
            quality: self.quality,
            variance_kept: self.variance_kept,
        }
    }

    /// The hash of this image undone by each of the eight transforms.
    pub fn dihedral_hashes(&self) -> [(Transform, Hash256); 8] {
        Transform::ALL.map(|transform| (transform, self.undo(transform).hash()))
    }
}

#[cfg(test)]
#[path = "pdq_reference.rs"]
mod reference;
