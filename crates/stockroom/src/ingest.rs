//! `stockroom ingest`: which files to admit and with what metadata (a manifest's entry, or
//! the file's name as title), handed to the platform's pipeline; one JSON line per file.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;
use stockroom_platform::manifest::{Manifest, image_files};
use stockroom_platform::metadata::AssetMetadata;
use stockroom_platform::{FileOutcome, Platform, PlatformError};

use crate::progress;

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
/// the manifest lists; every file credited to `author_member` if given. Returns one report
/// per file, in input order.
pub fn run(
    platform: &Platform,
    manifest: Option<&Manifest>,
    author_member: Option<&str>,
    paths: &[PathBuf],
    show_progress: bool,
) -> Result<Vec<FileReport>> {
    let files = match (paths.is_empty(), manifest) {
        (false, _) => image_files(paths)?,
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
        let mut metadata = match manifest.and_then(|manifest| manifest.get(&canonical)) {
            Some(listed) => listed.clone(),
            None => AssetMetadata::from_file_name(file),
        };
        if let Some(member) = author_member {
            metadata.author_member = Some(member.to_string());
        }
        Ok(metadata)
    };
    let outcomes = platform.ingest_files(&files, metadata_of, || bar.inc(1))?;
    bar.finish_and_clear();
    Ok(files
        .into_iter()
        .zip(outcomes)
        .map(|(path, outcome)| FileReport { path, outcome })
        .collect())
}
