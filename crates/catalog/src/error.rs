/// What a catalogue call can answer besides success. Each error knows its class; only the
/// server maps classes to HTTP statuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// No such key, a revoked or removed seat's key, or an erased member's key.
    #[error("unknown or revoked API key")]
    UnknownKey,
    /// The member (its id) is blocked: no downloads, uploads or moderation.
    #[error("member {0} is blocked")]
    Blocked(String),
    /// No such thing (for this caller).
    #[error("{what} {id} not found")]
    NotFound {
        /// `asset`, `member`, `licence`, …
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The asset was public once and is not any more (withdrawn, inactive, removed).
    #[error("asset {id} is no longer available: {why}")]
    Gone {
        /// The asset's id.
        id: String,
        /// Withdrawn, inactive or removed, in words.
        why: &'static str,
    },
    /// The caller is known but the terms do not let them do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A value that does not validate.
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
    QuotaExceeded {
        /// New licences allowed in 24 hours.
        limit: u32,
        /// Seconds until the oldest of them leaves the window.
        retry_after_secs: u32,
    },
    /// An asset (its id) entered twice.
    #[error("asset {0} is already in the catalogue")]
    Exists(String),
    /// SQLite failed.
    #[error("catalogue database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A file beside the database (the key-hashing secret, the directory).
    #[error("catalogue {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: String,
        /// The system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The database was migrated by a newer build; this one will not guess at it.
    #[error("the catalogue database is at schema version {found}; this build knows up to {known}")]
    NewerSchema {
        /// The database's version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The batch a write was in could not be committed; nothing of it was kept.
    #[error("committing to the catalogue: {0}")]
    Commit(std::sync::Arc<rusqlite::Error>),
    /// The writer thread is gone (it panicked): no write can be made.
    #[error("the catalogue's writer thread has stopped")]
    WriterGone,
    /// No randomness for a new id, key or code.
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
}

/// The kind of answer an error is, for the server to map to a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// 400: a value that does not validate.
    BadInput,
    /// 401: who the caller is could not be established.
    Unauthenticated,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 410.
    Gone,
    /// 409.
    Conflict,
    /// 429: a limit of the terms; the error says when to retry.
    Limited,
    /// 500: ours.
    Internal,
}

impl CatalogError {
    /// Its class.
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

/// The catalogue's results.
pub type Result<T> = std::result::Result<T, CatalogError>;
