//! `stockroom-phash-bench speed [--runs N] PATH...` hashes every JPEG, PNG and WebP under the
//! paths on one thread as ingest does (reduced-scale decode, PDQ with trimmed and centre
//! regions, pHash, blake3) and prints one JSON line with the median images/s of N runs.
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
use fingerprint::fingerprint;
use stockroom_phash::Transform;

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
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        for (bytes, file) in originals.iter().zip(files) {
            let (print, _) = fingerprint(bytes).with_context(|| file.display().to_string())?;
            std::hint::black_box((print, blake3::hash(bytes)));
        }
        rates.push(files.len() as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"images\":{},\"runs\":{runs},\"images_per_second\":{:.1}}}",
        files.len(),
        rates[rates.len() / 2]
    );
    Ok(())
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
            "{{\"file\":{:?},\"raw\":{:?},\"width\":{width},\"height\":{height},\"pdq\":\"{}\",\"quality\":{},\"dihedral\":{{{}}}}}",
            file.display().to_string(),
            raw.display().to_string(),
            print.pdq.hash,
            print.pdq.quality,
            dihedral.join(",")
        );
    }
    Ok(())
}
