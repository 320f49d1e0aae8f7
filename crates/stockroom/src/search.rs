//! Keyword search wiring: what the index holds per stored asset, `stockroom search`,
//! `stockroom similar` and `stockroom reindex`.
//!
//! Ingest keeps each asset's submitted metadata in the store beside its original (kind
//! `metadata`), with the image's displayed size and automatic keywords; that record and the
//! catalogue's status (when the catalogue has the asset) are what `reindex` rebuilds the
//! index from.

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use stockroom_dupes::DupIndex;
use stockroom_index::{
    AssetDoc, Author, Collection, Color, Kind, Language, Options, SearchIndex, SearchRequest,
};
use stockroom_server::{Candidate, Similar};
use stockroom_store::{AssetId, Kind as BlobKind, Store};

use crate::config::Config;
use crate::fingerprint;
use crate::manifest::{self, AssetMetadata};
use crate::progress;

/// PDQ distance within which `similar` calls two images visually alike: past duplicates
/// (31) and well short of unrelated photos (around 128).
pub const SIMILAR_THRESHOLD: u32 = 63;

/// An asset's metadata record as ingest writes it (unknown fields are ignored: older and
/// newer records both read).
#[derive(Debug, Deserialize)]
pub struct StoredAsset {
    pub status: String,
    #[serde(default)]
    pub ingested_at: u64,
    /// Displayed size; absent in records written before search existed (0).
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub auto_keywords: Vec<String>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub author: String,
    /// Absent in records written before uploads: the slug of `author`.
    #[serde(default)]
    pub author_id: Option<String>,
    /// The near duplicates that held it for review.
    #[serde(default)]
    pub duplicates: Vec<Candidate>,
    #[serde(default)]
    pub collection: manifest::Collection,
    #[serde(default)]
    pub language: manifest::Language,
    #[serde(default)]
    pub editorial_only: bool,
    #[serde(default)]
    pub model_release: bool,
    #[serde(default)]
    pub property_release: bool,
}

/// An ingested asset's author id. Ingested assets know their author only by the manifest's
/// name, so the id is that name as a slug ("Charles Barbin" → `charles-barbin`); uploads
/// by signed-in authors carry the member id instead.
pub fn author_id(name: &str) -> String {
    let slug: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_lowercase)
        .collect();
    if slug.is_empty() {
        "unknown".into()
    } else {
        slug.join("-")
    }
}

/// Who an ingested file credits: its metadata's author (or "Unknown"), with the slug of
/// that name as id.
pub fn credit(metadata: &AssetMetadata) -> Author {
    let name = match metadata.author.trim() {
        "" => "Unknown",
        name => name,
    };
    Author {
        id: author_id(name),
        name: name.to_string(),
    }
}

/// What the index holds for an asset: its submitted metadata, plus the automatic keywords
/// (orientation, size class, colours) and the colours as a filter.
pub fn asset_doc(
    id: AssetId,
    metadata: &AssetMetadata,
    author: Author,
    size: (u32, u32),
    auto_keywords: &[String],
    created_at: u64,
) -> AssetDoc {
    let mut keywords = metadata.keywords.clone();
    for keyword in auto_keywords {
        if !keywords.contains(keyword) {
            keywords.push(keyword.clone());
        }
    }
    let colors = auto_keywords
        .iter()
        .filter_map(|keyword| keyword.parse::<Color>().ok())
        .collect();
    AssetDoc {
        id: id.to_string(),
        title: metadata.title.clone(),
        description: metadata.description.clone(),
        keywords,
        language: match metadata.language {
            manifest::Language::En => Language::En,
            manifest::Language::De => Language::De,
        },
        author,
        collection: match metadata.collection {
            manifest::Collection::Free => Collection::Free,
            manifest::Collection::Unlimited => Collection::Unlimited,
        },
        // Ingest takes photographs; illustrations and vectors arrive with uploads.
        kind: Kind::Photo,
        width: size.0,
        height: size.1,
        colors,
        editorial_only: metadata.editorial_only,
        model_release: metadata.model_release,
        property_release: metadata.property_release,
        created_at: i64::try_from(created_at).unwrap_or(i64::MAX),
        downloads: 0,
    }
}

impl StoredAsset {
    fn metadata(&self) -> AssetMetadata {
        AssetMetadata {
            title: self.title.clone(),
            description: self.description.clone(),
            keywords: self.keywords.clone(),
            author: self.author.clone(),
            collection: self.collection,
            language: self.language,
            editorial_only: self.editorial_only,
            model_release: self.model_release,
            property_release: self.property_release,
            ..AssetMetadata::default()
        }
    }
}

/// Opens the data dir's search index for writing (ingest, reindex).
pub fn open_index(config: &Config, options: Options) -> Result<SearchIndex> {
    let dir = config.index_dir();
    SearchIndex::open(&dir, options).with_context(|| format!("opening {}", dir.display()))
}

/// `stockroom search`: one JSON object, the shape of `GET /v1/search`.
pub fn search(config: &Config, request: &SearchRequest) -> Result<ExitCode> {
    let index = open_index(config, Options::read_only())?;
    let results = index.search(request)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &results)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// Active assets like `id`: those that look alike first (PDQ within
/// [`SIMILAR_THRESHOLD`], nearest first, when the original and the duplicate index are
/// there), then those that share the most keywords, up to `limit`.
pub fn similar(
    store: &Store,
    dupes: &DupIndex,
    index: &SearchIndex,
    id: AssetId,
    limit: usize,
) -> Result<Vec<Similar>> {
    let mut found: Vec<Similar> = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([id.to_string()]);
    if let Some(original) = store.get(id, BlobKind::Original) {
        let hashed = fingerprint::hash_bytes(&original, &stockroom_render::Limits::default())?;
        let candidates =
            fingerprint::candidates(dupes, &hashed.fingerprint, SIMILAR_THRESHOLD, |asset| {
                asset != id && store.contains(asset, BlobKind::Original)
            });
        for candidate in candidates {
            if found.len() >= limit || !seen.insert(candidate.asset_id.clone()) {
                continue;
            }
            // Only what the index holds: active assets.
            if let Some(asset) = index.get(&candidate.asset_id)? {
                found.push(Similar {
                    asset,
                    by: "pdq",
                    distance: Some(candidate.distance),
                });
            }
        }
    }
    for asset in index.similar(&id.to_string(), limit + seen.len())? {
        if found.len() >= limit {
            break;
        }
        if seen.insert(asset.id.clone()) {
            found.push(Similar {
                asset,
                by: "keywords",
                distance: None,
            });
        }
    }
    Ok(found)
}

/// What a rebuild did.
#[derive(Debug, Default, Serialize)]
pub struct Reindexed {
    pub indexed: u64,
    /// Held for a moderator, withdrawn or removed: not searchable.
    pub not_active: u64,
    /// Metadata records that do not read (named on stderr).
    pub unreadable: u64,
}

/// `stockroom reindex`: rebuilds the search index from the stored metadata records. The
/// old index stays searchable until the rebuild commits, which swaps it in whole.
pub fn reindex(config: &Config, interactive: bool) -> Result<Reindexed> {
    let store = config.open_blobs()?;
    let catalog = stockroom_catalog::Catalog::open(&config.catalog_dir(), config.catalog_options())
        .with_context(|| format!("opening {}", config.catalog_dir().display()))?;
    let index = open_index(config, Options::bulk())?;
    let assets: Vec<AssetId> = store
        .entries()
        .into_iter()
        .filter(|entry| entry.kind == BlobKind::Metadata)
        .map(|entry| entry.asset)
        .collect();
    let bar = progress::bar("reindex", assets.len() as u64, interactive);
    index.clear()?;
    let mut report = Reindexed::default();
    let mut batch = Vec::with_capacity(1000);
    for id in assets {
        bar.inc(1);
        match indexable(&store, &catalog, id) {
            Ok(Some(doc)) => {
                batch.push(doc);
                report.indexed += 1;
            }
            Ok(None) => report.not_active += 1,
            Err(error) => {
                bar.suspend(|| eprintln!("asset {id}: {error:#}"));
                report.unreadable += 1;
            }
        }
        if batch.len() == batch.capacity() {
            index.upsert_many(&batch)?;
            batch.clear();
        }
    }
    index.upsert_many(&batch)?;
    bar.set_message("merging");
    index.merge_segments()?;
    bar.finish_and_clear();
    Ok(report)
}

/// The asset's index document, or `None` when it is not active.
pub fn indexable(
    store: &Store,
    catalog: &stockroom_catalog::Catalog,
    id: AssetId,
) -> Result<Option<AssetDoc>> {
    let Some(record) = store.get(id, BlobKind::Metadata) else {
        return Ok(None);
    };
    let stored: StoredAsset =
        serde_json::from_slice(&record).context("reading the metadata record")?;
    let active = match catalog.asset(&id.to_string()) {
        Ok(record) => record.is_public(),
        Err(error) if error.class() == stockroom_catalog::ErrorClass::NotFound => {
            stored.status == "active"
        }
        Err(error) => return Err(error.into()),
    };
    if !active || !store.contains(id, BlobKind::Original) {
        return Ok(None);
    }
    let (mut size, mut auto_keywords) =
        ((stored.width, stored.height), stored.auto_keywords.clone());
    if size.0 == 0 {
        // Written before search existed: read the size and colours off the original.
        let original = store
            .get(id, BlobKind::Original)
            .context("the original went missing")?;
        (size, auto_keywords) =
            fingerprint::size_and_keywords(&original, &stockroom_render::Limits::default())?;
    }
    let metadata = stored.metadata();
    let author = match &stored.author_id {
        Some(id) => Author {
            id: id.clone(),
            name: credit(&metadata).name,
        },
        None => credit(&metadata),
    };
    Ok(Some(asset_doc(
        id,
        &metadata,
        author,
        size,
        &auto_keywords,
        stored.ingested_at,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_ids_are_slugs_of_names() {
        assert_eq!(author_id("Charles Barbin"), "charles-barbin");
        assert_eq!(author_id("  Jean-Luc  Picard "), "jean-luc-picard");
        assert_eq!(author_id("blackcombwhistler07"), "blackcombwhistler07");
        assert_eq!(author_id("!!!"), "unknown");
    }

    #[test]
    fn documents_carry_automatic_keywords_and_colours_once() {
        let metadata = AssetMetadata {
            title: "Sea".into(),
            keywords: vec!["sea".into(), "blue".into()],
            author: "Ann Author".into(),
            ..AssetMetadata::default()
        };
        let auto = ["landscape", "medium", "blue", "white"].map(String::from);
        let doc = asset_doc(
            AssetId::from_u64(7),
            &metadata,
            credit(&metadata),
            (3000, 2000),
            &auto,
            5,
        );
        assert_eq!(
            doc.keywords,
            ["sea", "blue", "landscape", "medium", "white"]
        );
        assert_eq!(doc.colors, [Color::Blue, Color::White]);
        assert_eq!(doc.author.id, "ann-author");
        assert_eq!((doc.width, doc.created_at), (3000, 5));
    }
}
