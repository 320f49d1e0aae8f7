//! Hashing an image file's bytes exactly as ingest does (included with `#[path]`): decode at
//! the hashing size with orientation applied, then fingerprint.

use stockroom_phash::{DECODE_LONG_SIDE, Fingerprint};
use stockroom_render::{Limits, Pixels, decode_oriented};

/// The fingerprint of an upload, to look it up; and the pixels it was computed from.
pub fn fingerprint(bytes: &[u8]) -> anyhow::Result<(Fingerprint, Pixels)> {
    decode_and(bytes, Fingerprint::of_rgb)
}

/// The fingerprint of an image to index (without the lookup-only insets), and its pixels.
pub fn fingerprint_for_index(bytes: &[u8]) -> anyhow::Result<(Fingerprint, Pixels)> {
    decode_and(bytes, Fingerprint::for_index)
}

fn decode_and(
    bytes: &[u8],
    hash: fn(&[u8], usize, usize) -> Fingerprint,
) -> anyhow::Result<(Fingerprint, Pixels)> {
    let pixels = decode_oriented(bytes, &Limits::default(), DECODE_LONG_SIDE)?;
    let print = hash(&pixels.rgb, pixels.width as usize, pixels.height as usize);
    Ok((print, pixels))
}
