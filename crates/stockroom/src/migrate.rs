//! `stockroom migrate --from A.toml --to B.toml [--delete-source]`: moves a platform between
//! the embedded shape and the cluster shape, either way: the catalogue between the data
//! directory's SQLite and `catalog.url` in PostgreSQL, the originals between the data
//! directory's blob store and `originals.url` in object storage (whichever of the two the
//! configurations keep in different places).
//!
//! The catalogue is copied table by table as upserts ([`SqlCatalog::copy_to`]), with its
//! key-hashing secret (API keys keep working), and each table is compared, row count and
//! content hash, at the end. Originals: one the destination already holds with the same
//! blake3 is skipped, each is checked against its blake3 before it is written, and the
//! destination's listing is checked against the source's at the end. Both are resumable: a
//! run cut off (or run twice) goes on where it stopped. The source is left as it was unless
//! `--delete-source`, which deletes each original only once the destination holds it (the
//! source catalogue is never deleted).
//!
//! Both configurations must name the same data directory: the indexes and the previews
//! are the node's own and stay where they are.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::config::Config;

/// Moves what `from` and `to` keep in different places: the catalogue, then the originals.
pub fn run(from: &Config, to: &Config, delete_source: bool, interactive: bool) -> Result<ExitCode> {
    if from.data_dir != to.data_dir {
        bail!(
            "the two configurations name different data directories ({} and {}): migrate moves the catalogue and originals for one; the indexes and previews stay in it",
            from.data_dir.display(),
            to.data_dir.display()
        );
    }
    let (catalogue, originals) = (
        from.catalog_url != to.catalog_url,
        from.originals != to.originals,
    );
    if !catalogue && !originals {
        bail!(
            "both configurations keep the catalogue and the originals in the same places: nothing to move"
        );
    }
    if catalogue {
        self::catalogue(from, to, interactive)?;
    }
    if originals {
        self::originals(from, to, delete_source, interactive)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies `from`'s catalogue into `to`'s; prints each table's rows and whether they are
/// equal on both sides.
fn catalogue(from: &Config, to: &Config, interactive: bool) -> Result<()> {
    // The platform holds the blob store's lock, which keeps a server or an ingest of this
    // data directory from writing meanwhile. First, the assets admitted before the
    // catalogue kept documents and hashes get them, from this data directory's records
    // and the originals: in the cluster shape every node indexes from those.
    let platform =
        crate::open::platform(from, crate::open::Purpose::Read).context("the source (--from)")?;
    let bar = crate::progress::bar("documents", 0, interactive);
    let backfilled = platform
        .backfill_documents(|total| {
            bar.set_length(total);
            bar.inc(1);
        })
        .context("writing the documents of assets admitted before the catalogue kept them")?;
    bar.finish_and_clear();
    if let Some((first, why)) = backfilled.left_out.first() {
        tracing::warn!(
            count = backfilled.left_out.len(),
            %first,
            why,
            "assets left without a document (no metadata record or original here): other nodes will not index them"
        );
    }
    let source = from.open_catalog().context("the source (--from)")?;
    let destination = to.open_catalog().context("the destination (--to)")?;
    let bar = crate::progress::bar("catalogue", source.rows_to_copy()?, interactive);
    let tables = source
        .copy_to(&destination, &mut |rows| bar.inc(rows))
        .context("copying the catalogue")?;
    bar.finish_and_clear();
    let unequal: Vec<&str> = tables
        .iter()
        .filter(|table| !table.equal)
        .map(|table| table.table)
        .collect();
    writeln!(
        std::io::stdout().lock(),
        "{}",
        json!({
            "catalogue": {
                "tables": tables,
                "rows": tables.iter().map(|table| table.rows).sum::<u64>(),
                "unequal": unequal,
                "documents_written": backfilled.documents,
                "documents_left_out": backfilled.left_out.len(),
            }
        })
    )?;
    if !unequal.is_empty() {
        bail!(
            "the destination's {} differ from the source's after the copy",
            unequal.join(", ")
        );
    }
    Ok(())
}

/// Copies every original of `from`'s storage to `to`'s.
fn originals(from: &Config, to: &Config, delete_source: bool, interactive: bool) -> Result<()> {
    // The blob store's lock keeps a server or an ingest from writing meanwhile.
    let blobs = Arc::new(from.open_blobs()?);
    // Listed, both: what is in each place is what is copied and checked.
    let source = crate::open::originals(from, &blobs, None).context("the source (--from)")?;
    let destination = crate::open::originals(to, &blobs, None).context("the destination (--to)")?;

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
    Ok(())
}
