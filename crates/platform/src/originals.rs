//! Where originals live: the interface the platform stores and reads them through, and its
//! embedded implementation on the data directory's blob store. (The cluster shape puts
//! them in S3-compatible object storage behind the same interface.) Every method blocks:
//! call it from a blocking context.

use std::sync::Arc;

use bytes::Bytes;
use stockroom_store::{Kind, Store};
use stockroom_vocab::AssetId;

use crate::error::Result;

/// An original's bytes and their blake3 (its ETag, and what exact duplicates share).
#[derive(Clone, Debug)]
pub struct Original {
    /// The file as its author sent it; for the blob store a view into its mapping, copied
    /// nowhere.
    pub bytes: Bytes,
    /// blake3 of `bytes`, as stored beside them (not recomputed on reads).
    pub blake3: [u8; 32],
}

/// Reads byte ranges of one original, so that it can be sent without being held whole
/// (object storage). Blocking: call it from a blocking context.
pub trait RangeReader: Send + Sync + std::fmt::Debug {
    /// Bytes `range` of the original (`range` within its length).
    fn read(&self, range: std::ops::Range<u64>) -> Result<Bytes>;
}

/// An original opened to be sent to a client.
#[derive(Clone, Debug)]
pub enum Sendable {
    /// Held whole already (the blob store's view into its mapping: nothing is copied).
    Whole(Original),
    /// Read in ranges as it is sent.
    Ranged {
        /// Its length in bytes.
        len: u64,
        /// Its blake3 (the ETag).
        blake3: [u8; 32],
        /// Its first bytes (up to 64 KiB), for telling its format.
        head: Bytes,
        /// Reads the rest.
        reader: std::sync::Arc<dyn RangeReader>,
    },
}

impl Sendable {
    /// Its blake3.
    pub fn blake3(&self) -> &[u8; 32] {
        match self {
            Sendable::Whole(original) => &original.blake3,
            Sendable::Ranged { blake3, .. } => blake3,
        }
    }

    /// Its first bytes (all of them when whole).
    pub fn head(&self) -> &[u8] {
        match self {
            Sendable::Whole(original) => &original.bytes,
            Sendable::Ranged { head, .. } => head,
        }
    }
}

/// Storage of originals, keyed by asset id. Writes are durable when they return.
pub trait Originals: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` as `asset`'s original, durably.
    fn put(&self, asset: AssetId, bytes: &[u8]) -> Result<()>;
    /// `asset`'s original, if stored.
    fn get(&self, asset: AssetId) -> Result<Option<Original>>;
    /// `asset`'s original opened for sending to a client, if stored: whole by default; a
    /// remote store reads it in ranges as it goes out.
    fn open(&self, asset: AssetId) -> Result<Option<Sendable>> {
        Ok(self.get(asset)?.map(Sendable::Whole))
    }
    /// [`Originals::open`] for a caller that can name the original's blake3 (a node's
    /// record of the asset): `named` is asked only where it saves work (object storage,
    /// for an asset whose key it does not hold, instead of listing the asset's prefix).
    fn open_named(
        &self,
        asset: AssetId,
        named: &dyn Fn() -> Option<[u8; 32]>,
    ) -> Result<Option<Sendable>> {
        let _ = named;
        self.open(asset)
    }
    /// Whether `asset`'s original is stored (asked per duplicate candidate: keep it cheap).
    fn contains(&self, asset: AssetId) -> bool;
    /// Deletes `asset`'s original, durably; deleting what is not there is no error.
    fn delete(&self, asset: AssetId) -> Result<()>;
    /// Every stored original's id and blake3 (read once, at start, for exact duplicates).
    fn list(&self) -> Result<Vec<(AssetId, [u8; 32])>>;
    /// Whether the catalogue, not this store, says what is stored (object storage opened
    /// without a listing): the platform then reads nothing of it at start, the catalogue
    /// refuses exact duplicates, and [`Originals::contains`] means "not seen to go".
    /// Otherwise [`Originals::list`] at start is how the platform knows what is stored.
    fn knows_from_catalogue(&self) -> bool {
        false
    }
    /// Learns from the change feed that another node stored `asset`'s original with this
    /// blake3 (`Some`) or deleted it (`None`), for a store that answers
    /// [`Originals::contains`] from what it knows in memory; the blob store, which every
    /// writer shares, has nothing to learn.
    fn learn(&self, asset: AssetId, blake3: Option<[u8; 32]>) {
        let _ = (asset, blake3);
    }
    /// How many originals are stored and their bytes, where the blob store's own figures do
    /// not already count them (object storage); `None` otherwise.
    fn usage(&self) -> Result<Option<OriginalsUsage>> {
        Ok(None)
    }
    /// Re-reads every stored original and checks it against its blake3, calling `progress`
    /// with the bytes read; `None` where another check already covers them (the blob
    /// store's `verify` re-hashes every record).
    fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<Option<OriginalsCheck>> {
        let _ = progress;
        Ok(None)
    }
}

/// What [`Originals::usage`] counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OriginalsUsage {
    /// Where they are (`s3://bucket/prefix`).
    pub location: String,
    /// Objects stored.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What [`Originals::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginalsCheck {
    /// Objects read.
    pub objects: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Originals whose bytes do not match their blake3.
    pub damaged: Vec<AssetId>,
}

/// The embedded shape's originals: records of kind `original` in the blob store.
#[derive(Debug, Clone)]
pub struct StoreOriginals(pub Arc<Store>);

impl Originals for StoreOriginals {
    fn put(&self, asset: AssetId, bytes: &[u8]) -> Result<()> {
        Ok(self.0.put(asset, Kind::Original, bytes)?)
    }

    fn get(&self, asset: AssetId) -> Result<Option<Original>> {
        Ok(self.0.get(asset, Kind::Original).map(|blob| Original {
            blake3: blob.blake3(),
            bytes: Bytes::from_owner(blob),
        }))
    }

    fn contains(&self, asset: AssetId) -> bool {
        self.0.contains(asset, Kind::Original)
    }

    fn delete(&self, asset: AssetId) -> Result<()> {
        self.0.delete(asset, Kind::Original)?;
        Ok(())
    }

    fn list(&self) -> Result<Vec<(AssetId, [u8; 32])>> {
        Ok(self
            .0
            .entries()
            .into_iter()
            .filter(|entry| entry.kind == Kind::Original)
            .map(|entry| (entry.asset, entry.blake3))
            .collect())
    }
}
