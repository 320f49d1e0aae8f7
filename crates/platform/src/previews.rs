//! Watermarked previews: rendered on first request (all three sizes from one decode, on
//! the render pool) and persisted in the blob store, so an asset is rendered once in the
//! store's life; concurrent requests for an asset being rendered wait for that render
//! instead of starting their own. A held upload's previews are for moderators only.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use stockroom_catalog::AssetRecord;
use stockroom_render::{Credit, RenderOptions};
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
    /// Where originals are kept cannot be reached now (a 503, not a failure of ours).
    Unavailable(String),
}

/// Beside the blob store's segments: the fingerprint of the render options its previews
/// were drawn with.
const DRAWN_WITH: &str = "previews.drawn-with";

/// A fingerprint of everything that decides a preview's pixels: the watermark (text, font,
/// logo, opacity, layout), quality, encoding and resampling.
pub fn render_fingerprint(options: &RenderOptions) -> String {
    let mut hasher = blake3::Hasher::new();
    options.watermark.fingerprint(&mut |bytes| {
        hasher.update(bytes);
    });
    hasher.update(&[
        options.quality,
        u8::from(options.progressive),
        options.linear_light as u8,
    ]);
    hasher.finalize().to_hex().to_string()
}

/// What [`Platform::drop_stale_previews`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restyled {
    /// Assets whose stored previews were deleted (they render again on first request).
    pub assets: usize,
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
            RenderFailure::Unavailable(why) => PlatformError::Unavailable {
                what: "object storage",
                why,
            },
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
            .map_err(|error| match error {
                PlatformError::Unavailable { why, .. } => RenderFailure::Unavailable(why),
                error => RenderFailure::Failed(format!("asset {asset}: {error}")),
            })?
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

    /// Deletes the stored previews if they were drawn with other render options than
    /// today's (another site name, logo, font, opacity, quality; or a store from before the
    /// options were recorded), records a `restyled` purge event for each public asset
    /// among them (a CDN keeps previews as immutable), and records today's options. Every
    /// preview renders again on its first request.
    pub fn drop_stale_previews(&self) -> Result<Restyled> {
        let marker = self.blobs.dir().join(DRAWN_WITH);
        let current = render_fingerprint(&self.options.render);
        match std::fs::read_to_string(&marker) {
            Ok(recorded) if recorded.trim() == current => return Ok(Restyled::default()),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(PlatformError::Aborted(format!(
                    "reading {}: {error}",
                    marker.display()
                )));
            }
        }
        let mut assets: Vec<AssetId> = self
            .blobs
            .entries()
            .into_iter()
            .filter(|entry| matches!(entry.kind, Kind::Thumb | Kind::Small | Kind::Large))
            .map(|entry| entry.asset)
            .collect();
        assets.sort_unstable();
        assets.dedup();
        let keys: Vec<_> = assets
            .iter()
            .flat_map(|&asset| {
                PreviewSize::ALL
                    .iter()
                    .map(move |&size| (asset, kind(size)))
            })
            .collect();
        self.blobs.delete_all(&keys)?;
        let public: Vec<AssetId> = assets
            .iter()
            .copied()
            .filter(|&asset| {
                self.catalog
                    .asset(asset)
                    .is_ok_and(|record| record.status == AssetStatus::Active)
            })
            .collect();
        for chunk in public.chunks(10_000) {
            self.catalog.mark_restyled(chunk)?;
        }
        // Written only once every stale preview is gone: a crash before re-runs all of it.
        let staged = marker.with_extension("tmp");
        std::fs::write(&staged, format!("{current}\n"))
            .and_then(|()| std::fs::rename(&staged, &marker))
            .map_err(|error| {
                PlatformError::Aborted(format!("writing {}: {error}", marker.display()))
            })?;
        Ok(Restyled {
            assets: assets.len(),
        })
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
