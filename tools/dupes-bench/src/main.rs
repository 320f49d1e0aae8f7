//! The duplicate index at catalogue scale, on hashes of real photos.
//!
//! `generate --count N --out FILE DIR...`: N PDQ hashes of real-photo content, written as
//! 32 raw bytes each (the index's word order). Every corpus photo is decoded at 512 px and
//! turned into a pyramid of 12 scales (a quarter octave apart, down to 64 px); each hash is
//! the PDQ of a random 64×64 window of a random scale, under one of the eight rotations and
//! flips (derived in the DCT, so one window gives eight hashes); windows without texture
//! (PDQ quality below 50) are drawn again. The hashes therefore have
//! the bit statistics of photographs (skewed slot values, correlated bits), unlike uniform
//! random bits, which flatter multi-index hashing. It prints statistics that show it. The
//! photos' own hashes (as ingest indexes them) come first, so queries have true matches.
//!
//! `queries --out FILE DIR...`: the query hashes of every photo as ingest makes them
//! (whole, trimmed, centre crop × eight transforms), 32 raw bytes each.
//!
//! `search --hashes FILE --queries FILE [--runs R] [--threshold T]`: loads the hashes into
//! a `DupIndex` and answers each photo's queries with the multi-index tables and with a
//! linear scan, checks that both agree, and prints the median milliseconds per photo.

#[path = "../../common/images.rs"]
mod images;
#[path = "../../common/rng.rs"]
mod rng;
#[path = "../../common/windows.rs"]
mod windows;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use rayon::prelude::*;
use stockroom_dupes::{DupIndex, Query};
use stockroom_phash::{Hash256, Luma, Pdq, Region, Transform};
use stockroom_render::{Limits, decode_oriented};

use rng::Rng;
use stockroom_platform::fingerprint::{
    fingerprint_for_index, fingerprint_for_lookup as fingerprint,
};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .context("usage: stockroom-dupes-bench generate|queries|search ...")?;
    let (mut count, mut runs, mut threshold) = (1_000_000usize, 5usize, 31u32);
    let (mut out, mut hashes, mut queries) = (None, None, None);
    let mut dirs = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--count" => count = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "--threshold" => threshold = value()?.parse()?,
            "--out" => out = Some(PathBuf::from(value()?)),
            "--hashes" => hashes = Some(PathBuf::from(value()?)),
            "--queries" => queries = Some(PathBuf::from(value()?)),
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    match mode.as_str() {
        "generate" => generate(count, &out.context("--out FILE")?, &dirs),
        "queries" => write_queries(&out.context("--out FILE")?, &dirs),
        "search" => search(
            &hashes.context("--hashes FILE")?,
            &queries.context("--queries FILE")?,
            runs.max(1),
            threshold,
        ),
        other => bail!("unknown mode {other:?}"),
    }
}

fn photos(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let files = images::collect_images(dirs)?;
    ensure!(!files.is_empty(), "no photos under {dirs:?}");
    Ok(files)
}

fn write_hashes(path: &Path, hashes: &[Hash256]) -> Result<()> {
    let mut bytes = Vec::with_capacity(hashes.len() * 32);
    for hash in hashes {
        for word in hash.0 {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).with_context(|| path.display().to_string())
}

fn read_hashes(path: &Path) -> Result<Vec<Hash256>> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    ensure!(
        bytes.len() % 32 == 0,
        "{} is not a whole number of hashes",
        path.display()
    );
    Ok(bytes
        .chunks_exact(32)
        .map(|chunk| {
            let word = |i: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&chunk[i * 8..i * 8 + 8]);
                u64::from_le_bytes(w)
            };
            Hash256([word(0), word(1), word(2), word(3)])
        })
        .collect())
}

fn generate(count: usize, out: &Path, dirs: &[PathBuf]) -> Result<()> {
    let started = Instant::now();
    let pyramids: Vec<Vec<Luma>> = photos(dirs)?
        .par_iter()
        .map(|path| -> Result<Vec<Luma>> {
            let bytes = std::fs::read(path)?;
            let pixels = decode_oriented(&bytes, &Limits::default(), 512)?;
            let luma = Luma::from_rgb(&pixels.rgb, pixels.width as usize, pixels.height as usize);
            Ok(windows::pyramid(&luma))
        })
        .collect::<Result<_>>()?;
    let windows = count.div_ceil(8);
    let mut hashes: Vec<Hash256> = (0..windows)
        .into_par_iter()
        .flat_map_iter(|window| {
            let mut rng = Rng(
                0x9E37_79B9_7F4A_7C15 ^ (window as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)
            );
            let (_, dct) =
                windows::textured_window(|rng| &pyramids[rng.below(pyramids.len())], &mut rng);
            Transform::ALL.map(|t| dct.undo(t).hash())
        })
        .collect();
    // The photos themselves go first, as ingest indexes them, so each query has true
    // matches to find among the windows.
    let own: Vec<Hash256> = photos(dirs)?
        .par_iter()
        .map(|path| -> Result<Vec<Hash256>> {
            let bytes = std::fs::read(path)?;
            let (print, _) = fingerprint_for_index(&bytes)?;
            Ok(print
                .index_hashes()
                .iter()
                .map(|(_, pdq)| pdq.hash)
                .collect())
        })
        .collect::<Result<Vec<_>>>()?
        .concat();
    hashes.truncate(count.saturating_sub(own.len()));
    hashes.splice(0..0, own);
    write_hashes(out, &hashes)?;
    // How far from uniform random bits: distinct values and the fullest bucket per slot.
    let mut fullest = 0usize;
    let mut distinct = 0usize;
    for slot in 0..16 {
        let mut counts = vec![0u32; 1 << 16];
        for hash in &hashes {
            counts[usize::from(hash.slot(slot))] += 1;
        }
        fullest = fullest.max(counts.iter().copied().max().unwrap_or(0) as usize);
        distinct += counts.iter().filter(|&&c| c > 0).count();
    }
    let mut rng = Rng(42);
    let pairs = 100_000;
    let mean_distance = (0..pairs)
        .map(|_| {
            let (a, b) = (rng.below(hashes.len()), rng.below(hashes.len()));
            f64::from(hashes[a].distance(&hashes[b]))
        })
        .sum::<f64>()
        / pairs as f64;
    let uniform_fullest = hashes.len() / 65536;
    println!(
        "{{\"hashes\":{},\"photos\":{},\"seconds\":{:.1},\"mean_random_pair_distance\":{mean_distance:.1},\"mean_distinct_slot_values\":{},\"fullest_slot_bucket\":{fullest},\"uniform_bits_bucket\":{uniform_fullest}}}",
        hashes.len(),
        pyramids.len(),
        started.elapsed().as_secs_f64(),
        distinct / 16
    );
    Ok(())
}

fn write_queries(out: &Path, dirs: &[PathBuf]) -> Result<()> {
    let mut hashes = Vec::new();
    for path in photos(dirs)? {
        let bytes = std::fs::read(&path)?;
        let (print, _) = fingerprint(&bytes)?;
        // The plain Hamming search faiss can do too: the indexed regions under the eight
        // transforms. (Ingest also looks up nine insets, each against centre crops only,
        // and an unpadded region against wholes only, within limits of their own, which
        // faiss has no way to express.)
        let mut queries: Vec<Hash256> = print
            .query_hashes()
            .iter()
            .filter(|(region, _, _)| region.is_indexed())
            .map(|(_, _, pdq)| pdq.hash)
            .collect();
        // Always 24 per photo (whole, trimmed, centre × 8): repeat the whole when untrimmed.
        while queries.len() < 24 {
            queries.push(queries[queries.len() % 8]);
        }
        hashes.extend(queries);
    }
    write_hashes(out, &hashes)?;
    println!(
        "{{\"photos\":{},\"queries\":{}}}",
        hashes.len() / 24,
        hashes.len()
    );
    Ok(())
}

fn search(hashes: &Path, queries: &Path, runs: usize, threshold: u32) -> Result<()> {
    let stored = read_hashes(hashes)?;
    let queries = read_hashes(queries)?;
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut index = DupIndex::open(dir.path().join("hashes"))?;
    index.add_all(stored.iter().enumerate().map(|(asset, hash)| {
        (
            asset as u64,
            Region::Whole,
            Pdq {
                hash: *hash,
                quality: 100,
            },
            true,
        )
    }))?;
    drop(index);
    let index = DupIndex::open(dir.path().join("hashes"))?;
    let open_seconds = started.elapsed().as_secs_f64();
    let photos: Vec<Vec<Query>> = queries
        .chunks(24)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                // No margins: the plain Hamming search that faiss also does.
                .map(|(i, hash)| Query {
                    hash: *hash,
                    region: Region::Whole,
                    transform: Transform::ALL[i % 8],
                    margin: 0,
                })
                .collect()
        })
        .collect();
    let mut matches = 0usize;
    for photo in &photos {
        let fast = index.search(photo, threshold);
        ensure!(
            fast == index.search_linear(photo, threshold),
            "tables and scan disagree"
        );
        matches += fast.len();
    }
    let time = |linear: bool| -> f64 {
        let mut per_photo = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            for photo in &photos {
                let found = if linear {
                    index.search_linear(photo, threshold)
                } else {
                    index.search(photo, threshold)
                };
                std::hint::black_box(found);
            }
            per_photo.push(started.elapsed().as_secs_f64() * 1000.0 / photos.len() as f64);
        }
        per_photo.sort_by(f64::total_cmp);
        per_photo[per_photo.len() / 2]
    };
    let mih = time(false);
    let linear = time(true);
    println!(
        "{{\"hashes\":{},\"photos\":{},\"queries_per_photo\":24,\"threshold\":{threshold},\"matches\":{matches},\"build_seconds\":{open_seconds:.2},\"mih_ms_per_photo\":{mih:.3},\"linear_ms_per_photo\":{linear:.2}}}",
        stored.len(),
        photos.len()
    );
    Ok(())
}
