//! What the server asks of whoever admits new images: the upload pipeline (decode-check,
//! hashes, exact and near duplicates, store, catalogue row, index) and the look-alike
//! queries on the duplicate index. That pipeline is the binary's (`stockroom ingest` runs
//! the same one over files), so the server names it as a trait and is handed an
//! implementation in [`Parts`](crate::Parts); it only reads the request and maps the
//! answers onto statuses. Every method blocks (decoding, fsync): the server calls them off
//! its async workers.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stockroom_index::{AssetDoc, Collection, Language};
use stockroom_store::AssetId;

/// The upload pipeline and the duplicate index, as the server uses them.
pub trait Intake: Send + Sync + std::fmt::Debug {
    /// Admits an uploaded image: refused as an exact duplicate, held `pending` when near
    /// duplicates exist, else active (and searchable within the index's commit interval).
    /// Answers only once the bytes and the catalogue row are durable.
    fn upload(&self, upload: Upload) -> Result<Admitted, IntakeError>;

    /// The catalogue's near duplicates of an image, nothing stored (`query` names it in the
    /// answer).
    fn duplicates(&self, image: &[u8]) -> Result<DuplicateReport, IntakeError>;

    /// Active assets like `asset`: those that look alike first, then those described alike.
    fn similar(&self, asset: AssetId, limit: usize) -> Result<Vec<Similar>, IntakeError>;

    /// The near duplicates that hold a pending asset for review.
    fn held_by(&self, asset: AssetId) -> Result<Vec<Candidate>, IntakeError>;

    /// A moderator approved a held asset (the catalogue already says `active`): make it
    /// searchable.
    fn released(&self, asset: AssetId) -> Result<(), IntakeError>;

    /// The asset was taken down (its bytes are gone): drop its hashes, so it is nobody's
    /// duplicate any more and its image may be uploaded again.
    fn forget(&self, asset: AssetId) -> Result<(), IntakeError>;
}

/// An author's upload: the image bytes and what `POST /v1/assets` says of them.
#[derive(Clone, Debug)]
pub struct Upload {
    pub image: Bytes,
    /// The uploading member, credited as the author.
    pub author_id: String,
    pub author_name: String,
    pub fields: UploadFields,
}

/// The metadata of an upload, from the query string (DESIGN §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadFields {
    pub title: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub language: Language,
    pub collection: Collection,
    pub editorial_only: bool,
    pub model_release: bool,
    pub property_release: bool,
}

/// What became of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    Active {
        id: AssetId,
    },
    /// Stored, held for a moderator by these near duplicates.
    Pending {
        id: AssetId,
        duplicates: Vec<Candidate>,
    },
    /// The very same bytes are already the original of `existing`; nothing was stored.
    Duplicate {
        existing: AssetId,
    },
}

/// One near duplicate (DESIGN §6), nearest first in every list.
/// Also what `stockroom dedup` prints and what a held asset's record keeps, so it reads
/// back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub asset_id: String,
    /// Bits of 256 in which the PDQ hashes differ.
    pub distance: u32,
    /// `identity`, `rot90`, …, `flip`: how the query relates to the asset.
    pub transform: String,
    /// Which part of the upload matched which part of the asset (`whole`, `trimmed`,
    /// `centre`): a `centre` on one side means one is a crop of the other.
    pub query_region: String,
    pub asset_region: String,
    /// Whether this match alone may hold an upload (the asset's hash reliable, the
    /// upload's reliable as a query).
    pub reliable: bool,
}

/// An image's near duplicates (DESIGN §6; `query` is filled in by whoever names it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DuplicateReport {
    /// PDQ quality, 0–100: below 50 the hash is too flat to auto-match.
    pub quality: u8,
    pub matches: Vec<Candidate>,
}

/// One asset `similar` found, and how.
#[derive(Clone, Debug, Serialize)]
pub struct Similar {
    #[serde(flatten)]
    pub asset: AssetDoc,
    /// `pdq` (looks alike; `distance` in bits) or `keywords` (described alike).
    pub by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
}

/// Why the pipeline said no.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The metadata does not validate (`400`).
    #[error("{0}")]
    BadInput(String),
    /// The bytes are not a JPEG, PNG or WebP image (`415`).
    #[error("{0}")]
    UnsupportedType(String),
    /// An image we take, but broken, empty or over the pixel limits (`422`).
    #[error("{0}")]
    BadImage(String),
    /// The asset is not there (`404`).
    #[error("{0}")]
    NotFound(String),
    /// The disk is full: nothing was stored (`507`).
    #[error("{0}")]
    Full(String),
    /// Ours (`500`; the cause is logged, not shown).
    #[error("{0}")]
    Internal(String),
}
