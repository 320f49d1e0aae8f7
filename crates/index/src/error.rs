/// What an index call can answer besides success. Each error knows whether the caller or
/// the index is at fault; only the server maps that to an HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A request parameter is out of range (`page`, `per_page`, a facet name, a filter
    /// value). The query text itself never fails: odd input finds nothing.
    #[error("{0}")]
    BadRequest(String),
    /// The index on disk was built with another schema (an older build): rebuild it with
    /// `stockroom reindex`.
    #[error("the search index at {path} has an outdated schema; run `stockroom reindex`")]
    OutdatedSchema {
        /// The index's directory.
        path: String,
    },
    /// A write to an index opened read-only.
    #[error("the search index was opened for searching only")]
    ReadOnly,
    /// tantivy failed (a damaged segment, a full disk).
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The index's directory could not be opened.
    #[error("opening the search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    /// A file of the index's directory.
    #[error("search index {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: String,
        /// The system's answer.
        #[source]
        source: std::io::Error,
    },
    /// Reading the index's files failed.
    #[error("reading the search index: {0}")]
    Read(#[from] std::io::Error),
    /// A stored asset card that does not decode: the index is damaged; reindex.
    #[error("a stored asset card does not decode: {0}")]
    Card(#[from] serde_json::Error),
}

/// The kind of answer an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request's fault (a page or facet that does not parse).
    BadInput,
    /// Ours.
    Internal,
}

impl IndexError {
    /// Its class.
    pub fn class(&self) -> ErrorClass {
        match self {
            IndexError::BadRequest(_) => ErrorClass::BadInput,
            IndexError::OutdatedSchema { .. }
            | IndexError::ReadOnly
            | IndexError::Tantivy(_)
            | IndexError::Directory(_)
            | IndexError::Io { .. }
            | IndexError::Read(_)
            | IndexError::Card(_) => ErrorClass::Internal,
        }
    }
}

/// The index's results.
pub type Result<T> = std::result::Result<T, IndexError>;
