//! Authors' uploads and the moderators' duplicate work: `POST /v1/assets`,
//! `POST /v1/moderation/duplicates`, `GET /v1/moderation/queue`,
//! `POST /v1/moderation/assets/{id}/approve`, and `GET /v1/assets/{id}/similar`. The
//! pipeline behind them is the platform's; this module reads requests (bodies within the
//! upload limit, one permit each) and shapes answers.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use stockroom_platform::fingerprint::Candidate;
use stockroom_platform::metadata::AssetMetadata;
use stockroom_platform::{Admitted, Upload};
use stockroom_vocab::AssetId;

use crate::App;
use crate::auth;
use crate::body::Body;
use crate::call::{Call, Query, json};
use crate::cards::Card;
use crate::problem::ApiError;

/// The query parameters `POST /v1/assets` takes (DESIGN §6); any other is refused, so a
/// misspelt one is not silently dropped.
const UPLOAD_PARAMETERS: [&str; 8] = [
    "title",
    "keywords",
    "description",
    "language",
    "collection",
    "editorial_only",
    "model_release",
    "property_release",
];

/// Most results `similar` gives, and its default.
const MAX_SIMILAR: usize = 100;
const DEFAULT_SIMILAR: usize = 20;

/// Most held assets one queue page lists, and its default.
const MAX_QUEUE_PAGE: u32 = 100;
const DEFAULT_QUEUE_PAGE: u32 = 50;

/// `POST /v1/assets`: an author uploads an image (the body) with its metadata (the query).
/// `201` active, `202` held for review with its near duplicates, `409` naming the asset
/// that already has these bytes. Answered only once the bytes and the catalogue row are
/// durable.
pub async fn upload(mut call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    stockroom_catalog::terms::may_upload(&principal.roles, principal.status)?;
    // Metadata is checked before a byte of the body is read.
    let metadata = upload_fields(&call.query())?;
    let app = call.app.clone();
    let _permit = upload_permit(&app).await?;
    let image = read_image(&mut call).await?;
    let admitted = call
        .blocking(move |app| {
            Ok(app.platform.upload(Upload {
                image: &image,
                author: &principal,
                metadata,
            })?)
        })
        .await?;
    #[derive(Serialize)]
    struct Stored<'a> {
        id: AssetId,
        status: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        duplicates: Option<&'a [Candidate]>,
    }
    let (status, id, stored) = match &admitted {
        Admitted::Active { id } => (
            StatusCode::CREATED,
            id,
            Stored {
                id: *id,
                status: "active",
                duplicates: None,
            },
        ),
        Admitted::Pending { id, duplicates } => (
            StatusCode::ACCEPTED,
            id,
            Stored {
                id: *id,
                status: "pending",
                duplicates: Some(duplicates),
            },
        ),
        Admitted::Duplicate { existing } => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("this image is already asset {existing}"),
            )
            .of_type("duplicate")
            .with_id(existing.to_string()));
        }
    };
    let mut response = json(status, &stored);
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v1/assets/{id}"))
            .map_err(|error| ApiError::internal(&error))?,
    );
    Ok(response)
}

/// The upload's metadata from the query string.
fn upload_fields(query: &Query) -> Result<AssetMetadata, ApiError> {
    if let Some(unknown) = query.names().find(|name| !UPLOAD_PARAMETERS.contains(name)) {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {unknown:?}; an upload takes: {}",
            UPLOAD_PARAMETERS.join(", ")
        )));
    }
    let flag = |name| {
        query
            .parsed(name, str::parse::<bool>)
            .map(Option::unwrap_or_default)
    };
    let metadata = AssetMetadata {
        title: query
            .get("title")
            .ok_or_else(|| ApiError::bad_request("parameter title is required"))?
            .to_string(),
        description: query.get("description").unwrap_or_default().to_string(),
        keywords: query
            .get("keywords")
            .map(|list| list.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        language: query.parsed("language", str::parse)?.unwrap_or_default(),
        collection: query.parsed("collection", str::parse)?.unwrap_or_default(),
        editorial_only: flag("editorial_only")?,
        model_release: flag("model_release")?,
        property_release: flag("property_release")?,
        ..AssetMetadata::default()
    };
    // Checked now, before the body is read; the platform checks again (it is its rule).
    metadata.clone().validated()?;
    Ok(metadata)
}

/// The image body, within the upload limit.
async fn read_image(call: &mut Call) -> Result<Bytes, ApiError> {
    let image = call.body(call.app.options.max_upload_bytes).await?;
    if image.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is the image (JPEG, PNG or WebP); it was empty",
        ));
    }
    Ok(image)
}

/// Waits for one of the upload permits, held from reading the body until the answer, so
/// bodies in memory never number more than `concurrent_uploads`.
pub(crate) async fn upload_permit(app: &App) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    app.uploads
        .acquire()
        .await
        .map_err(|error| ApiError::internal(&error))
}

/// `POST /v1/moderation/duplicates`: the catalogue's near duplicates of the image in the
/// body, nearest first (DESIGN §6). Nothing is stored.
pub async fn duplicates(mut call: Call) -> Result<Response<Body>, ApiError> {
    auth::moderator(&call).await?;
    let app = call.app.clone();
    let _permit = upload_permit(&app).await?;
    let image = read_image(&mut call).await?;
    let report = call
        .blocking(move |app| Ok(app.platform.duplicates(&image)?))
        .await?;
    #[derive(Serialize)]
    struct Answer {
        query: &'static str,
        #[serde(flatten)]
        report: stockroom_platform::fingerprint::DuplicateReport,
    }
    Ok(json(
        StatusCode::OK,
        &Answer {
            query: "upload",
            report,
        },
    ))
}

/// One held asset in the moderation queue.
#[derive(Serialize)]
struct Held {
    #[serde(flatten)]
    held: stockroom_platform::Held,
    /// Served to moderators only (with their key), never cached.
    thumb_url: String,
}

/// `GET /v1/moderation/queue?cursor=ID&limit=N`: uploads held for review, oldest first,
/// each with the near duplicates that hold it.
pub async fn queue(call: Call) -> Result<Response<Body>, ApiError> {
    auth::moderator(&call).await?;
    let query = call.query();
    let after = query.parsed("cursor", |id| {
        id.parse::<AssetId>().map_err(|_| "not an asset id")
    })?;
    let limit = query
        .in_range("limit", 1..=MAX_QUEUE_PAGE)?
        .unwrap_or(DEFAULT_QUEUE_PAGE);
    let held = call
        .blocking(move |app| Ok(app.platform.queue(after, limit)?))
        .await?;
    let held: Vec<Held> = held
        .into_iter()
        .map(|held| Held {
            thumb_url: format!("/v1/previews/{}/thumb.jpg", held.record.id),
            held,
        })
        .collect();
    #[derive(Serialize)]
    struct Page {
        /// Pass as `cursor` for the next page (absent on the last).
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        held: Vec<Held>,
    }
    let next = crate::call::next_position(&held, limit, |item| item.held.record.id);
    Ok(call.paged(
        &Page {
            next: next.clone(),
            held,
        },
        next.as_deref(),
    ))
}

/// `POST /v1/moderation/assets/{id}/approve`: a held upload goes public (and searchable).
pub async fn approve(call: Call) -> Result<Response<Body>, ApiError> {
    let moderator = auth::moderator(&call).await?;
    let asset = call.asset_id(3)?;
    call.blocking(move |app| Ok(app.platform.approve(asset, &moderator)?))
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "id": asset, "status": "active" }),
    ))
}

/// `POST /v1/moderation/assets/{id}/reject?reason=`: a held upload is turned down (not a
/// takedown); its author reads the reason on their asset.
pub async fn reject(call: Call) -> Result<Response<Body>, ApiError> {
    let moderator = auth::moderator(&call).await?;
    let asset = call.asset_id(3)?;
    let reason = call
        .query()
        .get("reason")
        .ok_or_else(|| ApiError::bad_request("parameter reason is required (its author reads it)"))?
        .to_string();
    call.blocking(move |app| Ok(app.platform.reject(asset, &moderator, &reason)?))
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "id": asset, "status": "rejected" }),
    ))
}

/// `GET /v1/assets/{id}/similar?limit=N`: public assets that look alike (PDQ), then those
/// described alike (keywords).
pub async fn similar(call: Call) -> Result<Response<Body>, ApiError> {
    let asset = call.asset_id(2)?;
    let limit = call
        .query()
        .in_range("limit", 1..=MAX_SIMILAR)?
        .unwrap_or(DEFAULT_SIMILAR);
    let found = call
        .blocking(move |app| Ok(app.platform.similar(asset, limit)?))
        .await?;
    #[derive(Serialize)]
    struct Found {
        #[serde(flatten)]
        card: Card,
        by: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        distance: Option<u32>,
    }
    let results: Vec<Found> = found
        .into_iter()
        .map(|similar| Found {
            card: Card::new(similar.asset),
            by: similar.by,
            distance: similar.distance,
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "results": results }),
    ))
}
