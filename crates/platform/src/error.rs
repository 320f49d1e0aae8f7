//! The platform's one error type. Each error knows its [`ErrorClass`]; only the server maps
//! classes to HTTP statuses, and the CLI prints the message.

use stockroom_catalog::{CatalogError, ErrorClass as CatalogClass};
use stockroom_index::{ErrorClass as IndexClass, IndexError};
use stockroom_render::RenderError;
use stockroom_store::StoreError;
use stockroom_vocab::AssetId;

/// Why a platform action did not happen (what it did before failing is undone, or named).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// Submitted metadata that does not validate (a title too long, too many keywords).
    #[error("{0}")]
    BadMetadata(String),
    /// A file over the upload limit, refused before it was read.
    #[error("file is {bytes} bytes; the upload limit is {max} bytes")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The image: not one we read, broken, or over the pixel limits; or a render of ours
    /// that failed.
    #[error(transparent)]
    Image(#[from] RenderError),
    /// The catalogue refused or failed (its class is kept).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The keyword index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The blob store failed (a full disk among its causes).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The duplicate index failed.
    #[error("the duplicate index: {0}")]
    Dupes(#[from] stockroom_dupes::DupesError),
    /// The asset is not there, or not for this caller to see.
    #[error("no asset {0}")]
    NoAsset(AssetId),
    /// The asset was public once and is not any more.
    #[error("asset {0} is no longer available")]
    Gone(AssetId),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// An asset's stored metadata record does not read.
    #[error("asset {asset}'s metadata record: {why}")]
    Record {
        /// Whose record.
        asset: AssetId,
        /// What is wrong with it.
        why: String,
    },
    /// A stored asset that the search index could not take.
    #[error(
        "asset {asset} is stored, but adding it to the search index failed; run `stockroom reindex`: {source}"
    )]
    NotIndexed {
        /// The asset, durable in the store and the catalogue.
        asset: AssetId,
        /// Why the index refused.
        #[source]
        source: IndexError,
    },
    /// A file or directory of the data dir, or an input file.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// To which path.
        path: String,
        /// The system's answer.
        #[source]
        source: std::io::Error,
    },
    /// An ingest manifest that does not read.
    #[error("manifest {path}: {why}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// The first problem, naming its line.
        why: String,
    },
    /// The guard's saved state does not read.
    #[error(transparent)]
    Guard(#[from] stockroom_guard::GuardError),
    /// No randomness for a new asset id.
    #[error("reading the system's random source: {0}")]
    Random(getrandom::Error),
    /// A blocking part (a render) panicked or was cancelled.
    #[error("{0}")]
    Aborted(String),
    /// A backend (the object storage holding originals) cannot be reached now; nothing was
    /// changed, and the same request may succeed later.
    #[error("{what} is unavailable: {why}")]
    Unavailable {
        /// Which backend.
        what: &'static str,
        /// Its answer, for the log.
        why: String,
    },
    /// The image is on the blocklist (a takedown's, or an imported list's) until a
    /// moderator lifts the entry.
    #[error(
        "this image matches blocklist entry {entry} ({source_label}: {reason}); a moderator may lift it"
    )]
    Blocked {
        /// The entry's number.
        entry: i64,
        /// `takedown` or an imported list's label.
        source_label: String,
        /// Why it was blocked.
        reason: String,
    },
}

/// What an unavailable backend's callers are told to wait before trying again.
pub const UNAVAILABLE_RETRY_SECS: u32 = 5;

/// The kind of answer an error is, for the server to map to a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request's data does not validate.
    BadInput,
    /// The body is not an image type we take.
    UnsupportedType,
    /// An image we take, but broken, empty or too large.
    BadImage,
    /// Who the caller is could not be established.
    Unauthenticated,
    /// The caller may not do this.
    Forbidden,
    /// No such thing (for this caller).
    NotFound,
    /// It was there and is not any more.
    Gone,
    /// It clashes with what exists.
    Conflict,
    /// A limit of the terms; [`PlatformError::retry_after_secs`] says when to retry.
    Limited,
    /// The disk is full: nothing was stored.
    Full,
    /// A backend is down for now; [`PlatformError::retry_after_secs`] says when to retry.
    Unavailable,
    /// Ours: the cause is for the log.
    Internal,
}

impl PlatformError {
    /// Its class.
    pub fn class(&self) -> ErrorClass {
        match self {
            PlatformError::BadMetadata(_) | PlatformError::Manifest { .. } => ErrorClass::BadInput,
            PlatformError::TooLarge { .. } => ErrorClass::BadImage,
            PlatformError::Image(RenderError::UnsupportedFormat) => ErrorClass::UnsupportedType,
            PlatformError::Image(render) if render.is_bad_input() => ErrorClass::BadImage,
            PlatformError::Catalog(error) => catalog_class(error.class()),
            PlatformError::Index(error) if error.class() == IndexClass::BadInput => {
                ErrorClass::BadInput
            }
            PlatformError::Store(error) if error.is_disk_full() => ErrorClass::Full,
            PlatformError::NoAsset(_) => ErrorClass::NotFound,
            PlatformError::Blocked { .. } => ErrorClass::Conflict,
            PlatformError::Gone(_) => ErrorClass::Gone,
            PlatformError::Forbidden(_) => ErrorClass::Forbidden,
            PlatformError::Unavailable { .. } => ErrorClass::Unavailable,
            _ => ErrorClass::Internal,
        }
    }

    /// Seconds after which a limited request may succeed.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            PlatformError::Catalog(error) => error
                .retry_after_secs()
                .or((error.class() == CatalogClass::Unavailable).then_some(UNAVAILABLE_RETRY_SECS)),
            PlatformError::Unavailable { .. } => Some(UNAVAILABLE_RETRY_SECS),
            _ => None,
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> PlatformError {
        let path = path.display().to_string();
        move |source| PlatformError::Io { what, path, source }
    }
}

fn catalog_class(class: CatalogClass) -> ErrorClass {
    match class {
        CatalogClass::BadInput => ErrorClass::BadInput,
        CatalogClass::Unauthenticated => ErrorClass::Unauthenticated,
        CatalogClass::Forbidden => ErrorClass::Forbidden,
        CatalogClass::NotFound => ErrorClass::NotFound,
        CatalogClass::Gone => ErrorClass::Gone,
        CatalogClass::Conflict => ErrorClass::Conflict,
        CatalogClass::Limited => ErrorClass::Limited,
        CatalogClass::Unavailable => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

/// An error and its causes as one line (`what: why: …`), each cause once: what the CLI
/// prints for a file it could not take.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// The platform's results.
pub type Result<T, E = PlatformError> = std::result::Result<T, E>;
