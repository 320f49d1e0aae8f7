//! `stockroom search`, `stockroom similar` and `stockroom reindex`: the platform's search,
//! printed as JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use stockroom_index::SearchRequest;
use stockroom_platform::Platform;
use stockroom_platform::search::Reindexed;
use stockroom_vocab::AssetId;

use crate::progress;

/// `stockroom search`: one JSON object, the shape of `GET /v1/search`.
pub fn search(platform: &Platform, request: &SearchRequest) -> Result<ExitCode> {
    let results = platform.search(request, None)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &results)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// `stockroom similar`: one JSON line per asset found.
pub fn similar(platform: &Platform, id: AssetId, limit: usize) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for found in platform.similar_to(id, limit)? {
        serde_json::to_writer(&mut out, &found)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `stockroom reindex`, with a progress bar on a terminal; unreadable records are named on
/// stderr.
pub fn reindex(platform: &Platform, interactive: bool) -> Result<Reindexed> {
    let assets = platform.blobs().stats()?.assets;
    let bar = progress::bar("reindex", assets as u64, interactive);
    let report = platform.reindex(
        || bar.inc(1),
        |asset, error| bar.suspend(|| eprintln!("asset {asset}: {error}")),
    )?;
    bar.finish_and_clear();
    Ok(report)
}
