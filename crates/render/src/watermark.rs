//! The visible watermark: a text mark in a blocky bitmap font, tiled in staggered rows over
//! the whole preview, light with a dark outline so it shows on bright and dark areas alike.
//!
//! The mark is drawn once into a tile of per-byte alpha masks (one light, one dark), then
//! blended row by row with integer arithmetic that compilers vectorise:
//! `p + (255 − p)·light/256 − p·dark/256`.

/// How the mark looks.
#[derive(Clone, Debug, PartialEq)]
pub struct WatermarkOptions {
    /// Text of the mark (A–Z, 0–9, space and `.-/&@©` are drawn; other characters are left out).
    pub text: String,
    /// Strength of the light mark, 0–255 (0 turns the watermark off).
    pub opacity: u8,
    /// Horizontal gap between marks, as a multiple of the mark's width (1.0 = one width).
    pub spacing: f32,
    /// Height of the mark's letters as a fraction of the preview's long side.
    pub letter_height: f32,
}

impl Default for WatermarkOptions {
    fn default() -> Self {
        WatermarkOptions {
            text: "STOCKROOM".into(),
            opacity: 96,
            spacing: 0.3,
            letter_height: 0.035,
        }
    }
}

const GLYPH_W: usize = 5;
const GLYPH_H: usize = 7;

/// 5×7 glyphs, one row a byte, bit 4 the leftmost pixel.
fn glyph(c: char) -> Option<[u8; GLYPH_H]> {
    Some(match c.to_ascii_uppercase() {
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'Q' => [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
        'X' => [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        ' ' => [0; GLYPH_H],
        '.' => [0, 0, 0, 0, 0, 0x0c, 0x0c],
        '-' => [0, 0, 0, 0x1f, 0, 0, 0],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '&' => [0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d],
        '@' => [0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0e],
        '©' => [0x0e, 0x11, 0x17, 0x19, 0x17, 0x11, 0x0e],
        _ => return None,
    })
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
        let glyphs: Vec<[u8; GLYPH_H]> = options.text.chars().filter_map(glyph).collect();
        if glyphs.is_empty() || options.opacity == 0 {
            return None;
        }
        let scale = ((long_side as f32 * options.letter_height) / GLYPH_H as f32)
            .round()
            .max(1.0) as usize;
        let outline = scale.div_ceil(3);
        let text_w = glyphs.len() * (GLYPH_W + 1) * scale;
        let text_h = GLYPH_H * scale;
        let width =
            text_w + ((text_w as f32 * options.spacing.max(0.0)) as usize).max(2 * outline + 1);
        // Bands of text with gaps narrower than the text is tall: no mark-free strip wide
        // enough to crop a useful picture from.
        let height = text_h * 5 / 2;
        let (x0, y0) = (outline, text_h * 3 / 4);
        let mut core = vec![false; width * height];
        for (index, rows) in glyphs.iter().enumerate() {
            for (row, bits) in rows.iter().enumerate() {
                for column in 0..GLYPH_W {
                    if bits & (0x10 >> column) == 0 {
                        continue;
                    }
                    let left = x0 + (index * (GLYPH_W + 1) + column) * scale;
                    let top = y0 + row * scale;
                    for y in top..top + scale {
                        core[y * width + left..y * width + left + scale].fill(true);
                    }
                }
            }
        }
        let light_alpha = options.opacity;
        let dark_alpha = (u16::from(options.opacity) * 3 / 5) as u8;
        let mut light = vec![0u8; width * height * 3];
        let mut dark = vec![0u8; width * height * 3];
        for y in 0..height {
            for x in 0..width {
                let alpha = if core[y * width + x] {
                    (light_alpha, 0)
                } else if near(&core, width, height, x, y, outline) {
                    (0, dark_alpha)
                } else {
                    continue;
                };
                let at = (y * width + x) * 3;
                light[at..at + 3].fill(alpha.0);
                dark[at..at + 3].fill(alpha.1);
            }
        }
        Some(Tile {
            width,
            height,
            light,
            dark,
        })
    }
}

/// Whether a core pixel lies within `radius` of `(x, y)`.
fn near(core: &[bool], width: usize, height: usize, x: usize, y: usize, radius: usize) -> bool {
    let (x_from, x_to) = (x.saturating_sub(radius), (x + radius).min(width - 1));
    let (y_from, y_to) = (y.saturating_sub(radius), (y + radius).min(height - 1));
    (y_from..=y_to).any(|yy| core[yy * width + x_from..=yy * width + x_to].contains(&true))
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
}
