//! `stockroom ingest`: which files to admit and with what metadata (a manifest's entry, or
//! the file's name as title), handed to the platform's pipeline; one JSON line per file.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;
use stockroom_platform::metadata::AssetMetadata;
use stockroom_platform::{FileOutcome, Platform, PlatformError};

use crate::manifest::Manifest;
use crate::progress;

/// File extensions picked up when a directory is given.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// One output line.
#[derive(Debug, Serialize)]
pub struct FileReport {
    /// The file as given (or listed).
    pub path: PathBuf,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: FileOutcome,
}

/// Ingests `paths` (files, or directories searched for images); with no paths, every file
/// the manifest lists. Returns one report per file, in input order.
pub fn run(
    platform: &Platform,
    manifest: Option<&Manifest>,
    paths: &[PathBuf],
    show_progress: bool,
) -> Result<Vec<FileReport>> {
    let files = match (paths.is_empty(), manifest) {
        (false, _) => collect_files(paths)?,
        (true, Some(manifest)) => manifest.files().to_vec(),
        (true, None) => bail!("nothing to ingest: give image files or directories, or --manifest"),
    };
    let bar = progress::bar("ingest", files.len() as u64, show_progress);
    let metadata_of = |file: &Path| -> Result<AssetMetadata, PlatformError> {
        let canonical = file.canonicalize().map_err(|source| PlatformError::Io {
            what: "reading",
            path: file.display().to_string(),
            source,
        })?;
        Ok(
            match manifest.and_then(|manifest| manifest.get(&canonical)) {
                Some(listed) => listed.clone(),
                None => AssetMetadata::from_file_name(file),
            },
        )
    };
    let outcomes = platform.ingest_files(&files, metadata_of, || bar.inc(1))?;
    bar.finish_and_clear();
    Ok(files
        .into_iter()
        .zip(outcomes)
        .map(|(path, outcome)| FileReport { path, outcome })
        .collect())
}

/// Expands directories (recursively, image extensions only, sorted); keeps files as given.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
        if meta.is_dir() {
            collect_dir(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let listing = |error| anyhow::anyhow!("listing {}: {error}", dir.display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(listing)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<_>>()
        .map_err(listing)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_dir(&path, files)?;
        } else if has_image_extension(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_yield_images_only_in_sorted_order() -> Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("sub"))?;
        for name in ["b.JPG", "a.png", "notes.txt", "sub/c.webp"] {
            std::fs::write(dir.path().join(name), b"x")?;
        }
        let files = collect_files(&[dir.path().to_path_buf()])?;
        let names: Vec<_> = files
            .iter()
            .map(|path| path.strip_prefix(dir.path()).map(Path::to_path_buf))
            .collect::<Result<_, _>>()?;
        assert_eq!(
            names,
            vec![
                PathBuf::from("a.png"),
                PathBuf::from("b.JPG"),
                PathBuf::from("sub/c.webp")
            ]
        );
        Ok(())
    }
}
