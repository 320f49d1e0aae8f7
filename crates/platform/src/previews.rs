//! Watermarked previews: rendered on first request (all three sizes from one decode, on
//! the render pool) and persisted in the blob store, so an asset is rendered once in the
//! store's life; concurrent requests for an asset being rendered wait for that render
//! instead of starting their own. A held upload's previews are for moderators only.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use stockroom_catalog::AssetRecord;
use stockroom_render::Credit;
use stockroom_store::{Blob, Kind};
use stockroom_vocab::{AssetId, AssetStatus};

use crate::Platform;
use crate::error::{PlatformError, Result};
use stockroom_vocab::PreviewSize;

/// A render's outcome, shared by everyone who waited for it.
pub(crate) type RenderOutcome = std::result::Result<(), RenderFailure>;

/// Why a shared render failed, as each waiter reports it.
#[derive(Clone, Debug)]
pub(crate) enum RenderFailure {
    /// The original is no longer kept.
    Gone(AssetId),
    /// The render or the store failed (the text is for the log).
    Failed(String),
}

/// A preview ready to serve.
#[derive(Debug)]
pub struct Preview {
    /// The JPEG, a view into the store's mapping.
    pub blob: Blob,
    /// The asset's catalogue record (who to credit, what to purge by).
    pub record: AssetRecord,
    /// A held upload's preview, shown to a moderator: never cached, here or on the way.
    pub private: bool,
}

/// The store kind a preview size is kept as.
pub fn kind(size: PreviewSize) -> Kind {
    match size {
        PreviewSize::Thumb => Kind::Thumb,
        PreviewSize::Small => Kind::Small,
        PreviewSize::Large => Kind::Large,
    }
}

impl Platform {
    /// The preview of `asset` at `size`, rendering it first if the store does not have it:
    /// a public asset's, or a held one's when `moderator` asks.
    pub fn preview(&self, asset: AssetId, size: PreviewSize, moderator: bool) -> Result<Preview> {
        let record = self.catalog.asset(asset)?;
        let private = record.status == AssetStatus::Pending && moderator;
        if !private {
            crate::search::public(&record, asset)?;
        }
        let blob = match self.blobs.get(asset, kind(size)) {
            Some(blob) => blob,
            None => {
                self.render_previews(asset, &record.author_name)?;
                self.blobs.get(asset, kind(size)).ok_or_else(|| {
                    PlatformError::Aborted(format!(
                        "asset {asset}: preview missing after its render"
                    ))
                })?
            }
        };
        Ok(Preview {
            blob,
            record,
            private,
        })
    }

    /// Renders and stores an asset's three previews unless the store has them, once however
    /// many callers ask at the same time.
    pub fn render_previews(&self, asset: AssetId, credit: &str) -> Result<()> {
        let cell = self
            .rendering
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .entry(asset)
            .or_default()
            .clone();
        let outcome = cell
            .get_or_init(|| self.render_and_store(asset, credit))
            .clone();
        let mut rendering = self
            .rendering
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if rendering
            .get(&asset)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            rendering.remove(&asset);
        }
        drop(rendering);
        outcome.map_err(|failure| match failure {
            RenderFailure::Gone(asset) => PlatformError::Gone(asset),
            RenderFailure::Failed(why) => PlatformError::Aborted(why),
        })
    }

    fn render_and_store(&self, asset: AssetId, author: &str) -> RenderOutcome {
        if PreviewSize::ALL
            .iter()
            .all(|size| self.blobs.contains(asset, kind(*size)))
        {
            return Ok(());
        }
        let original = self
            .originals
            .get(asset)
            .map_err(|error| RenderFailure::Failed(format!("asset {asset}: {error}")))?
            .ok_or(RenderFailure::Gone(asset))?;
        self.counters.renders.fetch_add(1, Ordering::Relaxed);
        let copyright = format!("© {author}");
        let credit = Credit {
            author: Some(author),
            copyright: Some(&copyright),
        };
        let failed = |error: &dyn std::fmt::Display| {
            RenderFailure::Failed(format!("asset {asset}: {error}"))
        };
        let pool = self.render_pool().map_err(|error| failed(&error))?;
        let rendered = pool
            .render(
                &original.bytes,
                PreviewSize::ALL,
                &self.options.render,
                credit,
            )
            .map_err(|error| {
                self.counters
                    .render_failures
                    .fetch_add(1, Ordering::Relaxed);
                failed(&error)
            })?;
        for preview in rendered.previews {
            self.blobs
                .put(asset, kind(preview.size), &preview.jpeg)
                .map_err(|error| failed(&error))?;
        }
        Ok(())
    }

    /// Keeps the thumbnail of an asset that just left the public in the archive (rendering
    /// it first if it never was) and deletes its previews from the blob store.
    pub(crate) fn archive_thumbnail(&self, asset: AssetId, credit: &str) -> Result<()> {
        self.render_previews(asset, credit)?;
        self.delete_previews(asset)
    }

    /// Moves the thumbnail (if any) to the archive and deletes the previews.
    pub(crate) fn delete_previews(&self, asset: AssetId) -> Result<()> {
        self.blobs.archive_to(&self.archive, asset, Kind::Thumb)?;
        for &size in PreviewSize::ALL {
            self.blobs.delete(asset, kind(size))?;
        }
        Ok(())
    }
}
