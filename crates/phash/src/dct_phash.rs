//! The 64-bit DCT perceptual hash (pHash as `imagehash` computes it): grey, 32×32, the 8×8
//! lowest frequencies of a 2-D DCT-II including DC, bits above their median. A second,
//! independent signal beside PDQ; it is not bit-compatible with `imagehash`, whose 32×32
//! resize is PIL's Lanczos.

#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

const SIZE: usize = 32;
const KEEP: usize = 8;

/// The 64-bit pHash of packed RGB pixels; 0 for an empty image. Coefficient (0, 0) is the
/// top bit, row-major, as `imagehash` orders its bits.
pub fn phash64(rgb: &[u8], width: usize, height: usize) -> u64 {
    if width == 0 || height == 0 || rgb.len() < width * height * 3 {
        return 0;
    }
    // Grey as PIL's "L" mode (ITU-R 601-2, rounded), then a box mean per 32×32 cell.
    let grey: Vec<u32> = rgb
        .chunks_exact(3)
        .map(|p| {
            (u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000)
                >> 16
        })
        .collect();
    phash_of_grey(&grey, width, height)
}

/// [`phash64`] of one byte of grey a pixel (BT.601 luma, as a JPEG's Y channel holds it).
pub fn phash64_grey(grey: &[u8], width: usize, height: usize) -> u64 {
    if width == 0 || height == 0 || grey.len() < width * height {
        return 0;
    }
    let grey: Vec<u32> = grey.iter().map(|&value| u32::from(value)).collect();
    phash_of_grey(&grey, width, height)
}

fn phash_of_grey(grey: &[u32], width: usize, height: usize) -> u64 {
    let bounds = |index: usize, size: usize| -> (usize, usize) {
        let start = index * size / SIZE;
        let end = ((index + 1) * size / SIZE).max(start + 1).min(size);
        (start.min(size - 1), end)
    };
    let mut small = [[0f64; SIZE]; SIZE];
    for (i, row) in small.iter_mut().enumerate() {
        let (y0, y1) = bounds(i, height);
        for (j, value) in row.iter_mut().enumerate() {
            let (x0, x1) = bounds(j, width);
            let mut sum = 0u64;
            for y in y0..y1 {
                sum += grey[y * width + x0..y * width + x1]
                    .iter()
                    .map(|&v| u64::from(v))
                    .sum::<u64>();
            }
            *value = sum as f64 / ((y1 - y0) * (x1 - x0)) as f64;
        }
    }
    let c = cosines();
    // Columns first, then rows (scipy's dct(dct(x, axis=0), axis=1)); only 8 of each.
    let mut t = [[0f64; SIZE]; KEEP];
    for k in 0..KEEP {
        for j in 0..SIZE {
            t[k][j] = (0..SIZE).map(|n| c[k][n] * small[n][j]).sum();
        }
    }
    let mut coefficients = [0f64; KEEP * KEEP];
    for k in 0..KEEP {
        for l in 0..KEEP {
            coefficients[k * KEEP + l] = (0..SIZE).map(|n| t[k][n] * c[l][n]).sum();
        }
    }
    let mut sorted = coefficients;
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[KEEP * KEEP / 2 - 1] + sorted[KEEP * KEEP / 2]) / 2.0;
    coefficients
        .iter()
        .fold(0u64, |hash, &value| hash << 1 | u64::from(value > median))
}

/// `cos(π k (2n + 1) / 64)`, the unnormalised DCT-II basis (scale does not move a median).
fn cosines() -> &'static [[f64; SIZE]; KEEP] {
    static COSINES: OnceLock<[[f64; SIZE]; KEEP]> = OnceLock::new();
    COSINES.get_or_init(|| {
        let mut c = [[0f64; SIZE]; KEEP];
        for (k, row) in c.iter_mut().enumerate() {
            for (n, value) in row.iter_mut().enumerate() {
                *value = (std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * SIZE) as f64)
                    .cos();
            }
        }
        c
    })
}
