//! Originals on S3-compatible object storage (the cluster shape, DESIGN §7), behind the
//! platform's [`Originals`] port: chosen by `[originals] url = "s3://bucket/prefix"`, with
//! the endpoint, region and credentials from the standard `AWS_*` variables.
//!
//! Built on `object_store` (Apache Arrow's): one small client for S3 and its look-alikes
//! (Garage, MinIO, R2), with multipart uploads, ranged reads and retries, where the AWS SDK
//! would bring a code generator's worth of crates for the five calls used here.
//!
//! **Keys.** An original is the object `<prefix>/<asset id>/<blake3 hex>`: the listing alone
//! tells which assets are stored and with what bytes (without a `HEAD` per object), and an
//! object left behind by a crash between the upload and the catalogue row names an asset id
//! no row has, so it never blocks the same bytes uploaded again (they get a new id).
//!
//! **What is stored** is known one of two ways. Opened with [`S3Originals::open`], the
//! bucket is listed at start (a request per thousand objects). Opened with
//! [`S3Originals::open_from_catalogue`], for a catalogue that keeps every original's hash,
//! nothing is read at start: the catalogue says what is stored, an asset's key is found by
//! a listing of its own prefix when first read and kept among the [`KNOWN_CAPACITY`] used
//! lately, and [`Originals::contains`] answers whether this process saw the original go.
//!
//! **Blocking.** The port is blocking (it is called from the platform's blocking work), so
//! this owns a small tokio runtime and blocks on it; that works from a server's
//! `spawn_blocking` threads and from the CLI alike.
//!
//! **Downloads** are opened with one ranged `GET` of the first 64 KiB (which also tells the
//! length) and then read a megabyte at a time as the body goes out ([`Originals::open`]),
//! never held whole; a resumed download reads only its range. Renders and hashing still
//! read the whole object ([`Originals::get`]): they decode all of it anyway.
//!
//! An unreachable store is [`PlatformError::Unavailable`] (a 503 with `Retry-After`).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use lru::LruCache;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig, WriteMultipart,
};
use stockroom_platform::{
    Original, Originals, OriginalsCheck, OriginalsUsage, PlatformError, RangeReader, Result,
    Sendable,
};
use stockroom_vocab::AssetId;

/// The client crate, for tools and tests that reach the bucket directly.
pub use object_store;
/// The client's builder, for callers that configure it themselves ([`S3Originals::open_with`]).
pub use object_store::aws::AmazonS3Builder;

/// Files above this go up in parts (S3's single `PUT` works to 5 GiB, but a part that fails
/// is retried alone, and parts go up concurrently).
pub const MULTIPART_ABOVE: usize = 16 << 20;

/// The size of each part (S3's minimum is 5 MiB, except for the last).
const PART_SIZE: usize = 8 << 20;

/// Where originals are kept, parsed from `s3://bucket[/prefix]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (no leading or trailing `/`; may be empty).
    pub prefix: String,
}

impl Location {
    /// `s3://bucket` or `s3://bucket/some/prefix`.
    pub fn parse(url: &str) -> std::result::Result<Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an s3://bucket/prefix URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!(
                "{bucket:?} is not a bucket name (3-63 lower-case letters, digits, '-' and '.')"
            ));
        }
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }
}

/// Originals in a bucket.
pub struct S3Originals {
    store: AmazonS3,
    location: Location,
    /// Shared with the readers of downloads in flight, which outlive a request.
    runtime: Arc<Runtime>,
    /// Asset → blake3 of what is stored. Listed whole at open, or, when the catalogue is
    /// what says what is stored ([`S3Originals::open_from_catalogue`]), the assets used
    /// lately (at most [`KNOWN_CAPACITY`]): one asset's is learnt from this process's
    /// writes, the change feed, or a listing of its prefix when first read.
    known: Mutex<LruCache<AssetId, [u8; 32]>>,
    /// Assets whose original this process saw go (deleted here, taken down or purged on
    /// the feed, or found missing), until one is stored again.
    gone: RwLock<HashSet<AssetId>>,
    /// The catalogue says what is stored: `known` is a cache, not the whole listing.
    from_catalogue: bool,
}

/// Most assets whose key [`S3Originals`] keeps in memory when the catalogue says what is
/// stored (about 64 MB): the hot part of any catalogue; a colder asset costs one listing
/// of its prefix when next read.
pub const KNOWN_CAPACITY: usize = 1 << 20;

impl std::fmt::Debug for S3Originals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Originals")
            .field("bucket", &self.location.bucket)
            .field("prefix", &self.location.prefix)
            .finish()
    }
}

/// Object storage as the platform's error: unreachable or refusing is `Unavailable` (a 503
/// that says when to retry); the caller's request changed nothing.
fn unavailable(error: object_store::Error) -> PlatformError {
    PlatformError::Unavailable {
        what: "object storage",
        why: error.to_string(),
    }
}

impl S3Originals {
    /// Connects to `location` with the endpoint, region and credentials of the `AWS_*`
    /// environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint), and lists
    /// what is stored.
    pub fn open(location: Location) -> Result<S3Originals> {
        Self::open_with(location, AmazonS3Builder::from_env())
    }

    /// [`open`](Self::open) with a builder configured by the caller (tests).
    pub fn open_with(location: Location, builder: AmazonS3Builder) -> Result<S3Originals> {
        Self::opened(location, builder, false)
    }

    /// [`open`](Self::open) without listing the bucket or reading anything at start: for a
    /// node whose catalogue keeps every original's hash, which says what is stored (its
    /// live assets). Each asset's key is found when first read, with a listing of its
    /// prefix, and kept among the [`KNOWN_CAPACITY`] used lately.
    pub fn open_from_catalogue(location: Location) -> Result<S3Originals> {
        Self::opened(location, AmazonS3Builder::from_env(), true)
    }

    /// [`open_from_catalogue`](Self::open_from_catalogue) with a builder configured by the
    /// caller (tests).
    pub fn open_from_catalogue_with(
        location: Location,
        builder: AmazonS3Builder,
    ) -> Result<S3Originals> {
        Self::opened(location, builder, true)
    }

    fn opened(
        location: Location,
        builder: AmazonS3Builder,
        from_catalogue: bool,
    ) -> Result<S3Originals> {
        // A store that is down answers within seconds (a 503 with Retry-After), rather than
        // after object_store's default three minutes of retries; a large original still
        // has ten minutes to arrive.
        let store = builder
            .with_bucket_name(&location.bucket)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "2s",
            )
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "600s")
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 2,
                retry_timeout: Duration::from_secs(6),
            })
            .build()
            .map_err(|error| PlatformError::Aborted(format!("object storage: {error}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3")
            .enable_all()
            .build()
            .map_err(|error| PlatformError::Aborted(format!("starting the S3 runtime: {error}")))?;
        let known = match from_catalogue {
            true => LruCache::new(NonZeroUsize::new(KNOWN_CAPACITY).expect("not zero")),
            false => LruCache::unbounded(),
        };
        let originals = S3Originals {
            store,
            location,
            runtime: Arc::new(Runtime(Some(runtime))),
            known: Mutex::new(known),
            gone: RwLock::new(HashSet::new()),
            from_catalogue,
        };
        if !from_catalogue {
            originals.list()?;
        }
        Ok(originals)
    }

    fn known(&self) -> MutexGuard<'_, LruCache<AssetId, [u8; 32]>> {
        self.known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `<prefix>/<asset>/`, the directory an asset's object is in.
    fn asset_dir(&self, asset: AssetId) -> Path {
        if self.location.prefix.is_empty() {
            Path::from(asset.to_string())
        } else {
            Path::from(format!("{}/{asset}", self.location.prefix))
        }
    }

    fn key(&self, asset: AssetId, blake3: &[u8; 32]) -> Path {
        self.asset_dir(asset)
            .join(blake3::Hash::from_bytes(*blake3).to_hex().as_str())
    }

    /// The asset and blake3 an object's key names, if it is one of ours.
    fn parse_key(&self, key: &Path) -> Option<(AssetId, [u8; 32])> {
        let parts: Vec<_> = key.parts().collect();
        let [.., asset, hash] = parts.as_slice() else {
            return None;
        };
        let hash = blake3::Hash::from_hex(hash.as_ref()).ok()?;
        Some((asset.as_ref().parse().ok()?, *hash.as_bytes()))
    }

    /// The originals under `dir` (the whole prefix when `None`): asset, blake3 and size of
    /// each object whose key is one of ours, from one paginated listing.
    fn originals_under(&self, dir: Option<&Path>) -> Result<Vec<(AssetId, [u8; 32], u64)>> {
        let objects: Vec<_> = self
            .block_on(self.store.list(dir).try_collect::<Vec<_>>())
            .map_err(unavailable)?;
        Ok(objects
            .iter()
            .filter_map(|object| {
                let (asset, hash) = self.parse_key(&object.location)?;
                Some((asset, hash, object.size))
            })
            .collect())
    }

    /// The key prefix as a path; `None` for the whole bucket.
    fn prefix(&self) -> Option<Path> {
        (!self.location.prefix.is_empty()).then(|| Path::from(self.location.prefix.as_str()))
    }

    fn list_all(&self) -> Result<Vec<(AssetId, [u8; 32])>> {
        Ok(self
            .originals_under(self.prefix().as_ref())?
            .into_iter()
            .map(|(asset, hash, _)| (asset, hash))
            .collect())
    }

    /// The asset's objects in the bucket (normally one; two if the same asset was written
    /// twice with other bytes, the newest write's winning in `known`).
    fn listed(&self, asset: AssetId) -> Result<Vec<[u8; 32]>> {
        Ok(self
            .originals_under(Some(&self.asset_dir(asset)))?
            .into_iter()
            .filter(|(found, _, _)| *found == asset)
            .map(|(_, hash, _)| hash)
            .collect())
    }

    fn remember(&self, asset: AssetId, blake3: Option<[u8; 32]>) {
        let mut gone = self
            .gone
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        match blake3 {
            Some(hash) => {
                self.known().put(asset, hash);
                gone.remove(&asset);
            }
            None => {
                self.known().pop(&asset);
                gone.insert(asset);
            }
        }
    }

    /// A byte range of `asset`'s original (for ranged downloads).
    pub fn get_range(&self, asset: AssetId, range: std::ops::Range<u64>) -> Result<Option<Bytes>> {
        let Some(hash) = self.hash_of(asset)? else {
            return Ok(None);
        };
        let key = self.key(asset, &hash);
        match self.block_on(self.store.get_range(&key, range)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    fn hash_of(&self, asset: AssetId) -> Result<Option<[u8; 32]>> {
        self.hash_named(asset, &|| None)
    }

    /// [`S3Originals::hash_of`], asking `named` for the blake3 before listing the asset's
    /// prefix when it is not among those used lately.
    fn hash_named(
        &self,
        asset: AssetId,
        named: &dyn Fn() -> Option<[u8; 32]>,
    ) -> Result<Option<[u8; 32]>> {
        let known = self.known().get(&asset).copied();
        match known {
            Some(hash) => Ok(Some(hash)),
            // Not used lately, or written by another node since this one listed.
            None => {
                let found = match named() {
                    Some(hash) => Some(hash),
                    None => self.listed(asset)?.into_iter().next(),
                };
                if let Some(hash) = found {
                    self.remember(asset, Some(hash));
                }
                Ok(found)
            }
        }
    }
}

/// The client's runtime, shut down without blocking when its last holder goes (which may
/// be async code: a download's body).
#[derive(Debug)]
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(runtime) => runtime.handle().block_on(future),
            None => unreachable!("the runtime is taken only on drop"),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Reads ranges of one object, for a download in flight.
#[derive(Debug)]
struct ObjectRanges {
    store: AmazonS3,
    key: Path,
    runtime: Arc<Runtime>,
}

impl RangeReader for ObjectRanges {
    fn read(&self, range: std::ops::Range<u64>) -> Result<Bytes> {
        self.runtime
            .block_on(self.store.get_range(&self.key, range))
            .map_err(unavailable)
    }
}

/// What a download reads at once to tell the format (and sends first).
const HEAD_BYTES: u64 = 64 << 10;

impl Originals for S3Originals {
    fn put(&self, asset: AssetId, bytes: &[u8]) -> Result<()> {
        let hash = *blake3::hash(bytes).as_bytes();
        let key = self.key(asset, &hash);
        let stored = if bytes.len() > MULTIPART_ABOVE {
            self.block_on(async {
                let upload = self.store.put_multipart(&key).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                for chunk in bytes.chunks(PART_SIZE) {
                    writer.wait_for_capacity(4).await?;
                    writer.write(chunk);
                }
                writer.finish().await
            })
        } else {
            let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
            self.block_on(self.store.put(&key, payload))
        };
        stored.map_err(unavailable)?;
        // An older version under another hash (the same asset id written again with other
        // bytes) goes. Admission never reuses an id, so this is known here when it happens
        // (a test, a repair): no listing per upload.
        let previous = self.known().peek(&asset).copied();
        if let Some(old) = previous.filter(|old| *old != hash) {
            let _ = self.block_on(self.store.delete(&self.key(asset, &old)));
        }
        self.remember(asset, Some(hash));
        Ok(())
    }

    fn get(&self, asset: AssetId) -> Result<Option<Original>> {
        let Some(hash) = self.hash_of(asset)? else {
            return Ok(None);
        };
        let key = self.key(asset, &hash);
        let fetched = self.block_on(async {
            let found = self.store.get(&key).await?;
            found.bytes().await
        });
        match fetched {
            Ok(bytes) => Ok(Some(Original {
                bytes,
                blake3: hash,
            })),
            Err(object_store::Error::NotFound { .. }) => {
                self.remember(asset, None);
                Ok(None)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    /// One ranged `GET` for the first 64 KiB, which also says the object's length; the rest
    /// is read in ranges as the download goes out, never held whole.
    fn open(&self, asset: AssetId) -> Result<Option<Sendable>> {
        self.open_named(asset, &|| None)
    }

    /// [`Originals::open`]; `named` is asked for the key's blake3 only when the asset is
    /// not among those used lately, before a listing of its prefix.
    fn open_named(
        &self,
        asset: AssetId,
        named: &dyn Fn() -> Option<[u8; 32]>,
    ) -> Result<Option<Sendable>> {
        let Some(hash) = self.hash_named(asset, named)? else {
            return Ok(None);
        };
        let key = self.key(asset, &hash);
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..HEAD_BYTES)),
            ..GetOptions::default()
        };
        let fetched = self.block_on(async {
            let found = self.store.get_opts(&key, options).await?;
            let len = found.meta.size;
            Ok::<_, object_store::Error>((len, found.bytes().await?))
        });
        match fetched {
            Ok((len, head)) => Ok(Some(Sendable::Ranged {
                len,
                blake3: hash,
                head,
                reader: Arc::new(ObjectRanges {
                    store: self.store.clone(),
                    key,
                    runtime: self.runtime.clone(),
                }),
            })),
            Err(object_store::Error::NotFound { .. }) => {
                self.remember(asset, None);
                Ok(None)
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    fn knows_from_catalogue(&self) -> bool {
        self.from_catalogue
    }

    fn learn(&self, asset: AssetId, blake3: Option<[u8; 32]>) {
        self.remember(asset, blake3);
    }

    /// From the listing at open; or, when the catalogue says what is stored, whether this
    /// process has not seen the asset's original go: the asset ids asked about are the
    /// catalogue's and the duplicate index's, whose taken-down and purged assets this
    /// process hears of on the feed (a catalogue row for an original that is missing is
    /// what `verify` looks for, with a listing).
    fn contains(&self, asset: AssetId) -> bool {
        if self.from_catalogue {
            !self
                .gone
                .read()
                .unwrap_or_else(|poison| poison.into_inner())
                .contains(&asset)
        } else {
            self.known().contains(&asset)
        }
    }

    fn delete(&self, asset: AssetId) -> Result<()> {
        for hash in self.listed(asset)? {
            match self.block_on(self.store.delete(&self.key(asset, &hash))) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(unavailable(error)),
            }
        }
        self.remember(asset, None);
        Ok(())
    }

    /// One listing: the objects under the prefix that are originals, and their bytes.
    fn usage(&self) -> Result<Option<OriginalsUsage>> {
        let originals = self.originals_under(self.prefix().as_ref())?;
        Ok(Some(OriginalsUsage {
            location: format!("s3://{}/{}", self.location.bucket, self.location.prefix),
            objects: originals.len() as u64,
            bytes: originals.iter().map(|(_, _, size)| size).sum(),
        }))
    }

    /// Reads every object whole, one at a time, and compares its blake3 with its key's.
    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<Option<OriginalsCheck>> {
        let mut check = OriginalsCheck::default();
        // Listed: every object there is now.
        for (asset, hash) in self.list()? {
            let key = self.key(asset, &hash);
            let read = self.block_on(async { self.store.get(&key).await?.bytes().await });
            let bytes = match read {
                Ok(bytes) => bytes,
                // Deleted since the listing (a purge while verify runs).
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(error) => return Err(unavailable(error)),
            };
            check.objects += 1;
            check.bytes += bytes.len() as u64;
            progress(bytes.len() as u64);
            if blake3::hash(&bytes).as_bytes() != &hash {
                check.damaged.push(asset);
            }
        }
        Ok(Some(check))
    }

    fn list(&self) -> Result<Vec<(AssetId, [u8; 32])>> {
        let listed = self.list_all()?;
        if !self.from_catalogue {
            let mut known = self.known();
            known.clear();
            for &(asset, hash) in &listed {
                known.put(asset, hash);
            }
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            Location::parse("s3://originals"),
            Ok(Location {
                bucket: "originals".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            Location::parse("s3://stock-site/prod/originals/"),
            Ok(Location {
                bucket: "stock-site".into(),
                prefix: "prod/originals".into()
            })
        );
        for bad in [
            "https://x/y",
            "s3://",
            "s3://UPPER",
            "s3://a",
            "file:///tmp",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }
}
