/// What a catalogue call can answer besides success. Each error knows its class; only the
/// server maps classes to HTTP statuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// No such key, a revoked or removed seat's key, or an erased member's key.
    #[error("unknown or revoked API key")]
    UnknownKey,
    #[error("member {0} is blocked")]
    Blocked(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The asset was public once and is not any more (withdrawn, inactive, removed).
    #[error("asset {id} is no longer available: {why}")]
    Gone { id: String, why: &'static str },
    /// The caller is known but the terms do not let them do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadInput(String),
    /// A name (tier, role, …) that is not one of its set's.
    #[error(transparent)]
    UnknownName(#[from] stockroom_vocab::UnknownName),
    /// The hard daily download limit is reached.
    #[error(
        "the limit of {limit} new licences in 24 hours is reached; licences you hold still download, \
         and a new one is possible in {retry_after_secs} s"
    )]
    QuotaExceeded { limit: u32, retry_after_secs: u32 },
    #[error("asset {0} is already in the catalogue")]
    Exists(String),
    #[error("catalogue database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("catalogue {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the catalogue database is at schema version {found}; this build knows up to {known}")]
    NewerSchema { found: i64, known: i64 },
    /// The batch a write was in could not be committed; nothing of it was kept.
    #[error("committing to the catalogue: {0}")]
    Commit(std::sync::Arc<rusqlite::Error>),
    #[error("the catalogue's writer thread has stopped")]
    WriterGone,
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
}

/// The kind of answer an error is, for the server to map to a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    BadInput,
    /// 401: who the caller is could not be established.
    Unauthenticated,
    /// 403.
    Forbidden,
    NotFound,
    /// 410.
    Gone,
    /// 409.
    Conflict,
    /// 429: a limit of the terms; the error says when to retry.
    Limited,
    Internal,
}

impl CatalogError {
    pub fn class(&self) -> ErrorClass {
        match self {
            CatalogError::UnknownKey => ErrorClass::Unauthenticated,
            CatalogError::Blocked(_) | CatalogError::Forbidden(_) => ErrorClass::Forbidden,
            CatalogError::NotFound { .. } => ErrorClass::NotFound,
            CatalogError::Gone { .. } => ErrorClass::Gone,
            CatalogError::BadInput(_) | CatalogError::UnknownName(_) => ErrorClass::BadInput,
            CatalogError::Exists(_) => ErrorClass::Conflict,
            CatalogError::QuotaExceeded { .. } => ErrorClass::Limited,
            CatalogError::Database(_)
            | CatalogError::Io { .. }
            | CatalogError::NewerSchema { .. }
            | CatalogError::Commit(_)
            | CatalogError::WriterGone
            | CatalogError::Random(_) => ErrorClass::Internal,
        }
    }
}

impl CatalogError {
    /// Seconds after which a limited request may succeed.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            CatalogError::QuotaExceeded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, CatalogError>;
