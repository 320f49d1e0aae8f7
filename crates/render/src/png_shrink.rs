//! PNG shrink-on-load, for hashing: the `png` crate hands over one row at a time, and each
//! row is added into column sums at once, so that a 3640 × 2400 RGBA PNG bound for a 200 px
//! hash is never held at full size. Each output pixel is the mean of a block of
//! `factor × factor` source pixels composited over white, rounded once: what decoding
//! whole, flattening and box-averaging on sRGB values gives, less the rounding of each
//! composited pixel. (Previews do not come this way: they reduce a PNG in linear light.)
//!
//! Inflating and unfiltering are then most of the work (they are the decoder's floor);
//! the full-size buffer, its zeroing, the compositing pass over it and the resize that
//! followed are gone. Interlaced and 16-bit PNGs (rare in stock) still go through the
//! `image` crate whole.

use std::io::Cursor;

use image::error::{DecodingError, ImageFormatHint};
use image::{ImageError, ImageFormat};
use png::{BitDepth, ColorType, Transformations};

use crate::decode::{Decoded, Limits, SourceInfo, orientation_number};
use crate::error::{Format, RenderError, Result};

/// Room for the decoder's own buffers (a row, metadata chunks such as an ICC profile); the
/// image itself is never allocated whole here.
const DECODER_BYTES: usize = 64 << 20;

fn decode_error(error: png::DecodingError) -> RenderError {
    RenderError::Decode {
        format: Format::Png,
        source: ImageError::Decoding(DecodingError::new(
            ImageFormatHint::Exact(ImageFormat::Png),
            error,
        )),
    }
}

/// Decodes a PNG shrunk by the largest whole factor that keeps its long side at least
/// `target_long_side`; `None` for a PNG this path does not stream (interlaced, 16-bit).
pub(crate) fn decode_shrunk(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
) -> Result<Option<Decoded>> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: DECODER_BYTES,
        },
    );
    let header = decoder.read_header_info().map_err(decode_error)?;
    let (width, height) = (header.width, header.height);
    limits.check(u64::from(width), u64::from(height))?;
    if header.interlaced || header.bit_depth == BitDepth::Sixteen {
        return Ok(None);
    }
    // Palettes and grey below 8 bits become 8-bit RGB(A) and grey; tRNS becomes alpha.
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(decode_error)?;
    let channels = match reader.output_color_type() {
        (ColorType::Grayscale, BitDepth::Eight) => 1,
        (ColorType::GrayscaleAlpha, BitDepth::Eight) => 2,
        (ColorType::Rgb, BitDepth::Eight) => 3,
        (ColorType::Rgba, BitDepth::Eight) => 4,
        _ => return Ok(None),
    };
    let info = reader.info();
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .map_or(1, orientation_number);
    let icc_profile = info.icc_profile.as_deref().map(<[u8]>::to_vec);

    let factor = (width.max(height) / target_long_side.max(1)).max(1) as usize;
    let (width, height) = (width as usize, height as usize);
    let mut shrink = BoxShrink::new(width, height, channels, factor);
    let mut row = vec![0u8; width * channels];
    for _ in 0..height {
        if reader.read_row(&mut row).map_err(decode_error)?.is_none() {
            return Err(decode_error(png::DecodingError::IoError(
                std::io::ErrorKind::UnexpectedEof.into(),
            )));
        }
        shrink.add_row(&row);
    }
    // Past the last row, the reader checks the rest of the image data (its remaining IDAT
    // chunks), as a whole decode does.
    reader.read_row(&mut row).map_err(decode_error)?;
    let (out_width, out_height) = (shrink.out_width, shrink.out_height);
    Ok(Some(Decoded {
        info: SourceInfo {
            format: Format::Png,
            width: width as u32,
            height: height as u32,
            orientation,
        },
        rgb: shrink.rgb,
        width: out_width as u32,
        height: out_height as u32,
        icc_profile,
        prescaled: factor > 1,
    }))
}

/// Box averaging by a whole factor, fed a row at a time: each row is added into per-sample
/// column sums (a widening add the compiler vectorises); every `factor` rows, the sums
/// are added across each block of `factor` columns and divided, rounding to nearest. The
/// last block of columns and of rows may be narrower and is divided by its own count.
struct BoxShrink {
    width: usize,
    height: usize,
    channels: usize,
    factor: usize,
    out_width: usize,
    out_height: usize,
    sums: Vec<u32>,
    rows_in_block: usize,
    rows_seen: usize,
    /// Packed RGB output, `out_width * out_height * 3` bytes.
    rgb: Vec<u8>,
}

impl BoxShrink {
    fn new(width: usize, height: usize, channels: usize, factor: usize) -> BoxShrink {
        let (out_width, out_height) = (width.div_ceil(factor), height.div_ceil(factor));
        BoxShrink {
            width,
            height,
            channels,
            factor,
            out_width,
            out_height,
            sums: vec![0; width * channels],
            rows_in_block: 0,
            rows_seen: 0,
            rgb: Vec::with_capacity(out_width * out_height * 3),
        }
    }

    /// Adds one row of `width * channels` samples (grey, grey+alpha, RGB or RGBA).
    fn add_row(&mut self, row: &[u8]) {
        match self.channels {
            2 => add_over_white::<2>(&mut self.sums, row),
            4 => add_over_white::<4>(&mut self.sums, row),
            _ => {
                for (sum, &sample) in self.sums.iter_mut().zip(row) {
                    *sum += u32::from(sample);
                }
            }
        }
        self.rows_in_block += 1;
        self.rows_seen += 1;
        if self.rows_in_block == self.factor || self.rows_seen == self.height {
            self.emit_row();
        }
    }

    fn emit_row(&mut self) {
        let colours = if self.channels >= 3 { 3 } else { 1 };
        // With alpha the sums are 255 times the composited values (`add_over_white`).
        let weight = if matches!(self.channels, 2 | 4) {
            255
        } else {
            1
        };
        let block = self.factor * self.channels;
        for (column, sums) in self.sums.chunks(block).enumerate() {
            let columns = self.factor.min(self.width - column * self.factor);
            // Up to 255² × factor² per total: u64.
            let count = (columns * self.rows_in_block) as u64 * weight;
            let mut totals = [0u64; 4];
            for pixel in sums.chunks_exact(self.channels) {
                for (total, &sum) in totals.iter_mut().zip(pixel) {
                    *total += u64::from(sum);
                }
            }
            let mut mean = [0u8; 3];
            for (mean, total) in mean.iter_mut().zip(totals).take(colours) {
                *mean = ((total + count / 2) / count) as u8;
            }
            if colours == 1 {
                mean = [mean[0]; 3];
            }
            self.rgb.extend_from_slice(&mean);
        }
        self.sums.fill(0);
        self.rows_in_block = 0;
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
