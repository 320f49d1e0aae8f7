//! `GET /v1/previews/{id}/{size}.jpg`: watermarked previews, the CDN's origin.
//!
//! The platform renders a preview on its first request and persists it (see
//! `Platform::preview`); concurrent misses for one asset wait for the first, without
//! holding a thread, and then read what it stored. What a response needs (the bytes as a view into the store's
//! mapping, the ETag, the surrogate keys) is kept here in an LRU cache, so a cached
//! preview is answered without touching the catalogue or hashing anything. The cache
//! hears the platform's change feed: withdrawal and takedown evict an asset's entries
//! before they return. A held upload's previews are shown to moderators only, marked
//! private and never cached.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use lru::LruCache;
use stockroom_catalog::AssetRecord;
use stockroom_vocab::AssetId;
use stockroom_vocab::PreviewSize;
use tokio::sync::OnceCell;

use crate::auth;
use crate::body::Body;
use crate::call::Call;
use crate::problem::ApiError;
use crate::served::{self, LastModified, Representation, header_value};

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
    /// The asset's upload: previews of it change only with the renderer.
    last_modified: LastModified,
}

/// The cache of ready preview responses, and the misses in flight.
#[derive(Debug)]
pub struct Previews {
    ready: Mutex<Cache>,
    /// One miss per asset asks the platform (which may render); the others wait here, on
    /// no thread, and then read what it stored. (A herd of requests for a new asset would
    /// otherwise hold a blocking thread each while the render runs.)
    loading: Mutex<HashMap<AssetId, Arc<OnceCell<()>>>>,
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
            loading: Mutex::new(HashMap::new()),
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
        for &size in PreviewSize::ALL {
            ready.entries.pop(&(asset, size));
        }
        ready.generation += 1;
    }
}

/// `thumb.jpg`, `small.jpg`, `large.jpg`.
fn size_of(file: &str) -> Option<PreviewSize> {
    file.strip_suffix(".jpg")?.parse().ok()
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
            content: ready.bytes.into(),
            etag: ready.etag,
            headers,
            pacer: None,
            last_modified: Some(ready.last_modified),
        },
    ))
}

/// A preview that is not cached: the platform checks the asset is public (or held for
/// review and asked for by a moderator) and renders it if the store does not have it yet.
async fn load(call: &Call, asset: AssetId, size: PreviewSize) -> Result<Ready, ApiError> {
    // A moderator by key, or by the console's session (a browser loads images with its
    // cookie alone).
    let moderator = if call.header(header::AUTHORIZATION).is_some() {
        auth::moderator(call).await.is_ok()
    } else {
        crate::console::session_moderator(call).await.is_some()
    };
    let ask = || call.blocking(move |app| Ok(app.platform.preview(asset, size, moderator)?));
    let previews = &call.app.previews;
    let cell = previews
        .loading
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .entry(asset)
        .or_default()
        .clone();
    let mut first = None;
    cell.get_or_init(|| async { first = Some(ask().await) })
        .await;
    {
        let mut loading = previews
            .loading
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if loading
            .get(&asset)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            loading.remove(&asset);
        }
    }
    let preview = match first {
        Some(answer) => answer?,
        None => ask().await?,
    };
    Ok(Ready {
        etag: served::etag(&preview.blob.blake3()),
        surrogate_key: surrogate_key(&preview.record),
        private: preview.private,
        last_modified: LastModified::at(preview.record.created_at),
        bytes: Bytes::from_owner(preview.blob),
    })
}

/// `asset-<id> author-<id>`: what a CDN purges by on takedown or an author's erasure.
fn surrogate_key(record: &AssetRecord) -> HeaderValue {
    HeaderValue::from_str(&format!("asset-{} author-{}", record.id, record.author_id))
        .unwrap_or_else(|_| header_value(&format!("asset-{}", record.id)))
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
