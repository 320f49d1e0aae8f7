//! Resizing with fast_image_resize (SIMD convolution), optionally in linear light, and
//! applying EXIF orientation to the (small) result.
//!
//! Why linear light: averaging sRGB-encoded values darkens fine bright-on-dark detail
//! (foliage, hair, text), because sRGB is not proportional to light. Converting to 16-bit
//! linear, resizing, and converting back costs two table look-ups per sample on an image
//! that shrink-on-load has already made small.

use std::sync::OnceLock;

use fast_image_resize::images::Image;
use fast_image_resize::{
    FilterType, PixelComponentMapper, PixelType, ResizeAlg, ResizeOptions, Resizer,
};

use crate::error::Result;

fn srgb_mapper() -> &'static PixelComponentMapper {
    static MAPPER: OnceLock<PixelComponentMapper> = OnceLock::new();
    MAPPER.get_or_init(fast_image_resize::create_srgb_mapper)
}

/// The size that fits `(width, height)` within a `long_side` box, never enlarging.
pub fn fit(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_side {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(long_side) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    (scale(width), scale(height))
}

/// Resizes packed RGB to `(to_width, to_height)` with Lanczos3.
pub fn resize_rgb(
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    to_width: u32,
    to_height: u32,
    linear_light: bool,
) -> Result<Vec<u8>> {
    if (width, height) == (to_width, to_height) {
        return Ok(rgb);
    }
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let mut resizer = Resizer::new();
    let source = Image::from_vec_u8(width, height, rgb, PixelType::U8x3)?;
    if !linear_light {
        let mut target = Image::new(to_width, to_height, PixelType::U8x3);
        resizer.resize(&source, &mut target, &options)?;
        return Ok(target.into_vec());
    }
    let mapper = srgb_mapper();
    let mut linear = Image::new(width, height, PixelType::U16x3);
    mapper.forward_map(&source, &mut linear)?;
    drop(source);
    let mut resized = Image::new(to_width, to_height, PixelType::U16x3);
    resizer.resize(&linear, &mut resized, &options)?;
    let mut target = Image::new(to_width, to_height, PixelType::U8x3);
    mapper.backward_map(&resized, &mut target)?;
    Ok(target.into_vec())
}

/// Averages `factor × factor` boxes, where `factor` is the largest whole number that
/// keeps at least `long_side` pixels on the long side (1: unchanged). For hashing, which
/// looks at 64×64: a 9-megapixel PNG otherwise costs every perceptual hash its full size.
pub fn box_shrink(
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    long_side: u32,
) -> Result<(Vec<u8>, u32, u32)> {
    box_shrink_as(rgb, width, height, long_side, PixelType::U8x3)
}

/// [`box_shrink`] of one byte a pixel (grey).
pub fn box_shrink_grey(
    grey: Vec<u8>,
    width: u32,
    height: u32,
    long_side: u32,
) -> Result<(Vec<u8>, u32, u32)> {
    box_shrink_as(grey, width, height, long_side, PixelType::U8)
}

fn box_shrink_as(
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    long_side: u32,
    pixel: PixelType,
) -> Result<(Vec<u8>, u32, u32)> {
    let factor = width.max(height) / long_side.max(1);
    if factor < 2 {
        return Ok((rgb, width, height));
    }
    let (to_width, to_height) = (width.div_ceil(factor), height.div_ceil(factor));
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
    let source = Image::from_vec_u8(width, height, rgb, pixel)?;
    let mut target = Image::new(to_width, to_height, pixel);
    Resizer::new().resize(&source, &mut target, &options)?;
    Ok((target.into_vec(), to_width, to_height))
}

/// Applies EXIF orientation (1–8) to packed RGB; returns the new pixels and size.
pub fn orient(rgb: Vec<u8>, width: u32, height: u32, orientation: u8) -> (Vec<u8>, u32, u32) {
    orient_bytes(rgb, width, height, orientation, 3)
}

/// [`orient`] for pixels of `size` bytes each (1: grey).
pub fn orient_bytes(
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    orientation: u8,
    size: usize,
) -> (Vec<u8>, u32, u32) {
    if !(2..=8).contains(&orientation) {
        return (rgb, width, height);
    }
    let (w, h) = (width as usize, height as usize);
    let transposed = orientation >= 5;
    let (out_w, out_h) = if transposed { (h, w) } else { (w, h) };
    let mut out = vec![0u8; rgb.len()];
    for y in 0..h {
        for x in 0..w {
            // Where the stored pixel (x, y) lands when displayed.
            let (dx, dy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (h - 1 - y, x),
                7 => (h - 1 - y, w - 1 - x),
                _ => (y, w - 1 - x),
            };
            let from = (y * w + x) * size;
            let to = (dy * out_w + dx) * size;
            out[to..to + size].copy_from_slice(&rgb[from..from + size]);
        }
    }
    (out, out_w as u32, out_h as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit(6000, 4000, 1000), (1000, 667));
        assert_eq!(fit(4000, 6000, 240), (160, 240));
        assert_eq!(fit(800, 600, 1000), (800, 600));
        assert_eq!(fit(30_000, 10, 240), (240, 1));
    }

    #[test]
    fn orientation_six_rotates_clockwise() {
        // 2×1 image: red, green. Orientation 6 displays it rotated 90° clockwise: 1×2 with
        // red on top.
        let (rgb, w, h) = orient(vec![255, 0, 0, 0, 255, 0], 2, 1, 6);
        assert_eq!((w, h), (1, 2));
        assert_eq!(rgb, vec![255, 0, 0, 0, 255, 0]);
        let (rgb, w, h) = orient(vec![255, 0, 0, 0, 255, 0], 2, 1, 8);
        assert_eq!((w, h), (1, 2));
        assert_eq!(rgb, vec![0, 255, 0, 255, 0, 0]);
        let (rgb, _, _) = orient(vec![255, 0, 0, 0, 255, 0], 2, 1, 2);
        assert_eq!(rgb, vec![0, 255, 0, 255, 0, 0]);
    }

    #[test]
    fn linear_light_keeps_a_fine_checkerboard_as_bright_as_its_mean_light() {
        // Alternating black and white pixels: the true average light is 50%, which is sRGB
        // 188, not 128. Gamma-space averaging gives ~128 (too dark).
        let (w, h) = (64u32, 64u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let value = if (i % w + i / w) % 2 == 0 { 255 } else { 0 };
                [value; 3]
            })
            .collect();
        let mean =
            |pixels: &[u8]| pixels.iter().map(|&v| u32::from(v)).sum::<u32>() / pixels.len() as u32;
        let linear = resize_rgb(rgb.clone(), w, h, 8, 8, true).expect("resize");
        let gamma = resize_rgb(rgb, w, h, 8, 8, false).expect("resize");
        assert!((180..=196).contains(&mean(&linear)), "{}", mean(&linear));
        assert!((120..=136).contains(&mean(&gamma)), "{}", mean(&gamma));
    }
}
