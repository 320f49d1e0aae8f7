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
    OutdatedSchema { path: String },
    /// A write to an index opened read-only.
    #[error("the search index was opened for searching only")]
    ReadOnly,
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("opening the search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the search index: {0}")]
    Read(#[from] std::io::Error),
    /// A stored asset card that does not decode: the index is damaged; reindex.
    #[error("a stored asset card does not decode: {0}")]
    Card(#[from] serde_json::Error),
}

/// The kind of answer an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    BadInput,
    Internal,
}

impl IndexError {
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

pub type Result<T> = std::result::Result<T, IndexError>;
