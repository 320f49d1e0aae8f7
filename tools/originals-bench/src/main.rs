//! `stockroom-originals-bench [--rounds N] PATH...`
//!
//! Stores every image under the paths (plus two 48 MiB files, which go up in parts) as
//! originals in a fresh local blob store and in a Garage node started on loopback, through
//! the same `Originals` port the platform uses, and reads them back as a download does
//! (`open`, then 1 MiB ranges). Prints per backend the upload latency p50/p99 and the
//! download throughput (median of the rounds), and the ratios. `tools/originals-bench.sh`
//! runs it (installing Garage if missing).

#[path = "../../../tests/common/garage.rs"]
#[allow(dead_code)] // the tests use more of it
mod garage;
#[path = "../../common/images.rs"]
mod images;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use stockroom_platform::{Originals, Sendable, StoreOriginals};
use stockroom_s3::{Location, S3Originals};
use stockroom_store::{Store, StoreOptions};
use stockroom_vocab::AssetId;

const PIECE: u64 = 1 << 20;

struct Measured {
    uploads: Vec<Duration>,
    download_secs: Vec<f64>,
}

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * share).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Uploads every file under a fresh id (round `round`), then downloads them all.
fn round(
    originals: &dyn Originals,
    files: &[Vec<u8>],
    round: u64,
    measured: &mut Measured,
) -> Result<()> {
    let ids: Vec<AssetId> = (0..files.len() as u64)
        .map(|n| AssetId::from_u64(round * 1_000_000 + n + 1))
        .collect();
    for (id, bytes) in ids.iter().zip(files) {
        let started = Instant::now();
        originals.put(*id, bytes)?;
        measured.uploads.push(started.elapsed());
    }
    // Every byte is copied once out of what the store gives, as the kernel copies a body
    // into the socket: a mapped view is otherwise never touched.
    let mut socket = vec![0u8; PIECE as usize];
    let started = Instant::now();
    for (id, bytes) in ids.iter().zip(files) {
        let mut read = 0u64;
        match originals.open(*id)?.context("stored")? {
            Sendable::Whole(original) => {
                for piece in original.bytes.chunks(PIECE as usize) {
                    socket[..piece.len()].copy_from_slice(piece);
                    read += piece.len() as u64;
                }
            }
            Sendable::Ranged { len, reader, .. } => {
                let mut at = 0;
                while at < len {
                    let end = (at + PIECE).min(len);
                    let piece = reader.read(at..end)?;
                    socket[..piece.len()].copy_from_slice(&piece);
                    read += piece.len() as u64;
                    at = end;
                }
            }
        }
        if read != bytes.len() as u64 {
            bail!("{id}: read {read} of {} bytes", bytes.len());
        }
    }
    std::hint::black_box(&socket);
    measured.download_secs.push(started.elapsed().as_secs_f64());
    for id in ids {
        originals.delete(id)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut rounds = 3u64;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let mut files: Vec<Vec<u8>> = images::collect_images(&paths)?
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<_>>()?;
    if files.is_empty() {
        bail!("no images under {paths:?}");
    }
    for seed in 0..2u32 {
        files.push(
            (0..48u32 << 20)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
                .collect(),
        );
    }
    let total: u64 = files.iter().map(|file| file.len() as u64).sum();

    let local_dir = tempfile::tempdir()?;
    let store = Store::open(local_dir.path().join("blobs"), StoreOptions::default())?;
    let local = StoreOriginals(std::sync::Arc::new(store));
    let node = garage::Garage::start("bench");
    let remote = S3Originals::open_with(
        Location::parse("s3://bench/originals").map_err(anyhow::Error::msg)?,
        node.s3(),
    )?;

    let mut measured = [
        Measured {
            uploads: Vec::new(),
            download_secs: Vec::new(),
        },
        Measured {
            uploads: Vec::new(),
            download_secs: Vec::new(),
        },
    ];
    for n in 0..rounds {
        // Alternating, so that neither always runs on a warmer page cache.
        round(&local, &files, n * 2, &mut measured[0])?;
        round(&remote, &files, n * 2 + 1, &mut measured[1])?;
    }
    let mut summary = Vec::new();
    for (name, measured) in ["blob store", "garage"].iter().zip(measured.iter_mut()) {
        measured.uploads.sort();
        let mb_s = total as f64 / 1e6 / median(&mut measured.download_secs);
        summary.push((
            *name,
            percentile(&measured.uploads, 0.5),
            percentile(&measured.uploads, 0.99),
            mb_s,
        ));
    }
    println!(
        "{} files, {:.0} MB, {rounds} rounds (uploads each timed; downloads: median of rounds, 1 MiB ranges as the server reads them)",
        files.len(),
        total as f64 / 1e6
    );
    for (name, p50, p99, mb_s) in &summary {
        println!(
            "{name:>10}: upload p50 {:>8.2} ms  p99 {:>8.2} ms | download {:>7.1} MB/s",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            mb_s
        );
    }
    let (local, remote) = (&summary[0], &summary[1]);
    println!(
        "garage / blob store: upload p50 {:.1}x, p99 {:.1}x the time; download {:.3}x the throughput (garage does not fsync its data by default; the blob store does, per upload)",
        remote.1.as_secs_f64() / local.1.as_secs_f64(),
        remote.2.as_secs_f64() / local.2.as_secs_f64(),
        remote.3 / local.3
    );
    Ok(())
}
