//! The directory lock that keeps a second process from opening the same store.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Result, StoreError};

/// Name of the lock file inside a store directory.
const LOCK_FILE: &str = "LOCK";

/// Holds an exclusive `flock` on `DIR/LOCK` for as long as it lives. The kernel drops the lock
/// when the process dies, so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock or explains who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StoreError::io("open lock file", &path, source))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let holder = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(StoreError::io("lock", &path, source));
            }
        }
        // The pid is only for the message a second process prints; the flock is the lock.
        let recorded = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| write!(file, "{}", std::process::id()));
        recorded.map_err(|source| StoreError::io("write lock file", &path, source))?;
        Ok(DirLock { _file: file })
    }
}
