//! PNG shrink-on-load: the `png` crate hands over one row at a time, and each row is added
//! into block sums at once, so that a large PNG bound for a 1000 px preview or a 200 px
//! hash is never held at full size. Every PNG the decoder takes streams this way: any bit
//! depth (16-bit samples are narrowed to 8 bits per row, rounding as the `image` crate
//! does) and interlaced ones (each Adam7 pass's pixels land in the block they belong to).
//! A 10,900 × 10,900 16-bit RGBA PNG would be 950 MB decoded whole; streamed it needs a
//! row (87 KB) and the reduced image.
//!
//! Each output pixel is the mean of a block of `factor × factor` source pixels composited
//! over white, rounded once. [`Averaging::Srgb`] averages the sRGB values: what decoding
//! whole, flattening and box-averaging gives, less the rounding of each composited pixel
//! (hashing). [`Averaging::Linear`] averages light: each composited pixel is mapped to
//! 16-bit linear light, summed, and the mean mapped back to sRGB (previews, which then
//! finish the last ≤ 2× in linear light too).
//!
//! Inflating and unfiltering are then most of the work (they are the decoder's floor);
//! the full-size buffer, its zeroing, the compositing pass over it and the resize that
//! followed are gone. Only an interlaced PNG that needs no shrinking (factor 1, so under
//! twice the target on its long side) is left to the whole decode.

use std::io::Cursor;
use std::sync::OnceLock;

use image::error::{DecodingError, ImageFormatHint};
use image::{ImageError, ImageFormat};
use png::{BitDepth, ColorType, Transformations};

use crate::decode::{Decoded, Limits, SourceInfo, orientation_number};
use crate::error::{Format, RenderError, Result};

/// Room for the decoder's own buffers (a row, metadata chunks such as an ICC profile); the
/// image itself is never allocated whole here.
const DECODER_BYTES: usize = 64 << 20;

/// What a block of pixels is averaged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Averaging {
    /// The sRGB values, as a hash expects (and as the DCT's scaling does).
    Srgb,
    /// Light: 16-bit linear values, as a preview's reduction wants.
    Linear,
}

fn decode_error(error: png::DecodingError) -> RenderError {
    RenderError::Decode {
        format: Format::Png,
        source: ImageError::Decoding(DecodingError::new(
            ImageFormatHint::Exact(ImageFormat::Png),
            error,
        )),
    }
}

fn truncated() -> RenderError {
    decode_error(png::DecodingError::IoError(
        std::io::ErrorKind::UnexpectedEof.into(),
    ))
}

/// Decodes a PNG shrunk by the largest whole factor that keeps its long side at least
/// `target_long_side`; `None` for an interlaced PNG that needs no shrinking, which the
/// whole decode handles (it is under twice the target, so small).
pub(crate) fn decode_shrunk(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
    averaging: Averaging,
) -> Result<Option<Decoded>> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: DECODER_BYTES,
        },
    );
    let header = decoder.read_header_info().map_err(decode_error)?;
    let (width, height, interlaced) = (header.width, header.height, header.interlaced);
    limits.check(u64::from(width), u64::from(height))?;
    let mut factor = (width.max(height) / target_long_side.max(1)).max(1) as usize;
    if interlaced {
        // The grid's u32 sums hold 255² × factor² (sRGB with alpha) or 65535 × factor²
        // (light) up to a factor of 256; a coarser target gets the rest from the caller.
        factor = factor.min(256);
    }
    if interlaced && factor == 1 {
        return Ok(None);
    }
    // With nothing to average, both ways give the composited pixels themselves.
    let averaging = if factor == 1 {
        Averaging::Srgb
    } else {
        averaging
    };
    // Palettes and grey below 8 bits become 8-bit RGB(A) and grey; tRNS becomes alpha.
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(decode_error)?;
    let (color, depth) = reader.output_color_type();
    let channels = match color {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => return Ok(None),
    };
    let deep = match depth {
        BitDepth::Eight => false,
        BitDepth::Sixteen => true,
        _ => return Ok(None),
    };
    let info = reader.info();
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .map_or(1, orientation_number);
    let icc_profile = info.icc_profile.as_deref().map(<[u8]>::to_vec);

    let (width, height) = (width as usize, height as usize);
    let line_bytes = reader
        .output_line_size(width as u32)
        .ok_or_else(truncated)?;
    let mut raw = vec![0u8; line_bytes];
    let mut narrowed = vec![0u8; if deep { width * channels } else { 0 }];
    let mut shrink = Shrink::new(width, height, channels, factor, averaging, interlaced);
    let mut passes = Adam7Rows::new(width, height);
    let mut rows = 0usize;
    while reader.read_row(&mut raw).map_err(decode_error)?.is_some() {
        let placement = if interlaced {
            passes.next().ok_or_else(truncated)?
        } else {
            Placement {
                x0: 0,
                dx: 1,
                count: width,
                y: rows,
            }
        };
        let samples = placement.count * channels;
        let row = if deep {
            narrow(&raw[..samples * 2], &mut narrowed[..samples]);
            &narrowed[..samples]
        } else {
            &raw[..samples]
        };
        shrink.add(row, placement);
        rows += 1;
    }
    // `read_row` answered `None` only after checking the rest of the image data (its
    // remaining IDAT chunks), as a whole decode does; every row must have come.
    let expected = if interlaced {
        Adam7Rows::new(width, height).count()
    } else {
        height
    };
    if rows != expected {
        return Err(truncated());
    }
    let (rgb, out_width, out_height) = shrink.finish();
    Ok(Some(Decoded {
        info: SourceInfo {
            format: Format::Png,
            width: width as u32,
            height: height as u32,
            orientation,
        },
        rgb,
        width: out_width as u32,
        height: out_height as u32,
        icc_profile,
        // Averaged in light, the rest of the reduction is still owed in light.
        prescaled: factor > 1 && averaging == Averaging::Srgb,
    }))
}

/// 16-bit big-endian samples to 8 bits, rounding to nearest as the `image` crate does.
fn narrow(wide: &[u8], out: &mut [u8]) {
    for (out, pair) in out.iter_mut().zip(wide.chunks_exact(2)) {
        *out = ((u32::from(u16::from_be_bytes([pair[0], pair[1]])) + 128) / 257) as u8;
    }
}

/// Where a decoded row's pixels sit: `count` pixels at `x0`, `x0 + dx`, … on line `y`.
#[derive(Clone, Copy, Debug)]
struct Placement {
    x0: usize,
    dx: usize,
    count: usize,
    y: usize,
}

/// The rows of an Adam7-interlaced image in the order they are stored: seven passes, each
/// a sub-grid `(x offset, x step, y offset, y step)`, empty passes skipped (as the `png`
/// crate skips them; it does not say which pass a row belongs to).
struct Adam7Rows {
    width: usize,
    height: usize,
    pass: usize,
    line: usize,
}

const ADAM7: [(usize, usize, usize, usize); 7] = [
    (0, 8, 0, 8),
    (4, 8, 0, 8),
    (0, 4, 4, 8),
    (2, 4, 0, 4),
    (0, 2, 2, 4),
    (1, 2, 0, 2),
    (0, 1, 1, 2),
];

impl Adam7Rows {
    fn new(width: usize, height: usize) -> Adam7Rows {
        Adam7Rows {
            width,
            height,
            pass: 0,
            line: 0,
        }
    }
}

impl Iterator for Adam7Rows {
    type Item = Placement;

    fn next(&mut self) -> Option<Placement> {
        while self.pass < ADAM7.len() {
            let (x0, dx, y0, dy) = ADAM7[self.pass];
            let count = self.width.saturating_sub(x0).div_ceil(dx);
            let lines = self.height.saturating_sub(y0).div_ceil(dy);
            if self.line < lines && count > 0 {
                let y = y0 + self.line * dy;
                self.line += 1;
                return Some(Placement { x0, dx, count, y });
            }
            self.pass += 1;
            self.line = 0;
        }
        None
    }
}

/// sRGB value to 16-bit linear light.
fn to_linear() -> &'static [u16; 256] {
    static TABLE: OnceLock<[u16; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|value| {
            let v = value as f64 / 255.0;
            let light = if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            };
            (light * 65535.0).round() as u16
        })
    })
}

/// 16-bit linear light to the nearest sRGB value.
fn to_srgb() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|light| {
                let l = f64::from(light) / 65535.0;
                let v = if l <= 0.003_130_8 {
                    l * 12.92
                } else {
                    1.055 * l.powf(1.0 / 2.4) - 0.055
                };
                (v * 255.0).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    })
}

/// A pixel composited over white and rounded, as `composite_over_white` does.
fn composite(colour: u8, alpha: u8) -> u8 {
    let (c, a) = (u16::from(colour), u16::from(alpha));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

/// The box averaging of one image, by rows or, for an interlaced one, into a grid.
struct Shrink {
    width: usize,
    height: usize,
    channels: usize,
    /// 1 (grey) or 3.
    colours: usize,
    factor: usize,
    averaging: Averaging,
    out_width: usize,
    out_height: usize,
    /// sRGB sums with alpha are 255 times the composited values (`add_over_white`).
    weight: u64,
    /// Rows: per-sample column sums of the current band of `factor` rows (`channels`
    /// lanes per pixel in sRGB, `colours` in light). Interlaced: one sum per output pixel
    /// and colour, for the whole image, as the passes visit every band again.
    sums: Vec<u32>,
    row_sums: Vec<u32>,
    linear_row: Vec<u16>,
    rows_in_band: usize,
    rows_seen: usize,
    /// Packed RGB output, `out_width * out_height * 3` bytes.
    rgb: Vec<u8>,
}

impl Shrink {
    fn new(
        width: usize,
        height: usize,
        channels: usize,
        factor: usize,
        averaging: Averaging,
        interlaced: bool,
    ) -> Shrink {
        let (out_width, out_height) = (width.div_ceil(factor), height.div_ceil(factor));
        let colours = if channels >= 3 { 3 } else { 1 };
        let has_alpha = matches!(channels, 2 | 4);
        let lanes = match averaging {
            Averaging::Srgb => channels,
            Averaging::Linear => colours,
        };
        Shrink {
            width,
            height,
            channels,
            colours,
            factor,
            averaging,
            out_width,
            out_height,
            weight: if has_alpha && averaging == Averaging::Srgb {
                255
            } else {
                1
            },
            sums: if interlaced {
                vec![0; out_width * out_height * colours]
            } else {
                Vec::new()
            },
            row_sums: if interlaced {
                Vec::new()
            } else {
                vec![0; width * lanes]
            },
            linear_row: Vec::new(),
            rows_in_band: 0,
            rows_seen: 0,
            rgb: if interlaced {
                Vec::new()
            } else {
                Vec::with_capacity(out_width * out_height * 3)
            },
        }
    }

    /// Adds one decoded row of 8-bit samples (grey, grey+alpha, RGB or RGBA).
    fn add(&mut self, row: &[u8], at: Placement) {
        if !self.sums.is_empty() {
            self.add_to_grid(row, at);
            return;
        }
        match (self.averaging, self.channels) {
            (Averaging::Srgb, 2) => add_over_white::<2>(&mut self.row_sums, row),
            (Averaging::Srgb, 4) => add_over_white::<4>(&mut self.row_sums, row),
            (Averaging::Srgb, _) => {
                for (sum, &sample) in self.row_sums.iter_mut().zip(row) {
                    *sum += u32::from(sample);
                }
            }
            (Averaging::Linear, _) => {
                let mut linear = std::mem::take(&mut self.linear_row);
                self.to_light(row, &mut linear);
                // Up to 65535 × factor per sum: a u32 holds factors to 65,537.
                for (sum, &light) in self.row_sums.iter_mut().zip(&linear) {
                    *sum += u32::from(light);
                }
                self.linear_row = linear;
            }
        }
        self.rows_in_band += 1;
        self.rows_seen += 1;
        if self.rows_in_band == self.factor || self.rows_seen == self.height {
            self.emit_band();
        }
    }

    /// Each pixel's colours composited over white, in 16-bit light.
    fn to_light(&self, row: &[u8], out: &mut Vec<u16>) {
        let table = to_linear();
        out.clear();
        for pixel in row.chunks_exact(self.channels) {
            let alpha = if matches!(self.channels, 2 | 4) {
                pixel[self.channels - 1]
            } else {
                255
            };
            for &colour in &pixel[..self.colours] {
                out.push(table[usize::from(composite(colour, alpha))]);
            }
        }
    }

    /// An interlaced row: each pixel into the sums of the output pixel its block makes.
    fn add_to_grid(&mut self, row: &[u8], at: Placement) {
        let out_row = at.y / self.factor * self.out_width;
        let has_alpha = matches!(self.channels, 2 | 4);
        let table = to_linear();
        for (i, pixel) in row.chunks_exact(self.channels).enumerate() {
            let x = at.x0 + i * at.dx;
            let cell = (out_row + x / self.factor) * self.colours;
            let alpha = if has_alpha {
                pixel[self.channels - 1]
            } else {
                255
            };
            for (lane, &colour) in pixel[..self.colours].iter().enumerate() {
                let value = match self.averaging {
                    // As `add_over_white`: 255 × the composited value, unrounded.
                    Averaging::Srgb if has_alpha => {
                        255 * 255 - u32::from(alpha) * (255 - u32::from(colour))
                    }
                    Averaging::Srgb => u32::from(colour),
                    Averaging::Linear => u32::from(table[usize::from(composite(colour, alpha))]),
                };
                self.sums[cell + lane] += value;
            }
        }
    }

    /// The mean of `total` over `pixels` source pixels, as an sRGB value.
    fn mean(&self, total: u64, pixels: u64) -> u8 {
        let count = pixels * self.weight;
        let mean = (total + count / 2) / count;
        match self.averaging {
            Averaging::Srgb => mean as u8,
            Averaging::Linear => to_srgb()[mean as usize],
        }
    }

    /// Ends a band of rows: the column sums are added across each block of `factor`
    /// columns and divided. The last block of columns and of rows may be narrower and is
    /// divided by its own count.
    fn emit_band(&mut self) {
        let lanes = self.row_sums.len() / self.width;
        let block = self.factor * lanes;
        for column in 0..self.out_width {
            let sums =
                &self.row_sums[column * block..((column + 1) * block).min(self.row_sums.len())];
            let columns = self.factor.min(self.width - column * self.factor);
            let pixels = (columns * self.rows_in_band) as u64;
            let mut totals = [0u64; 4];
            for pixel in sums.chunks_exact(lanes) {
                for (total, &sum) in totals.iter_mut().zip(pixel) {
                    *total += u64::from(sum);
                }
            }
            let mut mean = [0u8; 3];
            for (mean, &total) in mean.iter_mut().zip(&totals).take(self.colours) {
                *mean = self.mean(total, pixels);
            }
            if self.colours == 1 {
                mean = [mean[0]; 3];
            }
            self.rgb.extend_from_slice(&mean);
        }
        self.row_sums.fill(0);
        self.rows_in_band = 0;
    }

    /// The reduced image: packed RGB, its width and height.
    fn finish(mut self) -> (Vec<u8>, usize, usize) {
        if !self.sums.is_empty() {
            let mut rgb = Vec::with_capacity(self.out_width * self.out_height * 3);
            for out_y in 0..self.out_height {
                let rows = self.factor.min(self.height - out_y * self.factor);
                for out_x in 0..self.out_width {
                    let columns = self.factor.min(self.width - out_x * self.factor);
                    let pixels = (rows * columns) as u64;
                    let cell = (out_y * self.out_width + out_x) * self.colours;
                    let mut mean = [0u8; 3];
                    let sums = &self.sums[cell..cell + self.colours];
                    for (mean, &sum) in mean.iter_mut().zip(sums) {
                        *mean = self.mean(u64::from(sum), pixels);
                    }
                    if self.colours == 1 {
                        mean = [mean[0]; 3];
                    }
                    rgb.extend_from_slice(&mean);
                }
            }
            self.rgb = rgb;
        }
        (self.rgb, self.out_width, self.out_height)
    }
}

/// Adds grey+alpha or RGBA samples composited over white, kept 255 times larger so that no
/// pixel is rounded: `c·a/255 + (255 − a)` is `(255² − a·(255 − c)) / 255`. The same sum
/// goes into the alpha's own column, which nothing reads; that keeps every lane alike, so
/// the loops vectorise. An opaque row (the usual case) adds just `255·c`.
fn add_over_white<const CHANNELS: usize>(sums: &mut [u32], row: &[u8]) {
    if opaque::<CHANNELS>(row) {
        for (sum, &sample) in sums.iter_mut().zip(row) {
            *sum += 255 * u32::from(sample);
        }
        return;
    }
    let (sums, _) = sums.as_chunks_mut::<CHANNELS>();
    let (pixels, _) = row.as_chunks::<CHANNELS>();
    for (sums, pixel) in sums.iter_mut().zip(pixels) {
        let alpha = u32::from(pixel[CHANNELS - 1]);
        for lane in 0..CHANNELS {
            sums[lane] += 255 * 255 - alpha * (255 - u32::from(pixel[lane]));
        }
    }
}

/// Whether every alpha sample (the last of each pixel of `CHANNELS`, 2 or 4) is 255, read
/// eight bytes at a time.
fn opaque<const CHANNELS: usize>(row: &[u8]) -> bool {
    let alphas = u64::from_le_bytes(if CHANNELS == 2 {
        [0, 255, 0, 255, 0, 255, 0, 255]
    } else {
        [0, 0, 0, 255, 0, 0, 0, 255]
    });
    let (words, rest) = row.as_chunks::<8>();
    words
        .iter()
        .all(|word| u64::from_le_bytes(*word) & alphas == alphas)
        && rest
            .chunks_exact(CHANNELS)
            .all(|pixel| pixel[CHANNELS - 1] == 255)
}
