//! Distinct synthetic JPEGs for uploads in bulk (the cluster suite, `tools/feed-lag`):
//! a gradient and a dozen blocks placed by `n`, so that no two are exact or near
//! duplicates of each other and each hashes reliably.

/// Picture number `n`, `width` × `height`, as a JPEG.
pub fn picture(n: usize, width: u32, height: u32) -> Vec<u8> {
    let mut state = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = [next() as u8, next() as u8, next() as u8];
    let mut img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            base[0].wrapping_add((x * 200 / width) as u8),
            base[1].wrapping_add((y * 200 / height) as u8),
            base[2],
        ])
    });
    let block = (width.min(height) / 6).max(4);
    for _ in 0..12 {
        let x0 = (next() % u64::from(width)) as u32;
        let y0 = (next() % u64::from(height)) as u32;
        let (w, h) = (
            block / 2 + (next() % u64::from(block)) as u32,
            block / 2 + (next() % u64::from(block)) as u32,
        );
        let colour = image::Rgb([next() as u8, next() as u8, next() as u8]);
        for y in y0..(y0 + h).min(height) {
            for x in x0..(x0 + w).min(width) {
                img.put_pixel(x, y, colour);
            }
        }
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&img)
        .expect("encoding a picture in memory");
    jpeg
}
