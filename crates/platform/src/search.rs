//! What the keyword index holds per stored asset and how it is kept: the document of an
//! asset ([`asset_doc`], from its metadata record), searching (a member's results count as
//! seen for the stockpiling detector), `similar` (PDQ first, then keywords), and rebuilding
//! the whole index from the store's records and the catalogue's statuses.

use std::collections::HashSet;

use serde::Serialize;
use stockroom_catalog::{AssetRecord, ErrorClass as CatalogClass, Principal};
use stockroom_index::{AssetDoc, Author, Color, Kind, SearchRequest, SearchResults};
use stockroom_store::Kind as BlobKind;
use stockroom_vocab::{AssetId, AssetStatus};

use crate::Platform;
use crate::error::{PlatformError, Result};
use crate::fingerprint;
use crate::metadata::{AssetMetadata, MetadataRecord};

/// PDQ distance within which `similar` calls two images visually alike: past duplicates
/// (31) and well short of unrelated photos (around 128).
pub const SIMILAR_THRESHOLD: u32 = 63;

/// One asset `similar` found, and how.
#[derive(Clone, Debug, Serialize)]
pub struct Similar {
    /// Its search card.
    #[serde(flatten)]
    pub asset: AssetDoc,
    /// `pdq` (looks alike; `distance` in bits) or `keywords` (described alike).
    pub by: &'static str,
    /// PDQ bits apart, when found by looks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
}

/// What a rebuild did.
#[derive(Debug, Default, Serialize)]
pub struct Reindexed {
    /// Documents written.
    pub indexed: u64,
    /// Held for a moderator, withdrawn or removed: not searchable.
    pub not_active: u64,
    /// Metadata records that do not read (each named to `unreadable`).
    pub unreadable: u64,
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
pub fn asset_doc(id: AssetId, record: &MetadataRecord) -> AssetDoc {
    let metadata = &record.metadata;
    let mut keywords = metadata.keywords.clone();
    for keyword in &record.auto_keywords {
        if !keywords.contains(keyword) {
            keywords.push(keyword.clone());
        }
    }
    let colors = record
        .auto_keywords
        .iter()
        .filter_map(|keyword| keyword.parse::<Color>().ok())
        .collect();
    let credited = credit(metadata);
    let author = Author {
        id: record.author_id.clone().unwrap_or(credited.id),
        name: credited.name,
    };
    AssetDoc {
        id: id.to_string(),
        title: metadata.title.clone(),
        description: metadata.description.clone(),
        keywords,
        language: metadata.language,
        author,
        collection: metadata.collection,
        // Ingest takes photographs; illustrations and vectors arrive with uploads.
        kind: Kind::Photo,
        width: record.width,
        height: record.height,
        colors,
        editorial_only: metadata.editorial_only,
        model_release: metadata.model_release,
        property_release: metadata.property_release,
        created_at: i64::try_from(record.ingested_at).unwrap_or(i64::MAX),
        downloads: 0,
    }
}

impl Platform {
    /// A search (DESIGN §3); a member's results count as seen for the stockpiling detector.
    pub fn search(&self, request: &SearchRequest, viewer: Option<&str>) -> Result<SearchResults> {
        let results = self.index.search(request)?;
        if let Some(member) = viewer {
            let seen: Vec<u64> = results
                .results
                .iter()
                .filter_map(|doc| doc.id.parse::<AssetId>().ok())
                .map(AssetId::as_u64)
                .collect();
            self.guard.viewed(member, &seen, self.clock.now_micros());
        }
        Ok(results)
    }

    /// A public asset's catalogue record and search card: `404` while held, `410` once it
    /// left the public.
    pub fn public_asset(&self, asset: AssetId) -> Result<(AssetRecord, AssetDoc)> {
        let record = self.catalog.asset(asset)?;
        public(&record, asset)?;
        let doc = self
            .index
            .get(&asset.to_string())?
            .ok_or(PlatformError::NoAsset(asset))?;
        Ok((record, doc))
    }

    /// An asset as its author sees it, public or not (held, rejected with its reason,
    /// withdrawn): the catalogue's row and a card built from its stored record. Anyone
    /// else is told it is not found.
    pub fn own_asset(&self, asset: AssetId, viewer: &Principal) -> Result<(AssetRecord, AssetDoc)> {
        let row = self.catalog.asset(asset)?;
        if row.author_id != viewer.member_id || row.status == AssetStatus::Removed {
            return Err(PlatformError::NoAsset(asset));
        }
        let record = self.record(asset)?;
        Ok((row, asset_doc(asset, &record)))
    }

    /// Public assets like `asset`: those that look alike first (PDQ within
    /// [`SIMILAR_THRESHOLD`], nearest first, when the original and the duplicate index are
    /// there), then those that share the most keywords, up to `limit`.
    pub fn similar(&self, asset: AssetId, limit: usize) -> Result<Vec<Similar>> {
        public(&self.catalog.asset(asset)?, asset)?;
        self.similar_to(asset, limit)
    }

    /// [`Platform::similar`] without the check that `asset` is public (the CLI's).
    pub fn similar_to(&self, asset: AssetId, limit: usize) -> Result<Vec<Similar>> {
        let mut found: Vec<Similar> = Vec::new();
        let mut seen: HashSet<String> = HashSet::from([asset.to_string()]);
        if let Some(original) = self.originals.get(asset)? {
            let hashed = fingerprint::hash_bytes(&original.bytes, &self.options.limits)?;
            let candidates = fingerprint::candidates(
                &self.duplicate_index(),
                &hashed.fingerprint,
                SIMILAR_THRESHOLD,
                |other| other != asset && self.originals.contains(other),
            );
            for candidate in candidates {
                let id = candidate.asset_id.to_string();
                if found.len() >= limit || !seen.insert(id.clone()) {
                    continue;
                }
                // Only what the index holds: active assets.
                if let Some(doc) = self.index.get(&id)? {
                    found.push(Similar {
                        asset: doc,
                        by: "pdq",
                        distance: Some(candidate.distance),
                    });
                }
            }
        }
        for doc in self.index.similar(&asset.to_string(), limit + seen.len())? {
            if found.len() >= limit {
                break;
            }
            if seen.insert(doc.id.clone()) {
                found.push(Similar {
                    asset: doc,
                    by: "keywords",
                    distance: None,
                });
            }
        }
        Ok(found)
    }

    /// The asset's stored metadata record.
    pub fn record(&self, asset: AssetId) -> Result<MetadataRecord> {
        let bytes = self
            .blobs
            .get(asset, BlobKind::Metadata)
            .ok_or(PlatformError::NoAsset(asset))?;
        MetadataRecord::decode(asset, &bytes)
    }

    /// The asset's index document, or `None` when it is not active (the catalogue's status
    /// wins; an asset the catalogue lacks goes by an unversioned record's status, and one
    /// with a record this build wrote is an orphan).
    pub fn indexable(&self, asset: AssetId) -> Result<Option<AssetDoc>> {
        if !self.blobs.contains(asset, BlobKind::Metadata) {
            return Ok(None);
        }
        let mut record = self.record(asset)?;
        let active = match self.catalog.asset(asset) {
            Ok(row) => row.is_public(),
            // A record from before the catalogue goes by its own status; one this build
            // wrote without a row is a crash's orphan, never searchable.
            Err(error) if error.class() == CatalogClass::NotFound => {
                record.status == AssetStatus::Active
                    && record.version < crate::metadata::RECORD_VERSION
            }
            Err(error) => return Err(error.into()),
        };
        if !active || !self.originals.contains(asset) {
            return Ok(None);
        }
        if record.width == 0 {
            // Written before search existed: read the size and colours off the original.
            let original = self
                .originals
                .get(asset)?
                .ok_or(PlatformError::NoAsset(asset))?;
            let ((width, height), auto_keywords) =
                fingerprint::size_and_keywords(&original.bytes, &self.options.limits)?;
            (record.width, record.height, record.auto_keywords) = (width, height, auto_keywords);
        }
        Ok(Some(asset_doc(asset, &record)))
    }

    /// Rebuilds the search index from the stored metadata records (`stockroom reindex`).
    /// The old index stays searchable until the rebuild commits, which swaps it in whole.
    /// `done` is called after each asset; `unreadable` names each record that does not read.
    pub fn reindex(
        &self,
        done: impl Fn(),
        unreadable: impl Fn(AssetId, &PlatformError),
    ) -> Result<Reindexed> {
        let assets: Vec<AssetId> = self
            .blobs
            .entries()
            .into_iter()
            .filter(|entry| entry.kind == BlobKind::Metadata)
            .map(|entry| entry.asset)
            .collect();
        self.index.clear()?;
        let mut report = Reindexed::default();
        let mut batch = Vec::with_capacity(1000);
        for id in assets {
            done();
            match self.indexable(id) {
                Ok(Some(doc)) => {
                    batch.push(doc);
                    report.indexed += 1;
                }
                Ok(None) => report.not_active += 1,
                Err(error) => {
                    unreadable(id, &error);
                    report.unreadable += 1;
                }
            }
            if batch.len() == batch.capacity() {
                self.index.upsert_many(&batch)?;
                batch.clear();
            }
        }
        self.index.upsert_many(&batch)?;
        self.index.merge_segments()?;
        Ok(report)
    }
}

/// Only active assets are public: a held or rejected one (never public) is not found, one
/// that left is gone.
pub(crate) fn public(record: &AssetRecord, asset: AssetId) -> Result<()> {
    match record.status {
        AssetStatus::Active => Ok(()),
        AssetStatus::Pending | AssetStatus::Rejected => Err(PlatformError::NoAsset(asset)),
        _ => Err(PlatformError::Gone(asset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::RECORD_VERSION;

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
        let record = MetadataRecord {
            version: RECORD_VERSION,
            id: None,
            media_type: "image/jpeg".into(),
            bytes: 1,
            blake3: String::new(),
            source_file: String::new(),
            ingested_at: 5,
            status: AssetStatus::Active,
            width: 3000,
            height: 2000,
            auto_keywords: ["landscape", "medium", "blue", "white"]
                .map(String::from)
                .into(),
            author_id: None,
            duplicates: Vec::new(),
            metadata,
        };
        let doc = asset_doc(AssetId::from_u64(7), &record);
        assert_eq!(
            doc.keywords,
            ["sea", "blue", "landscape", "medium", "white"]
        );
        assert_eq!(doc.colors, [Color::Blue, Color::White]);
        assert_eq!(doc.author.id, "ann-author");
        assert_eq!((doc.width, doc.created_at), (3000, 5));
    }
}
