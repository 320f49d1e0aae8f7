//! The reference's loops in the reference's order (`box1DFloat` along each row, then each
//! column, twice; `decimateFloat`; `dct64To16` one coefficient at a time), kept to check
//! that the reordered loops of the fast path give the same floats bit for bit: the
//! compatibility with other platforms' PDQ hashes rests on it.

use super::*;

fn box_1d(values: &[f32], window: usize) -> Vec<f32> {
    let (grow_silently, grow, full, shrink) = phases(values.len(), window);
    let mut out = Vec::with_capacity(values.len());
    let (mut left, mut right) = (0, 0);
    let mut sum = 0f32;
    let mut count = 0usize;
    for _ in 0..grow_silently {
        sum += values[right];
        count += 1;
        right += 1;
    }
    for _ in 0..grow {
        sum += values[right];
        count += 1;
        out.push(sum / count as f32);
        right += 1;
    }
    for _ in 0..full {
        sum += values[right];
        sum -= values[left];
        out.push(sum / count as f32);
        left += 1;
        right += 1;
    }
    for _ in 0..shrink {
        sum -= values[left];
        count -= 1;
        out.push(sum / count as f32);
        left += 1;
    }
    out
}

fn reference_downsample(
    mut image: Vec<f32>,
    width: usize,
    height: usize,
) -> [[f32; DOWNSAMPLE]; DOWNSAMPLE] {
    let along_rows = jarosz_window(width, DOWNSAMPLE);
    let along_cols = jarosz_window(height, DOWNSAMPLE);
    for _ in 0..2 {
        for row in image.chunks_exact_mut(width) {
            let filtered = box_1d(row, along_rows);
            row.copy_from_slice(&filtered);
        }
        for j in 0..width {
            let column: Vec<f32> = (0..height).map(|i| image[i * width + j]).collect();
            for (i, value) in box_1d(&column, along_cols).into_iter().enumerate() {
                image[i * width + j] = value;
            }
        }
    }
    let mut small = [[0f32; DOWNSAMPLE]; DOWNSAMPLE];
    for i in 0..DOWNSAMPLE {
        for j in 0..DOWNSAMPLE {
            small[i][j] = image[decimation_centre(i, height) * width + decimation_centre(j, width)];
        }
    }
    small
}

fn reference_dct(a: &[[f32; DOWNSAMPLE]; DOWNSAMPLE]) -> [[f32; DCT_SIZE]; DCT_SIZE] {
    let (d, _) = dct_matrix();
    let mut t = [[0f32; DOWNSAMPLE]; DCT_SIZE];
    for i in 0..DCT_SIZE {
        for j in 0..DOWNSAMPLE {
            let mut sum = 0f32;
            for k in 0..DOWNSAMPLE {
                sum += d[i][k] * a[k][j];
            }
            t[i][j] = sum;
        }
    }
    let mut b = [[0f32; DCT_SIZE]; DCT_SIZE];
    for i in 0..DCT_SIZE {
        for j in 0..DCT_SIZE {
            let mut sum = 0f32;
            for k in 0..DOWNSAMPLE {
                sum += t[i][k] * d[j][k];
            }
            b[i][j] = sum;
        }
    }
    b
}

/// A photo-like luma image: smooth shapes, edges and grain, from a fixed seed.
fn photo_like(width: usize, height: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let mut grain = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 1000) as f32 / 1000.0
    };
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
            let wave = ((u * 7.0 + seed as f32).sin() * (v * 5.0).cos() + 1.0) * 80.0;
            let edge = if u + 0.3 * v > 0.6 { 60.0 } else { 0.0 };
            pixels.push(wave + edge + grain() * 40.0);
        }
    }
    pixels
}

#[test]
fn the_fast_filter_and_dct_give_the_references_floats_bit_for_bit() {
    let sizes = [
        (200, 133),
        (133, 200),
        (190, 126),
        (171, 171),
        (65, 300),
        (300, 65),
        (127, 64),
        (5, 5),
        (7, 1000),
        (1000, 7),
        (1024, 683),
    ];
    for (seed, &(width, height)) in sizes.iter().enumerate() {
        let image = photo_like(width, height, seed as u32);
        let fast = jarosz_downsample(image.clone(), width, height);
        let slow = reference_downsample(image, width, height);
        let bits = |m: &[[f32; DOWNSAMPLE]; DOWNSAMPLE]| -> Vec<u32> {
            m.iter().flatten().map(|v| v.to_bits()).collect()
        };
        assert_eq!(bits(&fast), bits(&slow), "{width}×{height}: downsample");
        let (fast_dct, slow_dct) = (dct64_to_16(&fast), reference_dct(&slow));
        let dct_bits = |m: &[[f32; DCT_SIZE]; DCT_SIZE]| -> Vec<u32> {
            m.iter().flatten().map(|v| v.to_bits()).collect()
        };
        assert_eq!(
            dct_bits(&fast_dct),
            dct_bits(&slow_dct),
            "{width}×{height}: DCT"
        );
    }
}
