//! Photo-like hashes in any number (included with `#[path]`; needs the `rng` module): PDQ
//! hashes of random 64×64 windows of a photo's image pyramid. Windows have the bit
//! statistics of photographs (skewed slot values, correlated bits), unlike uniform random
//! bits, which flatter multi-index hashing and understate false matches.

use stockroom_phash::{Luma, MIN_RELIABLE_QUALITY, PdqDct, pdq_dct};

use crate::rng::Rng;

/// Twelve scales of `luma`, a quarter octave apart, from 512 px on the long side down to
/// about 76 (no side below 64).
pub fn pyramid(luma: &Luma) -> Vec<Luma> {
    let long = luma.width.max(luma.height) as f64;
    (0..12)
        .map(|level| {
            let scale = 512.0 / long * 2f64.powf(-(level as f64) / 4.0);
            let w = ((luma.width as f64 * scale).round() as usize).max(64);
            let h = ((luma.height as f64 * scale).round() as usize).max(64);
            shrink(luma, w, h)
        })
        .collect()
}

/// A random 64×64 window of a random level of a pyramid `pick` chooses, and its DCT. A
/// catalogue's hashes come from photos, which have texture: windows of sky or shadow (PDQ
/// quality below the reliable 50) are drawn again, up to 50 times.
pub fn textured_window<'a>(
    mut pick: impl FnMut(&mut Rng) -> &'a [Luma],
    rng: &mut Rng,
) -> (Luma, PdqDct) {
    let mut drawn = None;
    for _ in 0..50 {
        let pyramid = pick(rng);
        let level = &pyramid[rng.below(pyramid.len())];
        let x = rng.below(level.width - 63);
        let y = rng.below(level.height - 63);
        let window = level.crop(x, y, 64, 64);
        let dct = pdq_dct(window.clone());
        let reliable = dct.quality >= MIN_RELIABLE_QUALITY;
        drawn = Some((window, dct));
        if reliable {
            break;
        }
    }
    drawn.unwrap_or_else(|| {
        let empty = Luma {
            width: 0,
            height: 0,
            pixels: Vec::new(),
            covers: (0, 0),
        };
        (empty.clone(), pdq_dct(empty))
    })
}

/// Box-average resize of a float image (good enough to build a pyramid).
fn shrink(luma: &Luma, width: usize, height: usize) -> Luma {
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        let (y0, y1) = (
            y * luma.height / height,
            ((y + 1) * luma.height / height).max(y * luma.height / height + 1),
        );
        for x in 0..width {
            let (x0, x1) = (
                x * luma.width / width,
                ((x + 1) * luma.width / width).max(x * luma.width / width + 1),
            );
            let mut sum = 0f32;
            for row in y0..y1 {
                sum += luma.pixels[row * luma.width + x0..row * luma.width + x1]
                    .iter()
                    .sum::<f32>();
            }
            pixels.push(sum / ((y1 - y0) * (x1 - x0)) as f32);
        }
    }
    Luma {
        width,
        height,
        pixels,
        covers: (width, height),
    }
}
