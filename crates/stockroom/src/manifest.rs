//! Ingest manifests: one JSON object per line describing a file's metadata.
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

use anyhow::{Context, Result, bail};
use stockroom_platform::metadata::AssetMetadata;

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
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, base).with_context(|| format!("manifest {}", path.display()))
    }

    fn parse(text: &str, base: &Path) -> Result<Manifest> {
        let mut manifest = Manifest::default();
        for (number, line) in text.lines().enumerate() {
            let line_number = number + 1;
            if line.trim().is_empty() {
                continue;
            }
            // `file` is split off by hand: serde ignores `deny_unknown_fields` under `flatten`.
            let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
                .with_context(|| format!("line {line_number}: not a JSON object"))?;
            let Some(serde_json::Value::String(file)) = object.remove("file") else {
                bail!("line {line_number}: no \"file\" string");
            };
            let metadata: AssetMetadata = serde_json::from_value(object.into())
                .with_context(|| format!("line {line_number}: not a manifest entry"))?;
            let metadata = metadata
                .validated()
                .with_context(|| format!("line {line_number}"))?;
            let joined = base.join(&file);
            let canonical = joined.canonicalize().with_context(|| {
                format!("line {line_number}: file {} not found", joined.display())
            })?;
            if manifest
                .entries
                .insert(canonical.clone(), metadata)
                .is_some()
            {
                bail!("line {line_number}: {file} is listed twice");
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
    fn a_good_manifest_parses_and_normalises_keywords() -> Result<()> {
        let dir = with_files(&["a.jpg"]);
        let text = r#"{"file":"a.jpg","title":" Sea ","keywords":["Sea"," sea","blue",""],"collection":"unlimited","language":"de"}"#;
        let manifest = Manifest::parse(text, dir.path())?;
        let file = dir.path().join("a.jpg").canonicalize()?;
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
            let message = format!("{error:#}");
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
}
