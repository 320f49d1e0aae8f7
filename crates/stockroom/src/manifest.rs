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
use serde::{Deserialize, Serialize};

/// Which members may download an asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collection {
    #[default]
    Free,
    Unlimited,
}

/// The language of an asset's text, which decides its stemming.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    De,
}

/// An asset's submitted metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetMetadata {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub collection: Collection,
    #[serde(default)]
    pub language: Language,
    #[serde(default)]
    pub editorial_only: bool,
    #[serde(default)]
    pub model_release: bool,
    #[serde(default)]
    pub property_release: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Limits that keep a hostile or broken manifest from making absurd assets.
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 5_000;
const MAX_KEYWORDS: usize = 50;
const MAX_KEYWORD_CHARS: usize = 64;

impl AssetMetadata {
    /// Metadata for a file that the manifest does not describe: its name as title.
    pub fn from_file_name(path: &Path) -> AssetMetadata {
        let title = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().replace(['_', '-'], " "))
            .unwrap_or_default();
        AssetMetadata {
            title,
            ..AssetMetadata::default()
        }
    }

    /// Checks lengths and normalises keywords (trimmed, lower case, de-duplicated).
    pub fn validated(mut self) -> Result<AssetMetadata> {
        self.title = self.title.trim().to_string();
        if self.title.is_empty() {
            bail!("title is empty");
        }
        if self.title.chars().count() > MAX_TITLE_CHARS {
            bail!("title is longer than {MAX_TITLE_CHARS} characters");
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            bail!("description is longer than {MAX_DESCRIPTION_CHARS} characters");
        }
        let mut keywords: Vec<String> = Vec::with_capacity(self.keywords.len());
        for keyword in &self.keywords {
            let keyword = keyword.trim().to_lowercase();
            if keyword.is_empty() || keywords.contains(&keyword) {
                continue;
            }
            if keyword.chars().count() > MAX_KEYWORD_CHARS {
                bail!("keyword {keyword:?} is longer than {MAX_KEYWORD_CHARS} characters");
            }
            keywords.push(keyword);
        }
        if keywords.len() > MAX_KEYWORDS {
            bail!("more than {MAX_KEYWORDS} keywords");
        }
        self.keywords = keywords;
        Ok(self)
    }
}

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
