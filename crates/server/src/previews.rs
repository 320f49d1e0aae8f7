//! `GET /v1/previews/{id}/{size}.jpg`: watermarked previews, the CDN's origin.
//!
//! A preview is rendered on its first request — all three sizes from one decode, on the
//! render pool — and persisted in the store, so it is rendered once per asset in the
//! store's life. Concurrent requests for a preview that is being rendered wait for that
//! render instead of starting their own. What a response needs (the bytes as a view into
//! the store's mapping, the ETag, the surrogate keys) is kept in an LRU cache, so a cached
//! preview is answered without touching the catalogue or hashing anything. Withdrawal and
//! takedown evict an asset's entries before they return. A held upload's previews are
//! shown to moderators only, marked private and never cached.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use lru::LruCache;
use stockroom_catalog::{AssetRecord, AssetStatus};
use stockroom_render::{Credit, PreviewSize};
use stockroom_store::{AssetId, Kind};
use tokio::sync::OnceCell;

use crate::body::Body;
use crate::problem::ApiError;
use crate::router::Call;
use crate::served::{self, Representation, header_value};
use crate::{App, auth};

/// Previews are immutable per URL: a new render of the same asset is the same bytes.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// What answering one cached preview needs.
#[derive(Clone, Debug)]
struct Ready {
    bytes: Bytes,
    etag: HeaderValue,
    surrogate_key: HeaderValue,
    /// A held upload's preview, shown to a moderator: never cached, here or on the way.
    private: bool,
}

type RenderOutcome = Result<(), ApiError>;

/// The preview cache and the renders in flight.
#[derive(Debug)]
pub struct Previews {
    ready: Mutex<Cache>,
    rendering: Mutex<HashMap<AssetId, Arc<OnceCell<RenderOutcome>>>>,
}

#[derive(Debug)]
struct Cache {
    entries: LruCache<(AssetId, PreviewSize), Ready>,
    /// Moves at every eviction. A miss notes it before asking the catalogue and inserts
    /// only if it has not moved, so a preview loaded while its asset was being withdrawn
    /// cannot be cached after the withdrawal evicted it.
    generation: u64,
}

impl Previews {
    pub fn new(entries: usize) -> Previews {
        Previews {
            ready: Mutex::new(Cache {
                entries: LruCache::new(NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN)),
                generation: 0,
            }),
            rendering: Mutex::new(HashMap::new()),
        }
    }

    fn ready(&self) -> MutexGuard<'_, Cache> {
        self.ready
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Forgets an asset's previews (it left the public).
    pub fn evict(&self, asset: AssetId) {
        let mut ready = self.ready();
        for size in PreviewSize::ALL {
            ready.entries.pop(&(asset, size));
        }
        ready.generation += 1;
    }
}

/// The store kind a preview size is kept as.
pub fn kind(size: PreviewSize) -> Kind {
    match size {
        PreviewSize::Thumb => Kind::Thumb,
        PreviewSize::Small => Kind::Small,
        PreviewSize::Large => Kind::Large,
    }
}

/// `thumb.jpg`, `small.jpg`, `large.jpg`.
fn size_of(file: &str) -> Option<PreviewSize> {
    let name = file.strip_suffix(".jpg")?;
    PreviewSize::ALL
        .into_iter()
        .find(|size| size.name() == name)
}

pub async fn serve(call: Call) -> Result<Response<Body>, ApiError> {
    let (Ok(asset), Some(size)) = (call.segment(2).parse::<AssetId>(), size_of(call.segment(3)))
    else {
        return Err(ApiError::not_found("no such preview"));
    };
    let (cached, generation) = {
        let mut cache = call.app.previews.ready();
        (cache.entries.get(&(asset, size)).cloned(), cache.generation)
    };
    let ready = match cached {
        Some(ready) => {
            call.app
                .metrics
                .preview_hits
                .fetch_add(1, Ordering::Relaxed);
            ready
        }
        None => {
            call.app
                .metrics
                .preview_misses
                .fetch_add(1, Ordering::Relaxed);
            let ready = load(&call, asset, size).await?;
            let mut cache = call.app.previews.ready();
            if cache.generation == generation && !ready.private {
                cache.entries.put((asset, size), ready.clone());
            }
            ready
        }
    };
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    if ready.private {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    } else {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        headers.insert("surrogate-key", ready.surrogate_key);
    }
    Ok(served::answer(
        &call.head,
        Representation {
            bytes: ready.bytes,
            etag: ready.etag,
            headers,
            pacer: None,
        },
    ))
}

/// A preview that is not cached: checks the asset is public (or held for review and asked
/// for by a moderator), renders it if the store does not have it yet, and maps it.
async fn load(call: &Call, asset: AssetId, size: PreviewSize) -> Result<Ready, ApiError> {
    let id = asset.to_string();
    let record = call
        .blocking(move |app| Ok(app.catalog.asset(&id)?))
        .await?;
    let private = record.status == AssetStatus::Pending
        && call.header(header::AUTHORIZATION).is_some()
        && auth::moderator(call).await.is_ok();
    if !private {
        public(&record)?;
    }
    let stored = call
        .blocking(move |app| Ok(app.blobs.get(asset, kind(size))))
        .await?;
    let blob = match stored {
        Some(blob) => blob,
        None => {
            ensure_rendered(&call.app, asset, &record.author_name).await?;
            call.blocking(move |app| {
                app.blobs.get(asset, kind(size)).ok_or_else(|| {
                    ApiError::internal(&format!("asset {asset}: preview missing after its render"))
                })
            })
            .await?
        }
    };
    Ok(Ready {
        etag: served::etag(&blob.blake3()),
        bytes: Bytes::from_owner(blob),
        surrogate_key: surrogate_key(&record),
        private,
    })
}

/// Only active assets have public previews.
pub fn public(record: &AssetRecord) -> Result<(), ApiError> {
    match record.status {
        AssetStatus::Active => Ok(()),
        AssetStatus::Pending => Err(ApiError::not_found(format!("no asset {}", record.id))),
        _ => Err(ApiError::new(
            http::StatusCode::GONE,
            format!("asset {} is no longer available", record.id),
        )),
    }
}

/// `asset-<id> author-<id>`: what a CDN purges by on takedown or an author's erasure.
fn surrogate_key(record: &AssetRecord) -> HeaderValue {
    HeaderValue::from_str(&format!("asset-{} author-{}", record.id, record.author_id))
        .unwrap_or_else(|_| header_value(&format!("asset-{}", record.id)))
}

/// Renders and stores an asset's three previews unless the store has them, once however
/// many requests ask at the same time.
pub async fn ensure_rendered(app: &Arc<App>, asset: AssetId, author: &str) -> RenderOutcome {
    let cell = app
        .previews
        .rendering
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .entry(asset)
        .or_default()
        .clone();
    let outcome = cell
        .get_or_init(|| render_and_store(app.clone(), asset, author.to_string()))
        .await
        .clone();
    let mut rendering = app
        .previews
        .rendering
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if rendering
        .get(&asset)
        .is_some_and(|current| Arc::ptr_eq(current, &cell))
    {
        rendering.remove(&asset);
    }
    outcome
}

async fn render_and_store(app: Arc<App>, asset: AssetId, author: String) -> RenderOutcome {
    let work = app.clone();
    tokio::task::spawn_blocking(move || {
        let app = work;
        if PreviewSize::ALL
            .iter()
            .all(|size| app.blobs.contains(asset, kind(*size)))
        {
            return Ok(());
        }
        let original = app.blobs.get(asset, Kind::Original).ok_or_else(|| {
            ApiError::new(
                http::StatusCode::GONE,
                format!("asset {asset}: its original is no longer kept"),
            )
        })?;
        app.metrics.renders.fetch_add(1, Ordering::Relaxed);
        let copyright = format!("© {author}");
        let credit = Credit {
            author: Some(&author),
            copyright: Some(&copyright),
        };
        let rendered = app
            .render
            .render(&original, &PreviewSize::ALL, &app.options.render, credit)
            .inspect_err(|_| {
                app.metrics.render_failures.fetch_add(1, Ordering::Relaxed);
            })?;
        for preview in rendered.previews {
            app.blobs.put(asset, kind(preview.size), &preview.jpeg)?;
        }
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_file_names_are_the_three_sizes_only() {
        assert_eq!(size_of("thumb.jpg"), Some(PreviewSize::Thumb));
        assert_eq!(size_of("large.jpg"), Some(PreviewSize::Large));
        for bad in ["large", "large.png", "huge.jpg", "..", "large.jpg/..", ""] {
            assert_eq!(size_of(bad), None, "{bad}");
        }
    }
}
