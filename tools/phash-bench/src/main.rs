//! `stockroom-phash-bench speed [--runs N] PATH...` hashes every JPEG, PNG and WebP under the
//! paths on one thread and prints one JSON line with the median images/s of N runs, two
//! ways: as `stockroom hash` does (reduced-scale decode; PDQ of the whole, trimmed and
//! centre regions; pHash; blake3), and as ingest does for a lookup (the same, plus the nine
//! inset PDQs).
//!
//! `stockroom-phash-bench dump --out DIR PATH...` writes the exact pixels it hashes for each
//! image to `DIR/N.rgb` and prints one JSON line per image with our PDQ hash, quality and
//! the eight dihedral hashes, for `tools/phash-bench.py` to compare with the reference.

#[path = "../../common/fingerprint.rs"]
mod fingerprint;
#[path = "../../common/images.rs"]
mod images;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use fingerprint::{fingerprint, fingerprint_for_index};
use stockroom_phash::{Fingerprint, Transform};
use stockroom_render::Pixels;

fn main() -> Result<()> {
    // As the stockroom binary does at start-up.
    stockroom_render::keep_decode_buffers();
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .context("usage: stockroom-phash-bench speed|dump ...")?;
    let mut runs = 5usize;
    let mut out: Option<PathBuf> = None;
    let mut paths = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs needs a number")?.parse()?,
            "--out" => out = Some(args.next().context("--out needs a directory")?.into()),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let files = images::collect_images(&paths)?;
    if files.is_empty() {
        bail!("no images under {paths:?}");
    }
    match mode.as_str() {
        "speed" => speed(&files, runs.max(1)),
        "dump" => dump(&files, &out.context("dump needs --out DIR")?),
        other => bail!("unknown mode {other:?}"),
    }
}

fn speed(files: &[PathBuf], runs: usize) -> Result<()> {
    let originals: Vec<Vec<u8>> = files
        .iter()
        .map(|file| std::fs::read(file).with_context(|| file.display().to_string()))
        .collect::<Result<_>>()?;
    // Runs of the two ways alternate, so that both see the same machine noise.
    let (mut print_rates, mut lookup_rates) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        print_rates.push(rate(&originals, files, fingerprint_for_index)?);
        lookup_rates.push(rate(&originals, files, fingerprint)?);
    }
    let median = |mut rates: Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    println!(
        "{{\"images\":{},\"runs\":{runs},\"images_per_second\":{:.1},\"lookup_images_per_second\":{:.1}}}",
        files.len(),
        median(print_rates),
        median(lookup_rates)
    );
    Ok(())
}

/// Images/s of hashing every file (and its blake3) one way.
fn rate(
    originals: &[Vec<u8>],
    files: &[PathBuf],
    hash: fn(&[u8]) -> Result<(Fingerprint, Pixels)>,
) -> Result<f64> {
    let started = Instant::now();
    for (bytes, file) in originals.iter().zip(files) {
        let (print, _) = hash(bytes).with_context(|| file.display().to_string())?;
        std::hint::black_box((print, blake3::hash(bytes)));
    }
    Ok(files.len() as f64 / started.elapsed().as_secs_f64())
}

fn dump(files: &[PathBuf], out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    for (number, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
        let (print, pixels) = fingerprint(&bytes).with_context(|| file.display().to_string())?;
        let (width, height) = (pixels.width, pixels.height);
        let raw = out.join(format!("{number}.rgb"));
        std::fs::write(&raw, &pixels.rgb)?;
        let whole = &print.regions[0].1;
        let dihedral: Vec<String> = Transform::ALL
            .iter()
            .map(|transform| {
                format!(
                    "\"{}\":\"{}\"",
                    transform.name(),
                    whole.undo(*transform).hash()
                )
            })
            .collect();
        println!(
            "{{\"file\":{:?},\"raw\":{:?},\"width\":{width},\"height\":{height},\"pdq\":\"{}\",\"quality\":{},\"variance_kept\":{:.4},\"dihedral\":{{{}}}}}",
            file.display().to_string(),
            raw.display().to_string(),
            print.pdq.hash,
            print.pdq.quality,
            whole.variance_kept,
            dihedral.join(",")
        );
    }
    Ok(())
}
