//! The one way a file the project rewrites is written: to a temporary sibling, fsynced,
//! renamed over the old one, and the directory fsynced, so that after a crash the file is
//! either wholly old or wholly new and the rename itself survives.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A durability point: a file's data flushed, or a directory's entries flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synced<'a> {
    /// This file's data (and the size needed to read it) is on disk.
    File(&'a Path),
    /// This directory's entries (files created, renamed, removed in it) are on disk.
    Dir(&'a Path),
}

static OBSERVER: OnceLock<fn(Synced<'_>)> = OnceLock::new();

/// Sets the one observer of every durability point in the process (a test's simulated
/// power cut records what each flush made durable); whether it was the first. Every byte
/// the project acknowledges as durable passes [`sync_file`] or [`sync_dir`].
pub fn observe(observer: fn(Synced<'_>)) -> bool {
    OBSERVER.set(observer).is_ok()
}

fn notify(synced: Synced<'_>) {
    if let Some(observer) = OBSERVER.get() {
        observer(synced);
    }
}

/// Flushes `file`'s data and the size needed to read it (`path` names it to the observer).
pub fn sync_file(file: &File, path: &Path) -> std::io::Result<()> {
    file.sync_data()?;
    notify(Synced::File(path));
    Ok(())
}

/// Flushes a directory's entries.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()?;
    notify(Synced::Dir(dir));
    Ok(())
}

/// Replaces `path` with `bytes` durably (see the module). With `mode` (Unix permission
/// bits, say `0o600` for secrets) the file is created with those permissions before a byte
/// is written. The parent directory must exist.
pub fn write_file(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let temporary = temporary_sibling(path);
    let written = write_synced(&temporary, bytes, mode)
        .and_then(|()| std::fs::rename(&temporary, path))
        .and_then(|()| sync_parent(path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Creates `path` with `bytes` durably, only if it does not exist: the whole file appears
/// at once (a hard link from a fsynced temporary sibling), or not at all. A file that
/// already exists is left alone and answered with `ErrorKind::AlreadyExists`, so two
/// processes creating the same secret at once agree on one.
pub fn create_file(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let temporary = temporary_sibling(path);
    let created = write_synced(&temporary, bytes, mode)
        .and_then(|()| std::fs::hard_link(&temporary, path))
        .and_then(|()| sync_parent(path));
    let _ = std::fs::remove_file(&temporary);
    created
}

/// Flushes `path`'s directory, so that a file created, renamed or removed in it survives a
/// crash.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    sync_dir(parent)
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn write_synced(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    sync_file(&file, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_replaces_the_file_whole_and_leaves_no_temporary() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state.json");
        write_file(&path, b"old", None)?;
        write_file(&path, b"new contents", Some(0o600))?;
        assert_eq!(std::fs::read(&path)?, b"new contents");
        let names: Vec<_> = std::fs::read_dir(dir.path())?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names, ["state.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let secret = dir.path().join("secret");
            write_file(&secret, b"k", Some(0o600))?;
            assert_eq!(
                std::fs::metadata(&secret)?.permissions().mode() & 0o777,
                0o600
            );
        }
        Ok(())
    }

    #[test]
    fn a_created_file_is_never_replaced() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("key-secret");
        create_file(&path, b"first", Some(0o600))?;
        let again = create_file(&path, b"second", Some(0o600)).expect_err("exists");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path)?, b"first");
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            1,
            "no temporary left"
        );
        Ok(())
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("missing-dir").join("file");
        assert!(write_file(&path, b"x", None).is_err());
        assert!(!path.exists());
    }
}
