//! The benchmark tools' shared file walk (included with `#[path]`: too small for a crate).

use std::path::{Path, PathBuf};

/// Every JPEG, PNG and WebP under `paths` (files as given, directories recursively, sorted).
pub fn collect_images(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    Ok(files)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        entries.sort();
        for entry in entries {
            collect(&entry, files)?;
        }
    } else if path
        .extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            ["jpg", "jpeg", "png", "webp"].contains(&ext.to_ascii_lowercase().as_str())
        })
    {
        files.push(path.to_path_buf());
    }
    Ok(())
}
