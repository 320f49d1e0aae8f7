//! Stockroom's imaging: from an uploaded original to watermarked JPEG previews.
//!
//! [`render`] sniffs the format, checks the header against [`Limits`] before any pixel is
//! allocated, decodes (JPEG at reduced scale in the DCT when the target is small), resizes
//! with Lanczos3 (in linear light where the decoder did not already shrink it), applies EXIF orientation, tiles a visible watermark over
//! each preview, and encodes JPEG with only copyright/author EXIF and the source's ICC
//! profile kept. It also names automatic keywords (orientation, size class, colours).
//! Output is a pure function of the input bytes and the options on a given machine, so a
//! content hash of it is a stable ETag.
//!
//! It does no I/O and spawns nothing: callers run it on a rayon pool ([`RenderPool`]),
//! never on an async executor.
//!
//! ```no_run
//! use stockroom_render::{render, Credit, RenderOptions};
//! use stockroom_vocab::PreviewSize;
//!
//! let original = std::fs::read("corpus/photos/aqua.jpg")?;
//! let rendered = render(&original, PreviewSize::ALL, &RenderOptions::default(), Credit::default())?;
//! for preview in &rendered.previews {
//!     println!("{:?}: {}×{}, {} bytes", preview.size, preview.width, preview.height, preview.jpeg.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod allocator;
mod budget;
mod decode;
mod error;
mod jpeg_markers;
mod keywords;
mod png_shrink;
mod resize;
mod watermark;
mod webp;

pub use allocator::keep_decode_buffers;
pub use budget::{DEFAULT_DECODE_BUDGET, decode_bytes_reserved, set_decode_budget};
pub use decode::{
    Decoded, Limits, SourceInfo, Upsampling, decode, decode_jpeg_grey, decode_upsampling, probe,
    sniff,
};
pub use error::{Format, RenderError, Result};
pub use keywords::auto_keywords;
pub use watermark::{Logo, MAX_TEXT_CHARS, MarkError, MarkFont, WatermarkOptions};

use stockroom_vocab::PreviewSize;
use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

/// How previews are made.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    /// Decoding limits for the untrusted original.
    pub limits: Limits,
    /// The watermark's text, opacity and layout.
    pub watermark: WatermarkOptions,
    /// JPEG quality, 1–100.
    pub quality: u8,
    /// Progressive JPEG (smaller and shows early on slow links; ~2× slower to encode).
    pub progressive: bool,
    /// When to resize in linear light (see `resize.rs`).
    pub linear_light: LinearLight,
}

/// When to resize in linear light rather than on sRGB values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearLight {
    /// Never: fastest; fine bright detail averages a little dark.
    Never,
    /// Always.
    Always,
    /// Only when the decoder did not already shrink the image. A JPEG decoded at 1/2–1/8
    /// scale, or a WebP scaled by libwebp, had most of its reduction done on sRGB values
    /// inside the decoder; linear light for the last ≤ 2× step costs ~20% of the render and
    /// changes little. PNGs and small originals get the whole reduction in linear light.
    UnlessPrescaled,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            limits: Limits::default(),
            watermark: WatermarkOptions::default(),
            quality: 82,
            progressive: false,
            linear_light: LinearLight::UnlessPrescaled,
        }
    }
}

/// Who the preview credits, written into its EXIF (the only metadata kept besides ICC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credit<'a> {
    /// The author, written as EXIF `Artist`.
    pub author: Option<&'a str>,
    /// The copyright line, written as EXIF `Copyright`.
    pub copyright: Option<&'a str>,
}

/// One encoded preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Which size it is.
    pub size: PreviewSize,
    /// The watermarked JPEG.
    pub jpeg: Vec<u8>,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
}

/// Everything one render produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// What the original's header said.
    pub source: SourceInfo,
    /// In the order the sizes were asked for.
    pub previews: Vec<Preview>,
    /// Orientation, size class and dominant colours of the original.
    pub keywords: Vec<String>,
}

/// Renders the requested preview sizes from one decode of `original`.
///
/// The decode is sized for the largest preview; each smaller one is resized from the next
/// larger (unwatermarked) one, and each is watermarked and encoded on its own.
pub fn render(
    original: &[u8],
    sizes: &[PreviewSize],
    options: &RenderOptions,
    credit: Credit<'_>,
) -> Result<Rendered> {
    let mut order: Vec<PreviewSize> = sizes.to_vec();
    order.sort_by_key(|size| std::cmp::Reverse(size.long_side()));
    order.dedup();
    let target = order
        .first()
        .map_or(PreviewSize::Thumb.long_side(), |size| size.long_side());
    let averaging = match options.linear_light {
        LinearLight::Never => png_shrink::Averaging::Srgb,
        LinearLight::Always | LinearLight::UnlessPrescaled => png_shrink::Averaging::Linear,
    };
    let decoded = decode::decode_averaging(
        original,
        &options.limits,
        target,
        averaging,
        decode::Upsampling::Fancy,
    )?;
    let source = decoded.info;
    let icc_segments = decoded
        .icc_profile
        .as_deref()
        .map(jpeg_markers::icc_segments)
        .unwrap_or_default();
    let exif_segment =
        jpeg_markers::exif_segment(credit.author, credit.copyright).unwrap_or_default();
    let metadata = [exif_segment, icc_segments].concat();

    let linear_light = match options.linear_light {
        LinearLight::Never => false,
        LinearLight::Always => true,
        LinearLight::UnlessPrescaled => !decoded.prescaled,
    };
    let (mut pixels, mut width, mut height) = (decoded.rgb, decoded.width, decoded.height);
    let mut previews = Vec::with_capacity(order.len());
    for size in &order {
        let (to_width, to_height) = resize::fit(width, height, size.long_side());
        pixels = resize::resize_rgb(pixels, width, height, to_width, to_height, linear_light)?;
        (width, height) = (to_width, to_height);
        let (mut shown, shown_width, shown_height) =
            resize::orient(pixels.clone(), width, height, source.orientation);
        watermark::apply(&mut shown, shown_width, shown_height, &options.watermark);
        let jpeg = encode(&shown, shown_width, shown_height, options)?;
        previews.push(Preview {
            size: *size,
            jpeg: jpeg_markers::insert_after_soi(jpeg, &metadata),
            width: shown_width,
            height: shown_height,
        });
    }
    let (shown_width, shown_height) = source.displayed_size();
    let keywords = auto_keywords(shown_width, shown_height, &pixels);
    previews.sort_by_key(|preview| sizes.iter().position(|size| *size == preview.size));
    Ok(Rendered {
        source,
        previews,
        keywords,
    })
}

fn encode(rgb: &[u8], width: u32, height: u32, options: &RenderOptions) -> Result<Vec<u8>> {
    let mut compressor = Compressor::new().map_err(RenderError::Encode)?;
    compressor
        .set_quality(i32::from(options.quality.clamp(1, 100)))
        .and_then(|()| compressor.set_subsamp(Subsamp::Sub2x2))
        .and_then(|()| compressor.set_progressive(options.progressive))
        .map_err(RenderError::Encode)?;
    let image = Image {
        pixels: rgb,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: PixelFormat::RGB,
    };
    compressor
        .compress_to_vec(image)
        .map_err(RenderError::Encode)
}

/// Pixels as displayed (EXIF orientation applied), decoded at reduced scale where the
/// format allows: what perceptual hashing looks at.
#[derive(Clone, Debug)]
pub struct Pixels {
    /// What the original's header said.
    pub source: SourceInfo,
    /// Packed RGB, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
    /// Width of `rgb`, in pixels.
    pub width: u32,
    /// Height of `rgb`, in pixels.
    pub height: u32,
}

/// Decodes `original` with at least `long_side` pixels on the long side: JPEG shrinks at
/// 1/2–1/8 in the DCT, WebP in libwebp, and a PNG is box-averaged row by row as it decodes
/// (`png_shrink.rs`); what still has twice that or more (a JPEG over 3,200 px after its
/// 1/8, or an animated WebP, which decodes in full) is box-averaged by the largest
/// whole factor that keeps `long_side`, as the DCT's 1/8 averages 8×8 blocks. Then applies
/// EXIF orientation. The same limits and errors as [`render`].
pub fn decode_oriented(original: &[u8], limits: &Limits, long_side: u32) -> Result<Pixels> {
    decode_oriented_upsampling(original, limits, long_side, Upsampling::Fast)
}

/// As [`decode_oriented`], with a JPEG's chroma upsampled as `chroma` says.
pub fn decode_oriented_upsampling(
    original: &[u8],
    limits: &Limits,
    long_side: u32,
    chroma: Upsampling,
) -> Result<Pixels> {
    let decoded = decode_upsampling(original, limits, long_side, chroma)?;
    let (rgb, width, height) =
        resize::box_shrink(decoded.rgb, decoded.width, decoded.height, long_side)?;
    let (rgb, width, height) = resize::orient(rgb, width, height, decoded.info.orientation);
    Ok(Pixels {
        source: decoded.info,
        rgb,
        width,
        height,
    })
}

/// One byte a pixel of grey (BT.601 luma) as displayed, decoded at reduced scale: what
/// PDQ and pHash look at, without colour.
#[derive(Clone, Debug)]
pub struct Grey {
    /// What the original's header said.
    pub source: SourceInfo,
    /// `width * height` bytes.
    pub luma: Vec<u8>,
    /// Width of `luma`, in pixels.
    pub width: u32,
    /// Height of `luma`, in pixels.
    pub height: u32,
}

/// A JPEG's own luma, as [`decode_oriented`] would size and orient its pixels (see
/// [`decode_jpeg_grey`]); `None` for other formats and CMYK JPEGs.
pub fn decode_grey_oriented(
    original: &[u8],
    limits: &Limits,
    long_side: u32,
) -> Result<Option<Grey>> {
    let Some(decoded) = decode::decode_jpeg_grey(original, limits, long_side)? else {
        return Ok(None);
    };
    let (luma, width, height) =
        resize::box_shrink_grey(decoded.rgb, decoded.width, decoded.height, long_side)?;
    let (luma, width, height) =
        resize::orient_bytes(luma, width, height, decoded.info.orientation, 1);
    Ok(Some(Grey {
        source: decoded.info,
        luma,
        width,
        height,
    }))
}

/// A rayon pool for rendering, so decode and resize never run on an async executor.
#[derive(Debug)]
pub struct RenderPool {
    pool: rayon::ThreadPool,
}

impl RenderPool {
    /// A pool of `threads` render threads (named `render-N`).
    pub fn new(threads: usize) -> std::result::Result<RenderPool, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("render-{index}"))
            .build()?;
        Ok(RenderPool { pool })
    }

    /// Runs [`render`] on the pool, blocking the caller until it is done.
    pub fn render(
        &self,
        original: &[u8],
        sizes: &[PreviewSize],
        options: &RenderOptions,
        credit: Credit<'_>,
    ) -> Result<Rendered> {
        self.pool
            .install(|| render(original, sizes, options, credit))
    }
}

#[cfg(test)]
mod tests;
