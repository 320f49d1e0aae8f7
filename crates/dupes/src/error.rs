use std::path::PathBuf;

/// What can go wrong with the duplicate index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DupesError {
    /// The index file could not be read, written or synced.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The index file.
        path: PathBuf,
        /// The system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The file's header is not ours (another file at the index's path).
    #[error("{} is not a Stockroom duplicate index (wrong header)", path.display())]
    NotAnIndex {
        /// The file.
        path: PathBuf,
    },
    /// A region that is only ever looked up (an inset) was given to be indexed.
    #[error("{0} hashes are looked up, never indexed")]
    LookupOnly(&'static str),
}

/// The duplicate index's results.
pub type Result<T> = std::result::Result<T, DupesError>;
