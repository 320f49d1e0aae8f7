//! Untrusted bytes through everything an upload meets: sniff and probe, the three preview
//! sizes, and the hashing decode and fingerprint. Any panic, abort or runaway allocation
//! is a bug; errors are the expected outcome for most inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stockroom_render::{Credit, Limits, RenderOptions, decode_oriented, probe, render};
use stockroom_vocab::PreviewSize;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the limit checks themselves are what is exercised.
    let options = RenderOptions {
        limits: Limits {
            max_pixels: 4_000_000,
            max_side: 4096,
            max_file_bytes: 1 << 20,
        },
        ..RenderOptions::default()
    };
    let _ = probe(data, &options.limits);
    let _ = render(data, PreviewSize::ALL, &options, Credit::default());
    if let Ok(pixels) = decode_oriented(data, &options.limits, 200) {
        let print = stockroom_phash::Fingerprint::of_rgb(
            &pixels.rgb,
            pixels.width as usize,
            pixels.height as usize,
        );
        let _ = print.query_hashes();
    }
});
