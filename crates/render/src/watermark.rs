//! The visible watermark: the site's name (and logo, if configured) in an anti-aliased
//! font, tiled in staggered rows over the whole preview, light with a dark outline so it
//! shows on bright and dark areas alike.
//!
//! The mark is drawn once per preview size into a tile of per-byte alpha masks (one light,
//! one dark): glyph outlines rasterised by `ab_glyph` with exact area coverage, the logo's
//! alpha resized to the letters' height, and the outline a square dilation of that coverage.
//! It is then blended row by row with integer arithmetic that compilers vectorise:
//! `p + (255 − p)·light/256 − p·dark/256`.

use std::fmt;
use std::sync::Arc;

use ab_glyph::{Font as _, FontRef, GlyphId, PxScale, ScaleFont as _, point};

/// The bundled face: Open Sans Bold (Apache-2.0, see `fonts/README.md`), which covers Latin,
/// Greek and Cyrillic.
const BUNDLED_FONT: &[u8] = include_bytes!("../fonts/OpenSans-Bold.ttf");

/// Changes whenever the same options would draw a different mark (a preview rendered under
/// another version is stale).
const MARK_VERSION: u32 = 2;

/// The longest text drawn; a longer site name is cut (a mark wider than the preview would
/// leave bands of it unreadable).
pub const MAX_TEXT_CHARS: usize = 40;

/// A logo's long side is reduced to this when it is loaded: previews draw it at most a few
/// dozen pixels tall, and each render resizes it from here.
const LOGO_MAX_SIDE: u32 = 256;

/// How the mark looks.
#[derive(Clone, Debug, PartialEq)]
pub struct WatermarkOptions {
    /// Text of the mark, usually the site's name (characters the font lacks are left out;
    /// at most [`MAX_TEXT_CHARS`] are drawn).
    pub text: String,
    /// The typeface; `None` is the bundled Open Sans Bold.
    pub font: Option<MarkFont>,
    /// A logo drawn before the text, as a silhouette of its alpha channel.
    pub logo: Option<Logo>,
    /// Strength of the light mark, 0–255 (0 turns the watermark off).
    pub opacity: u8,
    /// Horizontal gap between marks, as a multiple of the mark's width (1.0 = one width).
    pub spacing: f32,
    /// Height of capital letters as a fraction of the preview's long side.
    pub letter_height: f32,
}

impl Default for WatermarkOptions {
    fn default() -> Self {
        WatermarkOptions {
            text: "Stockroom".into(),
            font: None,
            logo: None,
            opacity: 80,
            spacing: 0.3,
            letter_height: 0.035,
        }
    }
}

impl WatermarkOptions {
    /// Feeds everything that decides the mark's pixels to `out`, in a fixed order (for
    /// telling a preview drawn with other options apart).
    pub fn fingerprint(&self, out: &mut impl FnMut(&[u8])) {
        out(&MARK_VERSION.to_le_bytes());
        out(&(self.text.len() as u64).to_le_bytes());
        out(self.text.as_bytes());
        let font: &[u8] = self.font.as_ref().map_or(&[], |font| &font.0);
        out(&(font.len() as u64).to_le_bytes());
        out(font);
        match &self.logo {
            Some(logo) => {
                out(&logo.width.to_le_bytes());
                out(&logo.height.to_le_bytes());
                out(&logo.alpha);
            }
            None => out(&[0; 8]),
        }
        out(&[self.opacity]);
        out(&self.spacing.to_le_bytes());
        out(&self.letter_height.to_le_bytes());
    }
}

/// Why a font or logo was refused.
#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    /// Not a TrueType or OpenType font.
    #[error("not a TrueType or OpenType font")]
    Font,
    /// Not a PNG, or one that does not decode.
    #[error("the logo is not a readable PNG: {0}")]
    LogoUnreadable(String),
    /// A PNG without transparency would be drawn as a solid block.
    #[error("the logo has no transparent pixels: give a PNG with an alpha channel")]
    LogoOpaque,
    /// A PNG with nothing drawn.
    #[error("the logo is fully transparent")]
    LogoEmpty,
}

/// A typeface for the mark, checked when loaded.
#[derive(Clone, PartialEq)]
pub struct MarkFont(Arc<[u8]>);

impl MarkFont {
    /// A TrueType or OpenType font file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<MarkFont, MarkError> {
        FontRef::try_from_slice(&bytes).map_err(|_| MarkError::Font)?;
        Ok(MarkFont(bytes.into()))
    }
}

impl fmt::Debug for MarkFont {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MarkFont({} bytes)", self.0.len())
    }
}

/// A logo's shape: its alpha channel, reduced to at most 256 px a side.
#[derive(Clone, PartialEq)]
pub struct Logo {
    width: u32,
    height: u32,
    alpha: Arc<[u8]>,
}

impl Logo {
    /// A PNG with an alpha channel; transparent pixels stay clear, the rest is drawn as
    /// the mark's text is.
    pub fn from_png(bytes: &[u8]) -> Result<Logo, MarkError> {
        let decoded = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .map_err(|error| MarkError::LogoUnreadable(error.to_string()))?;
        if !decoded.color().has_alpha() {
            return Err(MarkError::LogoOpaque);
        }
        let rgba = decoded.to_rgba8();
        let (width, height) = rgba.dimensions();
        let alpha: Vec<u8> = rgba.pixels().map(|pixel| pixel[3]).collect();
        if alpha.iter().all(|&a| a == 255) {
            return Err(MarkError::LogoOpaque);
        }
        if alpha.iter().all(|&a| a == 0) {
            return Err(MarkError::LogoEmpty);
        }
        let mask = image::GrayImage::from_raw(width, height, alpha)
            .ok_or_else(|| MarkError::LogoUnreadable("bad dimensions".into()))?;
        let scale = (LOGO_MAX_SIDE as f32 / width.max(height) as f32).min(1.0);
        let mask = if scale < 1.0 {
            let (w, h) = scaled(width, height, scale);
            image::imageops::resize(&mask, w, h, image::imageops::FilterType::Triangle)
        } else {
            mask
        };
        Ok(Logo {
            width: mask.width(),
            height: mask.height(),
            alpha: mask.into_raw().into(),
        })
    }

    /// The alpha resized to `height` rows (width in proportion).
    fn at_height(&self, height: u32) -> image::GrayImage {
        let scale = height as f32 / self.height as f32;
        let (w, h) = scaled(self.width, self.height, scale);
        let mask = image::GrayImage::from_raw(self.width, self.height, self.alpha.to_vec())
            .unwrap_or_default();
        image::imageops::resize(&mask, w, h, image::imageops::FilterType::Triangle)
    }
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Logo({}×{})", self.width, self.height)
    }
}

fn scaled(width: u32, height: u32, scale: f32) -> (u32, u32) {
    (
        ((width as f32 * scale).round() as u32).max(1),
        ((height as f32 * scale).round() as u32).max(1),
    )
}

/// One period of the pattern: light and dark alpha per byte (3 per pixel), row-major.
struct Tile {
    width: usize,
    height: usize,
    light: Vec<u8>,
    dark: Vec<u8>,
}

impl Tile {
    fn new(options: &WatermarkOptions, long_side: u32) -> Option<Tile> {
        if options.opacity == 0 {
            return None;
        }
        let font = match &options.font {
            Some(font) => FontRef::try_from_slice(&font.0).ok()?,
            None => FontRef::try_from_slice(BUNDLED_FONT).ok()?,
        };
        // Capitals this tall (the old bitmap mark's 7 px at least, so thumbnails stay legible).
        let cap = (long_side as f32 * options.letter_height).max(7.0);
        let scale = PxScale::from(cap / cap_height_per_px(&font));
        let scaled = font.as_scaled(scale);

        // Lay the text out along one baseline, with the font's kerning.
        let mut glyphs = Vec::new();
        let mut caret = 0.0f32;
        let mut previous: Option<GlyphId> = None;
        for c in options.text.chars().take(MAX_TEXT_CHARS) {
            let id = font.glyph_id(c);
            if id.0 == 0 {
                continue; // the font lacks it
            }
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            glyphs.push((id, caret));
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        let logo = options
            .logo
            .as_ref()
            .map(|logo| logo.at_height((cap * 1.6).round() as u32));
        let logo_w = logo.as_ref().map_or(0, |logo| logo.width() as usize);
        let drawn_text = glyphs.iter().any(|&(id, _)| font.outline(id).is_some());
        if !drawn_text && logo.is_none() {
            return None;
        }
        let outline = (cap / 20.0).round().max(1.0) as usize;
        let gap = if logo.is_some() && drawn_text {
            (cap * 0.5) as usize
        } else {
            0
        };
        let text_w = caret.ceil() as usize;
        let mark_w = logo_w + gap + if drawn_text { text_w } else { 0 };
        let width =
            mark_w + ((mark_w as f32 * options.spacing.max(0.0)) as usize).max(2 * outline + 1);
        // Bands of text with gaps narrower than the text is tall: no mark-free strip wide
        // enough to crop a useful picture from.
        let height = (cap * 2.5).ceil() as usize;
        let left = outline;
        let baseline = cap * 1.75;

        let mut coverage = vec![0u8; width * height];
        if let Some(logo) = &logo {
            // Centred on the capitals.
            let top = (baseline - cap / 2.0 - logo.height() as f32 / 2.0).max(0.0) as usize;
            for (y, row) in logo.rows().enumerate() {
                let Some(line) = coverage.get_mut((top + y) * width..(top + y + 1) * width) else {
                    break;
                };
                for (x, alpha) in row.enumerate() {
                    if let Some(cell) = line.get_mut(left + x) {
                        *cell = alpha[0];
                    }
                }
            }
        }
        if drawn_text {
            let origin = (left + logo_w + gap) as f32;
            for &(id, x) in &glyphs {
                let glyph = id.with_scale_and_position(scale, point(origin + x, baseline));
                let Some(outlined) = font.outline_glyph(glyph) else {
                    continue; // a space
                };
                let bounds = outlined.px_bounds();
                outlined.draw(|x, y, c| {
                    let (x, y) = (
                        bounds.min.x as i64 + i64::from(x),
                        bounds.min.y as i64 + i64::from(y),
                    );
                    if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
                        let cell = &mut coverage[y as usize * width + x as usize];
                        *cell = (*cell).max((c.clamp(0.0, 1.0) * 255.0).round() as u8);
                    }
                });
            }
        }

        let halo = dilate(&coverage, width, height, outline);
        let light_alpha = u16::from(options.opacity);
        let dark_alpha = light_alpha / 2;
        let mut light = vec![0u8; width * height * 3];
        let mut dark = vec![0u8; width * height * 3];
        for (at, (&core, &near)) in coverage.iter().zip(&halo).enumerate() {
            let l = (u16::from(core) * light_alpha / 255) as u8;
            let d = (u16::from(near - core.min(near)) * dark_alpha / 255) as u8;
            light[at * 3..at * 3 + 3].fill(l);
            dark[at * 3..at * 3 + 3].fill(d);
        }
        Some(Tile {
            width,
            height,
            light,
            dark,
        })
    }
}

/// A font's capital height per pixel of `PxScale` (from its `H`; 0.7 if it has none).
fn cap_height_per_px(font: &FontRef<'_>) -> f32 {
    let scaled = font.as_scaled(PxScale::from(1000.0));
    font.outline_glyph(font.glyph_id('H').with_scale(1000.0))
        .map(|outlined| outlined.px_bounds().height() / 1000.0)
        .filter(|&h| h > 0.05)
        .unwrap_or_else(|| 0.7 * (scaled.ascent() - scaled.descent()) / 1000.0)
}

/// The largest value within `radius` (a square), by a pass along rows then along columns.
fn dilate(values: &[u8], width: usize, height: usize, radius: usize) -> Vec<u8> {
    let mut across = vec![0u8; values.len()];
    for (row, out) in values
        .chunks_exact(width)
        .zip(across.chunks_exact_mut(width))
    {
        for (x, cell) in out.iter_mut().enumerate() {
            let span = &row[x.saturating_sub(radius)..(x + radius + 1).min(width)];
            *cell = span.iter().copied().max().unwrap_or(0);
        }
    }
    let mut out = vec![0u8; values.len()];
    for y in 0..height {
        let (from, to) = (y.saturating_sub(radius), (y + radius + 1).min(height));
        let line = &mut out[y * width..(y + 1) * width];
        for source in from..to {
            for (cell, &value) in line
                .iter_mut()
                .zip(&across[source * width..(source + 1) * width])
            {
                *cell = (*cell).max(value);
            }
        }
    }
    out
}

/// Blends the tiled mark into packed RGB in place.
pub fn apply(rgb: &mut [u8], width: u32, height: u32, options: &WatermarkOptions) {
    let Some(tile) = Tile::new(options, width.max(height)) else {
        return;
    };
    let row_bytes = width as usize * 3;
    let tile_row_bytes = tile.width * 3;
    for (y, row) in rgb
        .chunks_exact_mut(row_bytes)
        .enumerate()
        .take(height as usize)
    {
        let band = y / tile.height;
        // Each band of rows is shifted by a third of a tile: a diagonal, staggered pattern
        // that no single crop or row/column interpolation removes.
        let shift = (band * tile.width / 3) % tile.width;
        let tile_y = y % tile.height;
        let light = &tile.light[tile_y * tile_row_bytes..(tile_y + 1) * tile_row_bytes];
        let dark = &tile.dark[tile_y * tile_row_bytes..(tile_y + 1) * tile_row_bytes];
        let mut x = 0;
        let mut tile_x = shift * 3;
        while x < row_bytes {
            let run = (row_bytes - x).min(tile_row_bytes - tile_x);
            blend(
                &mut row[x..x + run],
                &light[tile_x..tile_x + run],
                &dark[tile_x..tile_x + run],
            );
            x += run;
            tile_x = 0;
        }
    }
}

/// `p + (255 − p)·light/256 − p·dark/256`, per byte.
fn blend(pixels: &mut [u8], light: &[u8], dark: &[u8]) {
    for ((pixel, &light), &dark) in pixels.iter_mut().zip(light).zip(dark) {
        let p = u16::from(*pixel);
        let brightened = p + (((255 - p) * u16::from(light)) >> 8);
        *pixel = (brightened - ((brightened * u16::from(dark)) >> 8)) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_covers_the_whole_preview_and_changes_only_some_pixels() {
        let (w, h) = (1000u32, 667u32);
        let mut rgb = vec![128u8; (w * h * 3) as usize];
        apply(&mut rgb, w, h, &WatermarkOptions::default());
        let changed: Vec<bool> = rgb.chunks(3).map(|p| p[0] != 128).collect();
        let share = changed.iter().filter(|&&c| c).count() as f64 / changed.len() as f64;
        assert!((0.05..0.45).contains(&share), "{share}");
        // Every 100×100 block carries part of the mark: no clean region to crop out.
        for by in 0..6 {
            for bx in 0..10 {
                let touched = (0..100).any(|dy| {
                    (0..100).any(|dx| changed[((by * 100 + dy) * w as usize) + bx * 100 + dx])
                });
                assert!(touched, "block ({bx}, {by}) has no watermark");
            }
        }
    }

    #[test]
    fn blending_brightens_under_the_mark_and_darkens_the_outline() {
        let mut pixels = [0u8, 128, 255, 0, 128, 255];
        blend(&mut pixels, &[96, 96, 96, 0, 0, 0], &[0, 0, 0, 57, 57, 57]);
        assert_eq!(&pixels[..3], &[95, 175, 255]);
        assert_eq!(&pixels[3..], &[0, 100, 199]);
    }

    #[test]
    fn zero_opacity_or_no_drawable_text_leaves_pixels_alone() {
        let mut rgb = vec![10u8; 300 * 200 * 3];
        let options = WatermarkOptions {
            opacity: 0,
            ..WatermarkOptions::default()
        };
        apply(&mut rgb, 300, 200, &options);
        let options = WatermarkOptions {
            text: "日本".into(),
            ..WatermarkOptions::default()
        };
        apply(&mut rgb, 300, 200, &options);
        assert!(rgb.iter().all(|&v| v == 10));
    }

    fn png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
        encode_png(image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba(pixel(x, y))
        }))
    }

    fn encode_png(image: impl Into<image::DynamicImage>) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .into()
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("png");
        bytes
    }

    fn fingerprint(options: &WatermarkOptions) -> Vec<u8> {
        let mut bytes = Vec::new();
        options.fingerprint(&mut |part| bytes.extend_from_slice(part));
        bytes
    }

    #[test]
    fn the_mark_draws_its_text_anti_aliased_and_another_text_differently() {
        let tile = Tile::new(&WatermarkOptions::default(), 1000).expect("a tile");
        // Coverage, not a bitmap: edges take many levels between clear and full.
        let mut levels: Vec<u8> = tile.light.clone();
        levels.sort_unstable();
        levels.dedup();
        assert!(levels.len() > 20, "{} levels", levels.len());
        assert_eq!(levels.last(), Some(&WatermarkOptions::default().opacity));

        let draw = |text: &str| {
            let mut rgb = vec![100u8; 600 * 400 * 3];
            let options = WatermarkOptions {
                text: text.into(),
                ..WatermarkOptions::default()
            };
            apply(&mut rgb, 600, 400, &options);
            rgb
        };
        assert_ne!(draw("Example Stock"), draw("Other Stock"));
        // Letters the font lacks are left out, the rest still drawn.
        assert_eq!(draw("Example\u{4e00}Stock"), draw("ExampleStock"));
    }

    #[test]
    fn a_logo_is_drawn_as_a_silhouette_of_its_alpha_beside_the_text() {
        // A filled disc on a clear ground.
        let bytes = png(80, 80, |x, y| {
            let (dx, dy) = (x as i32 - 40, y as i32 - 40);
            if dx * dx + dy * dy < 30 * 30 {
                [200, 20, 20, 255]
            } else {
                [0, 0, 0, 0]
            }
        });
        let logo = Logo::from_png(&bytes).expect("logo");
        let logo_only = WatermarkOptions {
            text: String::new(),
            logo: Some(logo.clone()),
            ..WatermarkOptions::default()
        };
        let mut rgb = vec![100u8; 500 * 300 * 3];
        apply(&mut rgb, 500, 300, &logo_only);
        let changed = rgb.chunks(3).filter(|p| p[0] != 100).count();
        assert!(changed > 500, "{changed} pixels changed");
        // Drawn grey, as the text is: the logo's colours do not show.
        assert!(rgb.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));

        let with_text = WatermarkOptions {
            logo: Some(logo),
            ..WatermarkOptions::default()
        };
        let (plain, marked) = (
            Tile::new(&WatermarkOptions::default(), 1000).expect("tile"),
            Tile::new(&with_text, 1000).expect("tile"),
        );
        assert!(marked.width > plain.width, "the logo widens the mark");
        assert_ne!(
            fingerprint(&with_text),
            fingerprint(&WatermarkOptions::default())
        );
    }

    #[test]
    fn opaque_or_unreadable_logos_and_non_fonts_are_refused() {
        let opaque = png(10, 10, |_, _| [1, 2, 3, 255]);
        assert!(matches!(
            Logo::from_png(&opaque),
            Err(MarkError::LogoOpaque)
        ));
        let clear = png(10, 10, |_, _| [0, 0, 0, 0]);
        assert!(matches!(Logo::from_png(&clear), Err(MarkError::LogoEmpty)));
        let rgb = encode_png(image::RgbImage::new(10, 10));
        assert!(matches!(Logo::from_png(&rgb), Err(MarkError::LogoOpaque)));
        assert!(matches!(
            Logo::from_png(b"not a png"),
            Err(MarkError::LogoUnreadable(_))
        ));
        assert!(matches!(
            MarkFont::from_bytes(b"not a font".to_vec()),
            Err(MarkError::Font)
        ));
        let font = MarkFont::from_bytes(BUNDLED_FONT.to_vec()).expect("the bundled font");
        let options = WatermarkOptions {
            font: Some(font),
            ..WatermarkOptions::default()
        };
        assert!(Tile::new(&options, 500).is_some());
        assert_ne!(
            fingerprint(&options),
            fingerprint(&WatermarkOptions::default())
        );
    }

    #[test]
    fn a_logo_larger_than_a_mark_needs_is_reduced_when_loaded() {
        let bytes = png(1200, 600, |x, _| [0, 0, 0, if x < 600 { 255 } else { 0 }]);
        let logo = Logo::from_png(&bytes).expect("logo");
        assert_eq!((logo.width, logo.height), (256, 128));
    }
}
