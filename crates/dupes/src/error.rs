use std::path::PathBuf;

/// What can go wrong with the duplicate index.
#[derive(Debug, thiserror::Error)]
pub enum DupesError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a Stockroom duplicate index (wrong header)", path.display())]
    NotAnIndex { path: PathBuf },
    #[error("{0} hashes are looked up, never indexed")]
    LookupOnly(&'static str),
}

pub type Result<T> = std::result::Result<T, DupesError>;
