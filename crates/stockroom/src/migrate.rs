//! `stockroom migrate --from A.toml --to B.toml [--delete-source]`: moves originals between
//! the two places a configuration can keep them (the data directory's blob store, or
//! `originals.url` in object storage), for a platform going to the cluster shape and back.
//!
//! Resumable: an original the destination already holds with the same blake3 is skipped,
//! so a run cut off (or run twice) goes on where it stopped. Each original is checked
//! against its blake3 before it is written, and the destination's listing is checked
//! against the source's at the end. The source is left as it was unless
//! `--delete-source`, which deletes each original only once the destination holds it.
//!
//! Both configurations must name the same data directory: the catalogue, the indexes and
//! the previews stay where they are (the catalogue on PostgreSQL is the part of issue 21
//! still to come; moving it will be this command's job too).

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::config::Config;

/// Copies every original of `from`'s storage to `to`'s.
pub fn originals(
    from: &Config,
    to: &Config,
    delete_source: bool,
    interactive: bool,
) -> Result<ExitCode> {
    if from.data_dir != to.data_dir {
        bail!(
            "the two configurations name different data directories ({} and {}): migrate moves originals within one; the catalogue stays where it is",
            from.data_dir.display(),
            to.data_dir.display()
        );
    }
    if from.originals == to.originals {
        bail!("both configurations keep originals in the same place: nothing to move");
    }
    // The blob store's lock keeps a server or an ingest from writing meanwhile.
    let blobs = Arc::new(from.open_blobs()?);
    let source = crate::open::originals(from, &blobs).context("the source (--from)")?;
    let destination = crate::open::originals(to, &blobs).context("the destination (--to)")?;

    let listed = source.list().context("listing the source")?;
    let present: HashMap<_, _> = destination
        .list()
        .context("listing the destination")?
        .into_iter()
        .collect();
    let bar = crate::progress::bar("migrate", listed.len() as u64, interactive);
    let (mut copied, mut skipped, mut deleted, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for (asset, hash) in &listed {
        if present.get(asset) != Some(hash) {
            let original = source
                .get(*asset)?
                .with_context(|| format!("{asset}: listed by the source, then not found"))?;
            if blake3::hash(&original.bytes).as_bytes() != hash {
                bail!(
                    "{asset}: the source's bytes do not match their blake3; run stockroom verify on the source before moving it"
                );
            }
            destination
                .put(*asset, &original.bytes)
                .with_context(|| format!("{asset}: writing to the destination"))?;
            copied += 1;
            bytes += original.bytes.len() as u64;
        } else {
            skipped += 1;
        }
        if delete_source {
            source
                .delete(*asset)
                .with_context(|| format!("{asset}: deleting from the source"))?;
            deleted += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Every original the source held is in the destination, with the same bytes.
    let now: HashMap<_, _> = destination.list()?.into_iter().collect();
    let lost: Vec<_> = listed
        .iter()
        .filter(|(asset, hash)| now.get(asset) != Some(hash))
        .map(|(asset, _)| asset.to_string())
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        json!({
            "originals": listed.len(),
            "copied": copied,
            "skipped": skipped,
            "bytes": bytes,
            "deleted_from_source": deleted,
            "not_in_destination": lost,
        })
    )?;
    if !lost.is_empty() {
        bail!(
            "{} original(s) are not in the destination after the copy",
            lost.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
