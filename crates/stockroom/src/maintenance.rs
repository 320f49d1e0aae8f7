//! `verify`, `compact` and `stats` over a data directory's stores.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use stockroom_store::Stats;

use crate::config::Config;

/// The data directory's stores, by name.
fn store_dirs(config: &Config) -> [(&'static str, PathBuf); 2] {
    [
        ("blobs", config.blobs_dir()),
        ("archive", config.archive_dir()),
    ]
}

/// Re-hashes every record of every store, and names orphaned originals; exit 1 if anything
/// is damaged.
pub fn verify(config: &Config, interactive: bool) -> Result<ExitCode> {
    let mut damaged = 0;
    for (name, dir) in store_dirs(config) {
        let store = config.open_store(&dir)?;
        let total = store.stats()?.disk_bytes;
        let bar = if interactive {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{spinner} verify {msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(name);
            bar
        } else {
            ProgressBar::hidden()
        };
        let report = store.verify(|bytes| bar.inc(bytes))?;
        bar.finish_and_clear();
        for problem in &report.problems {
            eprintln!("damaged: {problem}");
        }
        damaged += report.problems.len();
        println!(
            "{}",
            json!({
                "store": name,
                "segments": report.segments,
                "records": report.records,
                "bytes": report.bytes,
                "problems": report.problems.len(),
            })
        );
    }
    // Originals a crash left without a catalogue row: set aside at every start, never
    // served or searched; named here (not damage, so not a failure) for an operator to see.
    let orphans = crate::open::platform(config, crate::open::Purpose::Read)?.orphans();
    if !orphans.is_empty() {
        eprintln!(
            "verify: {} original(s) without a catalogue row, set aside (a crash mid-upload)",
            orphans.len()
        );
    }
    println!("{}", json!({ "orphans": orphans }));
    Ok(if damaged == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("verify: {damaged} problem(s) found");
        ExitCode::FAILURE
    })
}

/// Compacts every store.
pub fn compact(config: &Config) -> Result<ExitCode> {
    for (name, dir) in store_dirs(config) {
        let store = config.open_store(&dir)?;
        let report = store.compact()?;
        println!(
            "{}",
            json!({
                "store": name,
                "segments_before": report.segments_before,
                "segments_after": report.segments_after,
                "bytes_before": report.bytes_before,
                "bytes_after": report.bytes_after,
                "records_kept": report.records_kept,
                "records_dropped": report.records_dropped,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints each store's counts and sizes as one JSON object.
pub fn stats(config: &Config) -> Result<ExitCode> {
    let mut stores = serde_json::Map::new();
    for (name, dir) in store_dirs(config) {
        let store = config.open_store(&dir)?;
        stores.insert(name.to_string(), stats_json(&store.stats()?));
    }
    // Opened after the stores above are closed (each holds its directory's lock).
    let orphans = crate::open::platform(config, crate::open::Purpose::Read)?.orphans();
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(
        &mut out,
        &json!({ "data": config.data_dir, "stores": stores, "orphans": orphans }),
    )?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn stats_json(stats: &Stats) -> serde_json::Value {
    let kinds: serde_json::Map<String, serde_json::Value> = stats
        .kinds
        .iter()
        .filter(|(_, counts)| counts.records > 0)
        .map(|(kind, counts)| {
            (
                kind.name().to_string(),
                json!({ "records": counts.records, "bytes": counts.bytes }),
            )
        })
        .collect();
    json!({
        "segments": stats.segments,
        "disk_bytes": stats.disk_bytes,
        "assets": stats.assets,
        "reclaimable_bytes": stats.reclaimable_bytes,
        "kinds": kinds,
    })
}
