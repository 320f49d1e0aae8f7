//! The store's two durability points: a file's data flushed, and a directory's entries
//! flushed, both through `stockroom_vocab::durable` (as every rewritten file of the
//! project is), which tells an observer of each. Every byte the store acknowledges was
//! made durable by one of these, so that a test can watch them and then cut the power:
//! put every file back to what its last flush made durable, and every directory back to
//! the entries its last flush made durable, and see that every acknowledged write is still
//! there (`power_cut`, tests only). A kill cannot show a missing flush (the page cache
//! survives it); this can.

use std::fs::File;
use std::path::Path;

use stockroom_vocab::durable;

use crate::error::{Result, StoreError};

/// Flushes `file`'s data and the size needed to read it.
pub(crate) fn sync_file(file: &File, path: &Path) -> Result<()> {
    durable::sync_file(file, path).map_err(|source| StoreError::io("flush", path, source))
}

/// Flushes a directory so that files created, renamed or removed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    durable::sync_dir(dir).map_err(|source| StoreError::io("flush directory", dir, source))
}

/// A simulated power cut over one store directory (tests only). While watched, each flush
/// of a file in the directory records its contents (by inode, so that a rename carries
/// them), and each flush of the directory records its entries (name → inode). Cutting the
/// power freezes those records; restoring then rewrites the directory to them: entries
/// not flushed vanish, removals not flushed come back, and every file holds exactly what
/// its last flush held (nothing, if it never had one).
#[cfg(test)]
pub(crate) mod power_cut {
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, PoisonError};

    #[derive(Debug, Default)]
    struct Durable {
        /// Inode → the file's bytes at its last flush.
        contents: HashMap<u64, Vec<u8>>,
        /// The directory's entries at its last flush (regular files only).
        entries: HashMap<OsString, u64>,
        /// Set by the cut: later flushes happened after the power went.
        frozen: bool,
    }

    /// A watched directory.
    #[derive(Debug)]
    pub(crate) struct Watch {
        dir: PathBuf,
        durable: Mutex<Durable>,
    }

    static WATCHED: Mutex<Vec<Arc<Watch>>> = Mutex::new(Vec::new());

    fn watches_of(path: &Path) -> Vec<Arc<Watch>> {
        WATCHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|watch| path.starts_with(&watch.dir))
            .cloned()
            .collect()
    }

    /// Starts watching `dir`, whose present state counts as durable (a test starts from a
    /// closed store).
    pub(crate) fn watch(dir: &Path) -> Arc<Watch> {
        // The same observer every time: only the first call sets it.
        let _ = stockroom_vocab::durable::observe(on_sync);
        let watch = Arc::new(Watch {
            dir: dir.to_path_buf(),
            durable: Mutex::new(Durable::default()),
        });
        for (name, path) in files(dir) {
            let meta = fs::metadata(&path).expect("stat");
            let mut durable = watch.durable.lock().unwrap_or_else(PoisonError::into_inner);
            durable
                .contents
                .insert(meta.ino(), fs::read(&path).expect("read"));
            durable.entries.insert(name, meta.ino());
        }
        WATCHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(watch.clone());
        watch
    }

    fn files(dir: &Path) -> Vec<(OsString, PathBuf)> {
        fs::read_dir(dir)
            .expect("list")
            .map(|entry| entry.expect("entry"))
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .map(|entry| (entry.file_name(), entry.path()))
            .collect()
    }

    fn on_sync(synced: stockroom_vocab::durable::Synced<'_>) {
        match synced {
            stockroom_vocab::durable::Synced::File(path) => file_synced(path),
            stockroom_vocab::durable::Synced::Dir(dir) => dir_synced(dir),
        }
    }

    fn file_synced(path: &Path) {
        for watch in watches_of(path) {
            // Only the directory's own files; `lost+found/` below it is not modelled.
            if path.parent() != Some(watch.dir.as_path()) {
                continue;
            }
            let (Ok(meta), Ok(bytes)) = (fs::metadata(path), fs::read(path)) else {
                continue;
            };
            let mut durable = watch.durable.lock().unwrap_or_else(PoisonError::into_inner);
            if !durable.frozen {
                durable.contents.insert(meta.ino(), bytes);
            }
        }
    }

    fn dir_synced(dir: &Path) {
        for watch in watches_of(dir) {
            if dir != watch.dir {
                continue;
            }
            let entries: HashMap<OsString, u64> = files(dir)
                .into_iter()
                .filter_map(|(name, path)| Some((name, fs::metadata(path).ok()?.ino())))
                .collect();
            let mut durable = watch.durable.lock().unwrap_or_else(PoisonError::into_inner);
            if !durable.frozen {
                // A file gone from the directory is gone with its contents: its inode may
                // be reused by a file created later, which holds nothing until flushed
                // (not the old file's last flush).
                durable
                    .contents
                    .retain(|inode, _| entries.values().any(|live| live == inode));
                durable.entries = entries;
            }
        }
    }

    impl Watch {
        /// The power goes: nothing flushed from now on counts.
        pub(crate) fn cut(&self) {
            self.durable
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .frozen = true;
        }

        /// Rewrites the directory to what was durable at the cut (call once the store is
        /// dropped), and stops watching it.
        pub(crate) fn restore(&self) {
            WATCHED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|watch| !std::ptr::eq(watch.as_ref(), self));
            let durable = self.durable.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, path) in files(&self.dir) {
                fs::remove_file(path).expect("remove");
            }
            for (name, inode) in &durable.entries {
                let bytes = durable.contents.get(inode).map_or(&[][..], Vec::as_slice);
                fs::write(self.dir.join(name), bytes).expect("restore");
            }
        }
    }
}
