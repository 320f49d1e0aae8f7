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
    /// An asset entered with the very bytes of one still kept (exact duplicate).
    #[error("the same bytes are already asset {existing}")]
    SameBytes {
        /// The asset that has them.
        existing: stockroom_vocab::AssetId,
    },
    /// SQLite failed (or a row could not be read, whichever engine answered).
    #[error("catalogue database: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed, or could not be reached.
    #[error("catalogue database: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
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
    Commit(std::sync::Arc<CatalogError>),
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
    /// 503: the database cannot be reached (or gave up a transaction to a conflict): the
    /// request may be repeated in a moment.
    Unavailable,
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
            CatalogError::Exists(_) | CatalogError::SameBytes { .. } => ErrorClass::Conflict,
            CatalogError::QuotaExceeded { .. } => ErrorClass::Limited,
            CatalogError::Postgres(error) => postgres_class(error),
            CatalogError::Commit(error) => error.class(),
            CatalogError::Database(_)
            | CatalogError::Io { .. }
            | CatalogError::NewerSchema { .. }
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

/// A PostgreSQL error in words: the server's message and SQLSTATE (the client's own
/// `Display` says only "db error"), or the client's error and its cause.
fn postgres_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

/// What a PostgreSQL error means to the caller: a lost or refused connection, a server
/// shutting down, or a transaction given up to a deadlock or serialization conflict is
/// temporary (503, retry); text PostgreSQL cannot store (a NUL character) is bad input; the
/// rest is ours.
fn postgres_class(error: &postgres::Error) -> ErrorClass {
    use postgres::error::SqlState;
    if error.is_closed() {
        return ErrorClass::Unavailable;
    }
    match error.code() {
        // No SQLSTATE: the server was not reached (an I/O error), or a value did not
        // convert (ours).
        None => {
            let io = std::error::Error::source(error)
                .is_some_and(|source| source.is::<std::io::Error>());
            if io {
                ErrorClass::Unavailable
            } else {
                ErrorClass::Internal
            }
        }
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            ErrorClass::Unavailable
        }
        Some(code)
            if *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::LOCK_NOT_AVAILABLE =>
        {
            ErrorClass::Unavailable
        }
        Some(code)
            if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                || *code == SqlState::UNTRANSLATABLE_CHARACTER =>
        {
            ErrorClass::BadInput
        }
        Some(_) => ErrorClass::Internal,
    }
}

/// The catalogue's results.
pub type Result<T> = std::result::Result<T, CatalogError>;
