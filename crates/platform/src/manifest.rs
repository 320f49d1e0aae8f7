//! What `stockroom ingest` reads: the image files under the paths it is given, and
//! manifests, one JSON object per line describing a file's metadata.
//!
//! ```text
//! {"file":"photos/aqua.jpg","title":"Water drop splash","keywords":["water","drop"],
//!  "author":"Charles Barbin","collection":"free","language":"en"}
//! ```
//!
//! `file` is relative to the manifest's directory. Every other field is optional except
//! `title`. Unknown fields are refused so that a misspelt field is not silently dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{PlatformError, Result};
use crate::metadata::AssetMetadata;

/// A parsed manifest: metadata by the file's absolute, canonical path.
#[derive(Debug, Default)]
pub struct Manifest {
    entries: HashMap<PathBuf, AssetMetadata>,
    /// The files in manifest order, for ingesting "everything the manifest lists".
    order: Vec<PathBuf>,
}

impl Manifest {
    /// Reads a manifest, naming the line of the first problem.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text =
            std::fs::read_to_string(path).map_err(PlatformError::io("reading manifest", path))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, base).map_err(|why| PlatformError::Manifest {
            path: path.display().to_string(),
            why,
        })
    }

    /// Parses a manifest's text, naming the line of the first problem.
    fn parse(text: &str, base: &Path) -> std::result::Result<Manifest, String> {
        let mut manifest = Manifest::default();
        for (number, line) in text.lines().enumerate() {
            let line_number = number + 1;
            if line.trim().is_empty() {
                continue;
            }
            let at = |why: &dyn std::fmt::Display| format!("line {line_number}: {why}");
            let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
                .map_err(|error| at(&format!("not a JSON object: {error}")))?;
            let Some(serde_json::Value::String(file)) = object.remove("file") else {
                return Err(at(&"no \"file\" string"));
            };
            if let Some(unknown) = object.keys().find(|name| !AssetMetadata::is_field(name)) {
                return Err(at(&format!(
                    "not a manifest entry: unknown field {unknown:?}"
                )));
            }
            let metadata: AssetMetadata = serde_json::from_value(object.into())
                .map_err(|error| at(&format!("not a manifest entry: {error}")))?;
            let metadata = metadata.validated().map_err(|error| at(&error))?;
            let joined = base.join(&file);
            let canonical = joined
                .canonicalize()
                .map_err(|error| at(&format!("file {} not found: {error}", joined.display())))?;
            if manifest
                .entries
                .insert(canonical.clone(), metadata)
                .is_some()
            {
                return Err(at(&format!("{file} is listed twice")));
            }
            manifest.order.push(canonical);
        }
        Ok(manifest)
    }

    /// Metadata for a file, if listed (`file` must be canonical).
    pub fn get(&self, file: &Path) -> Option<&AssetMetadata> {
        self.entries.get(file)
    }

    /// Every listed file, in manifest order.
    pub fn files(&self) -> &[PathBuf] {
        &self.order
    }
}

/// File extensions picked up when a directory is given.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

/// Expands directories (recursively, image extensions only, sorted); keeps files as given.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(PlatformError::io("reading", path))?;
        if meta.is_dir() {
            collect_dir(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let listing = PlatformError::io("listing", dir);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<std::io::Result<_>>()
        })
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

    fn with_files(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in names {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        dir
    }

    use stockroom_vocab::{Collection, Language};

    #[test]
    fn a_good_manifest_parses_and_normalises_keywords() -> std::result::Result<(), String> {
        let dir = with_files(&["a.jpg"]);
        let text = r#"{"file":"a.jpg","title":" Sea ","keywords":["Sea"," sea","blue",""],"collection":"unlimited","language":"de"}"#;
        let manifest = Manifest::parse(text, dir.path())?;
        let file = dir
            .path()
            .join("a.jpg")
            .canonicalize()
            .map_err(|error| error.to_string())?;
        let metadata = manifest.get(&file).expect("listed");
        assert_eq!(metadata.title, "Sea");
        assert_eq!(metadata.keywords, vec!["sea", "blue"]);
        assert_eq!(metadata.collection, Collection::Unlimited);
        assert_eq!(metadata.language, Language::De);
        assert_eq!(manifest.files(), &[file]);
        Ok(())
    }

    #[test]
    fn problems_name_their_line() {
        let dir = with_files(&["a.jpg"]);
        let cases = [
            ("{\"file\":\"a.jpg\",\"title\":\"ok\"}\nnot json", "line 2"),
            (
                "{\"file\":\"a.jpg\",\"title\":\"ok\",\"colour\":\"red\"}",
                "line 1",
            ),
            ("{\"file\":\"missing.jpg\",\"title\":\"ok\"}", "not found"),
            ("{\"file\":\"a.jpg\",\"title\":\"  \"}", "title is empty"),
            (
                "{\"file\":\"a.jpg\",\"title\":\"x\",\"collection\":\"premium\"}",
                "line 1",
            ),
            (
                "{\"file\":\"a.jpg\",\"title\":\"x\"}\n{\"file\":\"./a.jpg\",\"title\":\"y\"}",
                "listed twice",
            ),
        ];
        for (text, expected) in cases {
            let error = Manifest::parse(text, dir.path()).expect_err(text);
            let message = error.to_string();
            assert!(message.contains(expected), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn the_bundled_corpus_manifest_is_valid() -> Result<()> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/manifest.jsonl");
        let manifest = Manifest::load(&path)?;
        assert_eq!(manifest.files().len(), 12);
        assert!(manifest.files().iter().all(|file| file.exists()));
        Ok(())
    }

    #[test]
    fn directories_yield_images_only_in_sorted_order() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("sub"))?;
        for name in ["b.JPG", "a.png", "notes.txt", "sub/c.webp"] {
            std::fs::write(dir.path().join(name), b"x")?;
        }
        let files = image_files(&[dir.path().to_path_buf()]).expect("listed");
        let names: Vec<_> = files
            .iter()
            .map(|path| path.strip_prefix(dir.path()).map(Path::to_path_buf))
            .collect::<std::result::Result<_, _>>()
            .expect("under the directory");
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
