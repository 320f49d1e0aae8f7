//! Turning untrusted bytes into RGB pixels: sniff, check limits from the header, decode.
//!
//! JPEG goes through libjpeg-turbo (TurboJPEG 3), which can decode at 1/2, 1/4 or 1/8 scale
//! inside the inverse DCT ("shrink-on-load"): a 24 MP photo bound for a 1000 px preview is
//! decoded at 1/4 scale, a sixteenth of the pixels. Still WebPs go through libwebp, which
//! also scales while decoding (`webp.rs`); PNGs are box-averaged row by row as they decode
//! (`png_shrink.rs`). What is left (an animated WebP, a small interlaced PNG) goes through
//! the `image` crate whole, with its allocation limits set and within the shared memory
//! budget (`budget.rs`). No pixel buffer is allocated before the header's dimensions have
//! passed [`Limits`].

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use crate::error::{Format, RenderError, Result};
use crate::png_shrink::Averaging;
use crate::{budget, jpeg_markers, png_shrink, webp};

/// What an upload may be, checked before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most pixels (width × height) an image may declare.
    pub max_pixels: u64,
    /// Longest side an image may declare.
    pub max_side: u32,
    /// Largest file accepted.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    /// 120 MP: a stock site takes medium-format camera files (Fujifilm GFX100 and Hasselblad
    /// X2D are 102 MP) and stitched panoramas, while a decompression bomb declares billions.
    /// Decoding 120 MP of PNG needs about 480 MB, the worst case the server has to budget
    /// per concurrent render; JPEGs decode at reduced scale and need far less. Sides up to
    /// 30,000 px admit long panoramas. 200 MB covers any camera JPEG and most 16-bit PNGs.
    fn default() -> Self {
        Limits {
            max_pixels: 120_000_000,
            max_side: 30_000,
            max_file_bytes: 200 << 20,
        }
    }
}

impl Limits {
    pub(crate) fn check(&self, width: u64, height: u64) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(RenderError::Empty { width, height });
        }
        let too_many = width.saturating_mul(height) > self.max_pixels
            || width > u64::from(self.max_side)
            || height > u64::from(self.max_side);
        if too_many {
            return Err(RenderError::TooManyPixels {
                width,
                height,
                max_pixels: self.max_pixels,
                max_side: self.max_side,
            });
        }
        Ok(())
    }
}

/// What the header says, after the limits passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// JPEG, PNG or WebP.
    pub format: Format,
    /// Stored width and height (before EXIF orientation).
    pub width: u32,
    /// Stored height (before EXIF orientation).
    pub height: u32,
    /// EXIF orientation, 1–8.
    pub orientation: u8,
}

impl SourceInfo {
    /// Width and height as displayed (after orientation).
    pub fn displayed_size(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Decoded pixels, possibly at a reduced scale.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// What the header said.
    pub info: SourceInfo,
    /// Packed RGB, `width * height * 3` bytes, not yet oriented (one byte a pixel, grey,
    /// from [`decode_jpeg_grey`]).
    pub rgb: Vec<u8>,
    /// Width of `rgb`, in pixels.
    pub width: u32,
    /// Height of `rgb`, in pixels.
    pub height: u32,
    /// The embedded ICC profile, kept for the preview.
    pub icc_profile: Option<Vec<u8>>,
    /// Whether the decoder already shrank the image (JPEG DCT scaling, libwebp scaling).
    pub prescaled: bool,
}

/// The format named by the first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::WebP)
    } else {
        None
    }
}

/// Reads the header only and checks it against `limits`.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<SourceInfo> {
    check_file_size(bytes, limits)?;
    match sniff(bytes).ok_or(RenderError::UnsupportedFormat)? {
        Format::Jpeg => {
            let header = turbojpeg::read_header(bytes).map_err(RenderError::Jpeg)?;
            let orientation = jpeg_markers::read_metadata(bytes).orientation;
            jpeg_info(header.width, header.height, orientation, limits)
        }
        Format::WebP => {
            let header = webp::header(bytes)?;
            limits.check(u64::from(header.width), u64::from(header.height))?;
            Ok(SourceInfo {
                format: Format::WebP,
                width: header.width,
                height: header.height,
                orientation: 1,
            })
        }
        format => {
            let mut decoder = image_decoder(bytes, format, limits)?;
            let (width, height) = decoder.dimensions();
            limits.check(u64::from(width), u64::from(height))?;
            Ok(SourceInfo {
                format,
                width,
                height,
                orientation: orientation_of(decoder.as_mut()),
            })
        }
    }
}

/// Decodes at the smallest scale whose long side is still at least `target_long_side`. A
/// PNG is box-averaged on its sRGB values while it decodes (`png_shrink.rs`), by the
/// largest whole factor that keeps the target, as the DCT's scaling averages a JPEG.
/// Pixels to look at (hashing), not to show: a JPEG's chroma is upsampled the fast way
/// (each sample repeated), which hashing, box-filtering far coarser, cannot tell apart.
pub fn decode(bytes: &[u8], limits: &Limits, target_long_side: u32) -> Result<Decoded> {
    decode_upsampling(bytes, limits, target_long_side, Upsampling::Fast)
}

/// As [`decode`], with a JPEG's chroma upsampled as `chroma` says.
pub fn decode_upsampling(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
    chroma: Upsampling,
) -> Result<Decoded> {
    decode_averaging(bytes, limits, target_long_side, Averaging::Srgb, chroma)
}

/// How a JPEG's subsampled chroma is brought to full resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsampling {
    /// Interpolated (libjpeg's "fancy" upsampling): for what is shown.
    Fancy,
    /// Each chroma sample repeated, colour conversion merged in: faster, for hashing.
    Fast,
}

/// As [`decode`], with a PNG's blocks averaged as `png` says (in light for a preview) and
/// a JPEG's chroma upsampled as `chroma` says.
pub(crate) fn decode_averaging(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
    png: Averaging,
    chroma: Upsampling,
) -> Result<Decoded> {
    check_file_size(bytes, limits)?;
    match sniff(bytes).ok_or(RenderError::UnsupportedFormat)? {
        Format::Jpeg => decode_jpeg(bytes, limits, target_long_side, chroma),
        Format::WebP => decode_webp(bytes, limits, target_long_side),
        format => match png_shrink::decode_shrunk(bytes, limits, target_long_side, png)? {
            Some(decoded) => Ok(decoded),
            None => decode_with_image(bytes, format, limits),
        },
    }
}

fn check_file_size(bytes: &[u8], limits: &Limits) -> Result<()> {
    let len = bytes.len() as u64;
    if len > limits.max_file_bytes {
        return Err(RenderError::FileTooLarge {
            bytes: len,
            max: limits.max_file_bytes,
        });
    }
    Ok(())
}

fn jpeg_info(width: usize, height: usize, orientation: u8, limits: &Limits) -> Result<SourceInfo> {
    limits.check(width as u64, height as u64)?;
    Ok(SourceInfo {
        format: Format::Jpeg,
        width: width as u32,
        height: height as u32,
        orientation,
    })
}

/// Progressive JPEGs with thousands of scans are a known CPU bomb; real ones have < 20.
const MAX_JPEG_SCANS: u32 = 100;

fn decode_jpeg(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
    chroma: Upsampling,
) -> Result<Decoded> {
    // Only a grey decode of a CMYK file has no answer.
    decode_jpeg_as(bytes, limits, target_long_side, chroma, false)?
        .ok_or(RenderError::UnsupportedFormat)
}

/// A JPEG's own luma (its Y channel: the BT.601 grey that PDQ and pHash compute from RGB),
/// decoded at the smallest scale whose long side is still at least `target_long_side`,
/// one byte a pixel: for hashing, which needs no colour, so the decoder skips the colour
/// components' inverse DCT, upsampling and conversion. `None` for anything but a JPEG in
/// YCbCr or grey (CMYK decodes through [`decode`]).
pub fn decode_jpeg_grey(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
) -> Result<Option<Decoded>> {
    check_file_size(bytes, limits)?;
    if sniff(bytes) != Some(Format::Jpeg) {
        return Ok(None);
    }
    decode_jpeg_as(bytes, limits, target_long_side, Upsampling::Fast, true)
}

fn decode_jpeg_as(
    bytes: &[u8],
    limits: &Limits,
    target_long_side: u32,
    chroma: Upsampling,
    grey: bool,
) -> Result<Option<Decoded>> {
    let mut decompressor = Decompressor::new().map_err(RenderError::Jpeg)?;
    let header = decompressor.read_header(bytes).map_err(RenderError::Jpeg)?;
    let metadata = jpeg_markers::read_metadata(bytes);
    let info = jpeg_info(header.width, header.height, metadata.orientation, limits)?;
    decompressor
        .set_scan_limit(MAX_JPEG_SCANS)
        .map_err(RenderError::Jpeg)?;
    let long_side = header.width.max(header.height);
    // Only 1/2, 1/4 and 1/8 have SIMD inverse DCTs in libjpeg-turbo; pick the strongest
    // that still leaves at least the target size.
    let scale = [8, 4, 2]
        .into_iter()
        .map(|denom| ScalingFactor::new(1, denom))
        .find(|scale| scale.scale(long_side) >= target_long_side as usize)
        .filter(|_| !header.is_lossless)
        .unwrap_or(ScalingFactor::ONE);
    decompressor
        .set_scaling_factor(scale)
        .map_err(RenderError::Jpeg)?;
    decompressor
        .set_fast_upsample(chroma == Upsampling::Fast)
        .map_err(RenderError::Jpeg)?;
    let scaled = header.scaled(scale);
    let cmyk = matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = match (cmyk, grey) {
        (true, true) => return Ok(None),
        (true, false) => PixelFormat::CMYK,
        (false, true) => PixelFormat::GRAY,
        (false, false) => PixelFormat::RGB,
    };
    let mut pixels = vec![0u8; scaled.width * scaled.height * format.size()];
    let image = turbojpeg::Image {
        pixels: &mut pixels[..],
        width: scaled.width,
        pitch: scaled.width * format.size(),
        height: scaled.height,
        format,
    };
    // At 1/8 the AC scans of a progressive JPEG's full-resolution components change
    // nothing: skip decoding them.
    let dc_only = (scale == ScalingFactor::ONE_EIGHTH && metadata.progressive)
        .then(|| jpeg_markers::skip_ac_for_eighth_scale(bytes))
        .flatten();
    decompressor
        .decompress(dc_only.as_deref().unwrap_or(bytes), image)
        .map_err(RenderError::Jpeg)?;
    let rgb = if cmyk { cmyk_to_rgb(&pixels) } else { pixels };
    Ok(Some(Decoded {
        info,
        rgb,
        width: scaled.width as u32,
        height: scaled.height as u32,
        icc_profile: metadata.icc_profile,
        prescaled: scale != ScalingFactor::ONE,
    }))
}

/// Still WebPs decode scaled by the largest whole factor that keeps the target size;
/// animated ones (rare in stock) go through the `image` crate, first frame only.
fn decode_webp(bytes: &[u8], limits: &Limits, target_long_side: u32) -> Result<Decoded> {
    let header = webp::header(bytes)?;
    limits.check(u64::from(header.width), u64::from(header.height))?;
    if header.animated {
        return decode_with_image(bytes, Format::WebP, limits);
    }
    let shrink = (header.width.max(header.height) / target_long_side.max(1)).max(1);
    let (width, height) = (
        header.width.div_ceil(shrink),
        header.height.div_ceil(shrink),
    );
    let rgb = webp::decode_scaled(bytes, &header, width, height)?;
    Ok(Decoded {
        info: SourceInfo {
            format: Format::WebP,
            width: header.width,
            height: header.height,
            orientation: 1,
        },
        rgb,
        width,
        height,
        icc_profile: None,
        prescaled: shrink > 1,
    })
}

/// Adobe-style (inverted) CMYK, as libjpeg-turbo returns it, to RGB without a colour
/// profile: good enough for a preview of the rare CMYK upload.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for pixel in cmyk.chunks_exact(4) {
        let k = u16::from(pixel[3]);
        for &ink in &pixel[..3] {
            rgb.push(((u16::from(ink) * k + 127) / 255) as u8);
        }
    }
    rgb
}

fn image_decoder<'a>(
    bytes: &'a [u8],
    format: Format,
    limits: &Limits,
) -> Result<Box<dyn ImageDecoder + 'a>> {
    let image_format = match format {
        Format::Png => ImageFormat::Png,
        _ => ImageFormat::WebP,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    // Dimensions are checked by `Limits::check` once the header is read, so that a bomb
    // gets the same typed error whatever its format; the allocation cap is the backstop.
    let mut image_limits = image::Limits::default();
    // Room for the decoded image at 16 bits × 4 channels, plus the decoder's own buffers.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);
    let decoder = reader
        .into_decoder()
        .map_err(|source| RenderError::Decode { format, source })?;
    Ok(Box::new(decoder))
}

fn orientation_of(decoder: &mut dyn ImageDecoder) -> u8 {
    decoder.orientation().map_or(1, orientation_number)
}

/// EXIF's number (1–8) for an orientation.
pub(crate) fn orientation_number(orientation: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation;
    match orientation {
        Orientation::NoTransforms => 1,
        Orientation::FlipHorizontal => 2,
        Orientation::Rotate180 => 3,
        Orientation::FlipVertical => 4,
        Orientation::Rotate90FlipH => 5,
        Orientation::Rotate90 => 6,
        Orientation::Rotate270FlipH => 7,
        Orientation::Rotate270 => 8,
    }
}

fn decode_with_image(bytes: &[u8], format: Format, limits: &Limits) -> Result<Decoded> {
    let mut decoder = image_decoder(bytes, format, limits)?;
    let (width, height) = decoder.dimensions();
    limits.check(u64::from(width), u64::from(height))?;
    let orientation = orientation_of(decoder.as_mut());
    let icc_profile = decoder.icc_profile().ok().flatten();
    // The decoded frame and, while it is flattened, its RGB copy.
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel()) + 3;
    let _reservation = budget::reserve(u64::from(width) * u64::from(height) * bytes_per_pixel);
    let image = DynamicImage::from_decoder(decoder)
        .map_err(|source| RenderError::Decode { format, source })?;
    Ok(Decoded {
        info: SourceInfo {
            format,
            width,
            height,
            orientation,
        },
        rgb: flatten_onto_white(image),
        width,
        height,
        icc_profile,
        prescaled: false,
    })
}

/// RGB bytes; transparent pixels are composited over white, as a preview page shows them.
fn flatten_onto_white(image: DynamicImage) -> Vec<u8> {
    if !image.color().has_alpha() {
        return image.into_rgb8().into_raw();
    }
    composite_over_white(image.into_rgba8().as_raw())
}

/// Packed RGBA to RGB over a white background. Most images with an alpha channel are
/// opaque nearly everywhere, so an opaque pixel is copied without arithmetic.
pub(crate) fn composite_over_white(rgba: &[u8]) -> Vec<u8> {
    let mut rgb = vec![0; rgba.len() / 4 * 3];
    for (out, pixel) in rgb.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
        let alpha = u16::from(pixel[3]);
        if alpha == 255 {
            out.copy_from_slice(&pixel[..3]);
            continue;
        }
        for (out, &channel) in out.iter_mut().zip(&pixel[..3]) {
            let over_white = u16::from(channel) * alpha + 255 * (255 - alpha);
            *out = ((over_white + 127) / 255) as u8;
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_bombs_and_empty_images() {
        let limits = Limits::default();
        assert!(limits.check(6000, 4000).is_ok());
        assert!(matches!(
            limits.check(60_000, 60_000),
            Err(RenderError::TooManyPixels { .. })
        ));
        assert!(matches!(
            limits.check(40_000, 10),
            Err(RenderError::TooManyPixels { .. })
        ));
        assert!(matches!(
            limits.check(0, 10),
            Err(RenderError::Empty { .. })
        ));
        assert!(limits.check(u64::MAX, u64::MAX).is_err());
    }

    #[test]
    fn cmyk_white_and_black_map_to_rgb() {
        // Inverted CMYK: 255 means no ink.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), vec![0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255]), vec![0, 255, 255]);
    }

    #[test]
    fn transparency_is_composited_over_white() {
        let image = DynamicImage::ImageRgba8(
            image::RgbaImage::from_raw(2, 1, vec![0, 0, 0, 0, 0, 0, 0, 255]).expect("2×1"),
        );
        assert_eq!(flatten_onto_white(image), vec![255, 255, 255, 0, 0, 0]);
    }
}
