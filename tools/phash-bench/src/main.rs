//! `stockroom-phash-bench speed [--runs N] PATH...` handles every JPEG, PNG and WebP under
//! the paths on one thread, N runs of five ways: as `stockroom hash` does (reduced-scale
//! decode; the file's PDQ; pHash; blake3), as ingest does for a lookup (PDQ of the whole,
//! trimmed and centre regions and their mirror images, the nine inset PDQs, pHash,
//! blake3), the decode alone, and the first two as they were before PDQ was the file's
//! (`hash_before`, `lookup_before`: a decode to 200 px with interpolated chroma, PDQ of its
//! pixels as they are). It
//! prints one JSON line: `{"files": [...], "seconds": {"hash": [[per file] per run],
//! "lookup": .., ...}}`, for `tools/phash-bench.py report` to sum by format.
//!
//! `stockroom-phash-bench dump --out DIR PATH...` writes the exact pixels it hashes for each
//! image to `DIR/N.rgb` and prints one JSON line per image: the PDQ `stockroom hash` prints
//! (`pdq`) and the one it printed before (`before_pdq`), for `tools/phash-bench.py file`
//! to compare with the reference on the full decode; and the PDQ of the very pixels with
//! its quality and eight dihedral hashes (`pixels_pdq`, ...), for `compat`.

#[path = "../../common/images.rs"]
mod images;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use stockroom_phash::{
    DECODE_LONG_SIDE, Fingerprint, Luma, Transform, pdq_dct, pdq_from_rgb, phash64,
};
use stockroom_platform::fingerprint::{fingerprint_for_lookup as fingerprint, print_bytes};
use stockroom_render::{Limits, Upsampling, decode_oriented, decode_oriented_upsampling};

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
    let ways: [(&str, Way); 5] = [
        ("hash", published),
        ("lookup", lookup),
        ("decode", decode_only),
        ("hash_before", published_before),
        ("lookup_before", lookup_before),
    ];
    let mut seconds: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(runs); ways.len()];
    // Untimed, one file of each format every way: what a process does once (decoder and
    // pool set-up, the heap's first growth) is not charged to a run.
    let mut formats_seen = Vec::new();
    for (bytes, file) in originals.iter().zip(files) {
        let format = file.extension().map(|ext| ext.to_ascii_lowercase());
        if !formats_seen.contains(&format) {
            formats_seen.push(format);
            for (_, way) in &ways {
                way(bytes).with_context(|| file.display().to_string())?;
            }
        }
    }
    for _ in 0..runs {
        for runs in &mut seconds {
            runs.push(Vec::with_capacity(files.len()));
        }
        // Each file every way in turn, so that a slow spell falls on all of them.
        for (bytes, file) in originals.iter().zip(files) {
            for ((_, way), runs) in ways.iter().zip(&mut seconds) {
                let started = Instant::now();
                way(bytes).with_context(|| file.display().to_string())?;
                if let Some(run) = runs.last_mut() {
                    run.push(started.elapsed().as_secs_f64());
                }
            }
        }
    }
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let ways: Vec<String> = ways
        .iter()
        .zip(&seconds)
        .map(|((name, _), runs)| format!("{name:?}:{runs:?}"))
        .collect();
    println!("{{\"files\":{files:?},\"seconds\":{{{}}}}}", ways.join(","));
    Ok(())
}

/// One way of handling an image file's bytes, timed per file.
type Way = fn(&[u8]) -> Result<()>;

/// Hashing as `stockroom hash` does: the published hashes (PDQ of the whole and pHash) and
/// the file's blake3.
fn published(bytes: &[u8]) -> Result<()> {
    std::hint::black_box(print_bytes(bytes, &Limits::default())?);
    Ok(())
}

/// The long side hashing decoded to before it computed PDQ for the file.
const BEFORE_LONG_SIDE: u32 = 200;

/// The decode hashing made before: to [`BEFORE_LONG_SIDE`], a JPEG's chroma upsampled
/// the interpolating way.
fn decode_before(bytes: &[u8]) -> Result<stockroom_render::Pixels> {
    Ok(decode_oriented_upsampling(
        bytes,
        &Limits::default(),
        BEFORE_LONG_SIDE,
        Upsampling::Fancy,
    )?)
}

/// [`published`] as it was before PDQ was computed for the file the pixels stand for: on
/// pixels decoded to [`BEFORE_LONG_SIDE`], as they are.
fn published_before(bytes: &[u8]) -> Result<()> {
    let pixels = decode_before(bytes)?;
    let (width, height) = (pixels.width as usize, pixels.height as usize);
    let hashes = (
        pdq_from_rgb(&pixels.rgb, width, height),
        phash64(&pixels.rgb, width, height),
    );
    std::hint::black_box((hashes, blake3::hash(bytes)));
    Ok(())
}

/// Hashing as a lookup does: the fingerprint with every region, and the file's blake3.
fn lookup(bytes: &[u8]) -> Result<()> {
    let (print, _) = fingerprint(bytes)?;
    std::hint::black_box((print, blake3::hash(bytes)));
    Ok(())
}

/// [`lookup`] as it was before: every region hashed on the reduced pixels as they are.
fn lookup_before(bytes: &[u8]) -> Result<()> {
    let pixels = decode_before(bytes)?;
    let print = Fingerprint::of_rgb(&pixels.rgb, pixels.width as usize, pixels.height as usize);
    std::hint::black_box((print, blake3::hash(bytes)));
    Ok(())
}

/// Only the decode that hashing starts with: how fast hashing could be if hashing were free.
fn decode_only(bytes: &[u8]) -> Result<()> {
    let pixels = decode_oriented(bytes, &Limits::default(), DECODE_LONG_SIDE)?;
    std::hint::black_box(pixels);
    Ok(())
}

fn dump(files: &[PathBuf], out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    for (number, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
        let (print, pixels) = fingerprint(&bytes).with_context(|| file.display().to_string())?;
        let (width, height) = (pixels.width, pixels.height);
        // What `stockroom hash` prints (a JPEG's luma alone) is the PDQ checked on the file.
        let printed = print_bytes(&bytes, &Limits::default())?.pdq;
        let raw = out.join(format!("{number}.rgb"));
        std::fs::write(&raw, &pixels.rgb)?;
        let before = {
            let pixels = decode_before(&bytes)?;
            pdq_from_rgb(&pixels.rgb, pixels.width as usize, pixels.height as usize)
        };
        // The same-pixels check compares PDQ of these very pixels (as hashing did before
        // it computed the file's PDQ) with the reference's of them.
        let whole = pdq_dct(Luma::from_rgb(&pixels.rgb, width as usize, height as usize));
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
            "{{\"file\":{:?},\"raw\":{:?},\"width\":{width},\"height\":{height},\"pdq\":\"{}\",\"pdq_quality\":{},\"lookup_pdq\":\"{}\",\"before_pdq\":\"{}\",\"pixels_pdq\":\"{}\",\"quality\":{},\"variance_kept\":{:.4},\"dihedral\":{{{}}}}}",
            file.display().to_string(),
            raw.display().to_string(),
            printed.hash,
            printed.quality,
            print.pdq.hash,
            before.hash,
            whole.hash(),
            whole.quality,
            whole.variance_kept,
            dihedral.join(",")
        );
    }
    Ok(())
}
