//! The server's upload pipeline: [`Admission`] (what `stockroom ingest` runs over files)
//! behind the server's [`Intake`] trait, with its errors sorted into the classes the
//! server answers by.

use stockroom_index::{Author, Collection, Language};
use stockroom_render::{Limits, RenderError};
use stockroom_server::{
    Admitted, Candidate, DuplicateReport, Intake, IntakeError, Similar, Upload,
};
use stockroom_store::{AssetId, Kind};

use crate::fingerprint;
use crate::ingest::{self, Admission, Outcome};
use crate::manifest::{self, AssetMetadata};
use crate::search::{self, StoredAsset};

impl Intake for Admission {
    fn upload(&self, upload: Upload) -> Result<Admitted, IntakeError> {
        let fields = upload.fields;
        let metadata = AssetMetadata {
            title: fields.title,
            description: fields.description,
            keywords: fields.keywords,
            author: upload.author_name.clone(),
            collection: match fields.collection {
                Collection::Free => manifest::Collection::Free,
                Collection::Unlimited => manifest::Collection::Unlimited,
            },
            language: match fields.language {
                Language::En => manifest::Language::En,
                Language::De => manifest::Language::De,
            },
            editorial_only: fields.editorial_only,
            model_release: fields.model_release,
            property_release: fields.property_release,
            ..AssetMetadata::default()
        }
        .validated()
        .map_err(|error| IntakeError::BadInput(format!("{error:#}")))?;
        let author = Author {
            id: upload.author_id,
            name: upload.author_name,
        };
        let outcome = self
            .admit(&upload.image, &metadata, &author, "upload")
            .map_err(classify)?;
        if matches!(outcome, Outcome::Stored { .. }) {
            // Its card and search results show it as soon as the author is answered.
            self.commit_search()?;
        }
        let id = |text: &str| {
            text.parse::<AssetId>()
                .map_err(|_| IntakeError::Internal(format!("admission returned id {text:?}")))
        };
        match outcome {
            Outcome::Stored { id: stored } => Ok(Admitted::Active { id: id(&stored)? }),
            Outcome::Pending {
                id: stored,
                duplicates,
            } => Ok(Admitted::Pending {
                id: id(&stored)?,
                duplicates,
            }),
            Outcome::Duplicate { id: existing } => Ok(Admitted::Duplicate {
                existing: id(&existing)?,
            }),
            Outcome::Failed { error } => Err(IntakeError::Internal(error)),
            Outcome::Skipped { reason } => Err(IntakeError::Internal(reason)),
        }
    }

    fn duplicates(&self, image: &[u8]) -> Result<DuplicateReport, IntakeError> {
        let hashed = fingerprint::hash_bytes(image, &Limits::default()).map_err(classify)?;
        let matches = fingerprint::candidates(
            &self.duplicate_index(),
            &hashed.fingerprint,
            self.threshold(),
            |asset| self.exists(asset),
        );
        Ok(DuplicateReport {
            quality: hashed.fingerprint.pdq.quality,
            matches,
        })
    }

    fn similar(&self, asset: AssetId, limit: usize) -> Result<Vec<Similar>, IntakeError> {
        search::similar(
            &self.store,
            &self.duplicate_index(),
            &self.search,
            asset,
            limit,
        )
        .map_err(classify)
    }

    fn held_by(&self, asset: AssetId) -> Result<Vec<Candidate>, IntakeError> {
        let record = self
            .store
            .get(asset, Kind::Metadata)
            .ok_or_else(|| IntakeError::NotFound(format!("asset {asset} has no record")))?;
        let stored: StoredAsset = serde_json::from_slice(&record).map_err(|error| {
            IntakeError::Internal(format!("asset {asset}'s metadata record: {error}"))
        })?;
        // A duplicate taken down since holds nothing any more.
        Ok(stored
            .duplicates
            .into_iter()
            .filter(|candidate| {
                candidate
                    .asset_id
                    .parse()
                    .is_ok_and(|other: AssetId| self.exists(other))
            })
            .collect())
    }

    fn released(&self, asset: AssetId) -> Result<(), IntakeError> {
        let doc = search::indexable(&self.store, &self.catalog, asset)
            .map_err(classify)?
            .ok_or_else(|| IntakeError::NotFound(format!("asset {asset} is not active")))?;
        self.search
            .upsert(&doc)
            .map_err(|error| IntakeError::Internal(error.to_string()))?;
        self.commit_search()
    }

    fn forget(&self, asset: AssetId) -> Result<(), IntakeError> {
        self.duplicate_index()
            .remove(asset.as_u64())
            .map_err(|error| IntakeError::Internal(error.to_string()))
    }
}

impl Admission {
    fn commit_search(&self) -> Result<(), IntakeError> {
        self.search
            .commit()
            .map_err(|error| IntakeError::Internal(format!("committing the search index: {error}")))
    }
}

/// Sorts a pipeline failure into the class the server answers by: the image's fault
/// (`415`, `422`), a full disk (`507`), or ours.
fn classify(error: anyhow::Error) -> IntakeError {
    let render = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<RenderError>());
    match render {
        Some(RenderError::UnsupportedFormat) => {
            IntakeError::UnsupportedType("the body is not a JPEG, PNG or WebP image".into())
        }
        Some(render) if render.is_bad_input() => IntakeError::BadImage(render.to_string()),
        _ if ingest::is_disk_full(&error) => {
            IntakeError::Full("the disk is full; nothing was stored".into())
        }
        _ => IntakeError::Internal(format!("{error:#}")),
    }
}
