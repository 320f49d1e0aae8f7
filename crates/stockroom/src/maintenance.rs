//! `verify`, `compact` and `stats` over a data directory's stores.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use stockroom_platform::Platform;
use stockroom_store::{Stats, Store};

use crate::config::Config;

/// The data directory's stores, by name.
fn store_dirs(config: &Config) -> [(&'static str, PathBuf); 2] {
    [
        ("blobs", config.blobs_dir()),
        ("archive", config.archive_dir()),
    ]
}

/// Re-hashes every record of every store, and names orphaned originals; exit 1 if anything
/// is damaged. While a server runs, asks it (`control.rs`).
pub fn verify(config: &Config, interactive: bool) -> Result<ExitCode> {
    let platform = match crate::open::platform(config, crate::open::Purpose::Read) {
        Ok(platform) => platform,
        Err(error) => {
            return crate::control::or_ask(config, error, crate::control::Request::Verify);
        }
    };
    verify_of(
        &platform,
        interactive,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// [`verify`] over an open platform's stores (the CLI's, or a running server's).
pub fn verify_of(
    platform: &Platform,
    interactive: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode> {
    let mut damaged = 0;
    for (name, store) in stores(platform) {
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
            writeln!(err, "damaged: {problem}")?;
        }
        damaged += report.problems.len();
        writeln!(
            out,
            "{}",
            json!({
                "store": name,
                "segments": report.segments,
                "records": report.records,
                "bytes": report.bytes,
                "problems": report.problems.len(),
            })
        )?;
    }
    // Originals kept outside the data directory (object storage): every object re-read.
    if let Some(check) = platform.originals().verify(&mut |_| {})? {
        for asset in &check.damaged {
            writeln!(
                err,
                "damaged: the original of {asset} in object storage: bytes do not match their blake3"
            )?;
        }
        damaged += check.damaged.len();
        writeln!(
            out,
            "{}",
            json!({
                "store": "originals",
                "objects": check.objects,
                "bytes": check.bytes,
                "problems": check.damaged.len(),
            })
        )?;
    }
    // Assets the catalogue says have an original that is not there: lost bytes.
    let missing = platform.missing_originals()?;
    for asset in &missing {
        writeln!(
            err,
            "missing: the original of {asset} (its catalogue row says it is kept)"
        )?;
    }
    damaged += missing.len();
    writeln!(out, "{}", json!({ "missing": missing }))?;
    // Originals a crash left without a catalogue row: set aside at every start, never
    // served or searched; named here (not damage, so not a failure) for an operator to see.
    let orphans = platform.find_orphans()?;
    if !orphans.is_empty() {
        writeln!(
            err,
            "verify: {} original(s) without a catalogue row, set aside (a crash mid-upload)",
            orphans.len()
        )?;
    }
    writeln!(out, "{}", json!({ "orphans": orphans }))?;
    Ok(if damaged == 0 {
        ExitCode::SUCCESS
    } else {
        writeln!(err, "verify: {damaged} problem(s) found")?;
        ExitCode::FAILURE
    })
}

/// A platform's stores, by the names the data directory gives them.
fn stores(platform: &Platform) -> [(&'static str, &Store); 2] {
    [("blobs", platform.blobs()), ("archive", platform.archive())]
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

/// Prints each store's counts and sizes as one JSON object. While a server runs, asks it.
pub fn stats(config: &Config) -> Result<ExitCode> {
    let platform = match crate::open::platform(config, crate::open::Purpose::Read) {
        Ok(platform) => platform,
        Err(error) => return crate::control::or_ask(config, error, crate::control::Request::Stats),
    };
    stats_of(&platform, config, &mut std::io::stdout().lock())
}

/// [`stats`] over an open platform (the CLI's, or a running server's).
pub fn stats_of(platform: &Platform, config: &Config, out: &mut dyn Write) -> Result<ExitCode> {
    let mut by_name = serde_json::Map::new();
    for (name, store) in stores(platform) {
        by_name.insert(name.to_string(), stats_json(&store.stats()?));
    }
    let mut stats =
        json!({ "data": config.data_dir, "stores": by_name, "orphans": platform.find_orphans()? });
    // Originals in object storage, counted there.
    if let Some(usage) = platform.originals().usage()? {
        stats["originals"] = json!(usage);
    }
    serde_json::to_writer_pretty(&mut *out, &stats)?;
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
