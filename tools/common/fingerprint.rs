//! Hashing an image file's bytes exactly as ingest does (included with `#[path]`): decode at
//! the hashing size with orientation applied, then fingerprint.

use stockroom_phash::{DECODE_LONG_SIDE, Fingerprint};
use stockroom_render::{Limits, Pixels, decode_oriented};

/// The fingerprint, and the pixels it was computed from.
pub fn fingerprint(bytes: &[u8]) -> anyhow::Result<(Fingerprint, Pixels)> {
    let pixels = decode_oriented(bytes, &Limits::default(), DECODE_LONG_SIDE)?;
    let print = Fingerprint::of_rgb(&pixels.rgb, pixels.width as usize, pixels.height as usize);
    Ok((print, pixels))
}
