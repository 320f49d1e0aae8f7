//! What an asset is said to be: the metadata its author submits ([`AssetMetadata`],
//! validated the same way whether it comes from a manifest or an upload's query string),
//! and the record kept in the blob store beside its original ([`MetadataRecord`], kind
//! `metadata`), from which the search index can be rebuilt. The record's fields are
//! described one by one in `docs/format.md`.

use serde::{Deserialize, Serialize};
use stockroom_vocab::{AssetId, AssetStatus, Collection, Language};

use crate::error::{PlatformError, Result};
use crate::fingerprint::Candidate;

/// Limits that keep a hostile or broken manifest or upload from making absurd assets.
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 5_000;
const MAX_KEYWORDS: usize = 50;
const MAX_KEYWORD_CHARS: usize = 64;

/// An asset's submitted metadata. Unknown fields are ignored here (a record flattens it,
/// beside its own fields); an input that must refuse them, a manifest, checks
/// [`AssetMetadata::is_field`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetMetadata {
    /// Shown on cards and weighed most in search.
    pub title: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The author's keywords (lower case, distinct once validated).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The credited author's name (an ingested file's; an upload credits its member).
    #[serde(default)]
    pub author: String,
    /// Who may download it.
    #[serde(default)]
    pub collection: Collection,
    /// The language of its words, which decides their stemming.
    #[serde(default)]
    pub language: Language,
    /// Licensed for editorial use only.
    #[serde(default)]
    pub editorial_only: bool,
    /// The people shown signed a release.
    #[serde(default)]
    pub model_release: bool,
    /// The property shown has a release.
    #[serde(default)]
    pub property_release: bool,
    /// Ingest only: the member id to credit (an author member), instead of a slug of
    /// `author`; the member's name is then the credit. Never stored in the record (its
    /// `author_id` is that id).
    #[serde(default, skip_serializing)]
    pub author_member: Option<String>,
    /// A copyright line, as a manifest may give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    /// The licence the file came under (bundled corpus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Where the file came from (bundled corpus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl AssetMetadata {
    /// Whether `name` is one of the fields (read off the struct's own serialisation, so it
    /// cannot fall behind them).
    pub fn is_field(name: &str) -> bool {
        let every = AssetMetadata {
            copyright: Some(String::new()),
            license: Some(String::new()),
            source: Some(String::new()),
            ..AssetMetadata::default()
        };
        // `author_member` is read but never written (see the field).
        match serde_json::to_value(every) {
            Ok(serde_json::Value::Object(fields)) => {
                fields.contains_key(name) || name == "author_member"
            }
            _ => false,
        }
    }

    /// Metadata for a file that no manifest describes: its name as title.
    pub fn from_file_name(path: &std::path::Path) -> AssetMetadata {
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
        let bad = |why: String| Err(PlatformError::BadMetadata(why));
        self.title = self.title.trim().to_string();
        if self.title.is_empty() {
            return bad("title is empty".into());
        }
        if self.title.chars().count() > MAX_TITLE_CHARS {
            return bad(format!("title is longer than {MAX_TITLE_CHARS} characters"));
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return bad(format!(
                "description is longer than {MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        let mut keywords: Vec<String> = Vec::with_capacity(self.keywords.len());
        for keyword in &self.keywords {
            let keyword = keyword.trim().to_lowercase();
            if keyword.is_empty() || keywords.contains(&keyword) {
                continue;
            }
            if keyword.chars().count() > MAX_KEYWORD_CHARS {
                return bad(format!(
                    "keyword {keyword:?} is longer than {MAX_KEYWORD_CHARS} characters"
                ));
            }
            keywords.push(keyword);
        }
        if keywords.len() > MAX_KEYWORDS {
            return bad(format!("more than {MAX_KEYWORDS} keywords"));
        }
        self.keywords = keywords;
        Ok(self)
    }
}

/// The version [`MetadataRecord`]s are written at. Records without a `version` field were
/// written before it existed and read as version 1 (the same fields, each optional as
/// their history made them).
pub const RECORD_VERSION: u32 = 2;

fn version_one() -> u32 {
    1
}

/// The record kept beside an original (kind `metadata`, JSON): one struct for writing and
/// reading. Unknown fields are ignored, so a newer build's additions do not stop an older
/// one; a newer `version` is refused rather than read wrongly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataRecord {
    /// [`RECORD_VERSION`] when written; 1 when absent.
    #[serde(default = "version_one")]
    pub version: u32,
    /// The asset's id (absent in no record written so far, but not relied on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AssetId>,
    /// The original's media type (`image/jpeg`, …).
    #[serde(default)]
    pub media_type: String,
    /// The original's size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// blake3 of the original, lowercase hex.
    #[serde(default)]
    pub blake3: String,
    /// The uploaded file's name (`upload` for an upload).
    #[serde(default)]
    pub source_file: String,
    /// When it was admitted, Unix seconds.
    #[serde(default)]
    pub ingested_at: u64,
    /// `active`, or `pending` when near duplicates held it, as admitted (the catalogue's
    /// status is the current one).
    pub status: AssetStatus,
    /// Displayed size (after EXIF orientation); 0 in records written before search.
    #[serde(default)]
    pub width: u32,
    /// Displayed height; 0 in records written before search.
    #[serde(default)]
    pub height: u32,
    /// Orientation, size class, dominant colours.
    #[serde(default)]
    pub auto_keywords: Vec<String>,
    /// The credited author's id; absent before uploads (then the slug of `author`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    /// The near duplicates that held it for review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<Candidate>,
    /// What was submitted, with `author` the credited name.
    #[serde(flatten)]
    pub metadata: AssetMetadata,
}

impl MetadataRecord {
    /// The original's blake3 as bytes (`None` if the record's hex does not read).
    pub fn blake3_bytes(&self) -> Option<[u8; 32]> {
        blake3::Hash::from_hex(&self.blake3)
            .ok()
            .map(|hash| *hash.as_bytes())
    }

    /// The record's bytes, as stored.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings, numbers and lists always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a stored record of `asset`, of this version or an older one.
    pub fn decode(asset: AssetId, bytes: &[u8]) -> Result<MetadataRecord> {
        let record: MetadataRecord =
            serde_json::from_slice(bytes).map_err(|error| PlatformError::Record {
                asset,
                why: error.to_string(),
            })?;
        if record.version > RECORD_VERSION {
            return Err(PlatformError::Record {
                asset,
                why: format!(
                    "written at version {}; this build reads up to {RECORD_VERSION}",
                    record.version
                ),
            });
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record exactly as the build before versioned records wrote it (one held for
    /// review, so every field is present), and one from before search and uploads.
    const WRITTEN_BY_VERSION_ONE: &str = r#"{"id":"2d4001868026e1b1","media_type":"image/jpeg","bytes":612345,"blake3":"9f2c","source_file":"upload","ingested_at":1793491200,"status":"pending","width":3000,"height":2000,"auto_keywords":["landscape","large","blue"],"author_id":"m_0123456789abcdef","duplicates":[{"asset_id":"00000000000000ff","distance":12,"transform":"identity","query_region":"whole","asset_region":"whole","reliable":true}],"title":"Sea","description":"Waves","keywords":["sea"],"author":"Ann Author","collection":"unlimited","language":"de","editorial_only":true,"model_release":false,"property_release":true}"#;
    const BEFORE_SEARCH: &str = r#"{"id":"0000000000000007","media_type":"image/png","bytes":10,"blake3":"ab","source_file":"a.png","ingested_at":5,"status":"active","title":"Old","author":"Charles Barbin","license":"CC-BY"}"#;

    #[test]
    fn records_written_by_the_previous_build_read() {
        let asset = AssetId::from_u64(0x2d40_0186_8026_e1b1);
        let record =
            MetadataRecord::decode(asset, WRITTEN_BY_VERSION_ONE.as_bytes()).expect("reads");
        assert_eq!(record.version, 1);
        assert_eq!(record.status, AssetStatus::Pending);
        assert_eq!((record.width, record.height), (3000, 2000));
        assert_eq!(record.author_id.as_deref(), Some("m_0123456789abcdef"));
        assert_eq!(record.duplicates[0].distance, 12);
        assert_eq!(record.metadata.collection, Collection::Unlimited);
        assert_eq!(record.metadata.language, Language::De);
        assert!(record.metadata.editorial_only && record.metadata.property_release);
        let old =
            MetadataRecord::decode(AssetId::from_u64(7), BEFORE_SEARCH.as_bytes()).expect("reads");
        assert_eq!((old.width, old.author_id.as_deref()), (0, None));
        assert_eq!(old.metadata.license.as_deref(), Some("CC-BY"));
        assert_eq!(old.metadata.collection, Collection::Free);
    }

    #[test]
    fn a_record_round_trips_at_this_version_and_a_newer_one_is_refused() {
        let mut record =
            MetadataRecord::decode(AssetId::from_u64(1), WRITTEN_BY_VERSION_ONE.as_bytes())
                .expect("reads");
        record.version = RECORD_VERSION;
        let bytes = record.encode();
        assert_eq!(
            MetadataRecord::decode(AssetId::from_u64(1), &bytes).expect("back"),
            record
        );
        let newer = String::from_utf8(bytes)
            .expect("utf-8")
            .replace("\"version\":2", "\"version\":3");
        let error =
            MetadataRecord::decode(AssetId::from_u64(1), newer.as_bytes()).expect_err("newer");
        assert!(error.to_string().contains("version 3"), "{error}");
    }

    #[test]
    fn submitted_metadata_is_validated_and_normalised() {
        let metadata = AssetMetadata {
            title: "  Sea ".into(),
            keywords: vec!["Sea".into(), " sea".into(), "blue".into(), String::new()],
            ..AssetMetadata::default()
        }
        .validated()
        .expect("valid");
        assert_eq!(
            (metadata.title.as_str(), metadata.keywords.len()),
            ("Sea", 2)
        );
        for bad in [
            AssetMetadata::default(),
            AssetMetadata {
                title: "x".repeat(201),
                ..AssetMetadata::default()
            },
            AssetMetadata {
                title: "t".into(),
                keywords: (0..51).map(|n| n.to_string()).collect(),
                ..AssetMetadata::default()
            },
        ] {
            assert!(matches!(
                bad.validated(),
                Err(PlatformError::BadMetadata(_))
            ));
        }
    }
}
