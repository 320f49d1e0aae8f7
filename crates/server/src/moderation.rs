//! The blocklist and the audit history over HTTP (moderators only): list and lift entries,
//! import a shared PDQ hash list, read who did what and why.

use http::{Response, StatusCode};
use serde::Serialize;
use stockroom_catalog::{AuditEntry, AuditFilter, BlockEntry};

use crate::auth;
use crate::body::Body;
use crate::call::{Call, Query, json};
use crate::problem::ApiError;

/// Entries or actions per page unless asked otherwise, and at most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;
/// Largest hash list one request imports (about 100,000 lines).
const MAX_LIST_BYTES: u64 = 8 << 20;

/// The actions the audit history records.
pub(crate) const ACTIONS: &[&str] = &[
    "approve",
    "reject",
    "takedown",
    "block",
    "clear",
    "lift",
    "import",
    "membership",
];

#[derive(Serialize)]
struct Page<T> {
    results: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `cursor`: the opaque position a previous page's `next` gave (a positive number).
fn cursor(query: &Query) -> Result<Option<i64>, ApiError> {
    query.in_range("cursor", 1..=i64::MAX)
}

fn page<T>(results: Vec<T>, limit: u32, position: impl Fn(&T) -> i64) -> Page<T> {
    let next = crate::call::next_position(&results, limit, position);
    Page { results, next }
}

/// `GET /v1/moderation/blocklist?cursor=&limit=`: entries newest first, lifted ones too.
pub async fn blocklist(call: Call) -> Result<Response<Body>, ApiError> {
    auth::moderator(&call).await?;
    let query = call.query();
    let before = cursor(&query)?;
    let limit = query
        .in_range("limit", 1..=MAX_PAGE)?
        .unwrap_or(DEFAULT_PAGE);
    let entries = call
        .blocking(move |app| Ok(app.platform.blocklist_entries(before, limit)?))
        .await?;
    let page = page(entries, limit, |entry: &BlockEntry| entry.id);
    Ok(call.paged(&page, page.next.as_deref()))
}

/// `POST /v1/moderation/blocklist?source=LABEL`: imports a PDQ hash list (the body, one
/// hash a line) onto the blocklist.
pub async fn import(mut call: Call) -> Result<Response<Body>, ApiError> {
    let moderator = auth::moderator(&call).await?;
    let source = call
        .query()
        .get("source")
        .ok_or_else(|| ApiError::bad_request("parameter source is required (the list's label)"))?
        .to_string();
    let body = call.body(MAX_LIST_BYTES).await?;
    let list = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the list is not UTF-8 text"))?;
    let ids = call
        .blocking(move |app| Ok(app.platform.import_blocklist(&moderator, &source, &list)?))
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({
            "imported": ids.len(),
            "first": ids.first(),
            "last": ids.last(),
        }),
    ))
}

/// `POST /v1/moderation/blocklist/{id}/lift?reason=`: the entry stops refusing uploads.
pub async fn lift(call: Call) -> Result<Response<Body>, ApiError> {
    let moderator = auth::moderator(&call).await?;
    let entry: i64 = call
        .segment(3)
        .parse()
        .map_err(|_| ApiError::not_found("no such blocklist entry"))?;
    let reason = call
        .query()
        .get("reason")
        .ok_or_else(|| ApiError::bad_request("parameter reason is required"))?
        .to_string();
    let lifted = call
        .blocking(move |app| Ok(app.platform.lift_block(entry, &moderator, &reason)?))
        .await?;
    Ok(json(StatusCode::OK, &lifted))
}

/// `GET /v1/moderation/audit?moderator=&action=&target=&cursor=&limit=`: moderator actions,
/// newest first.
pub async fn audit(call: Call) -> Result<Response<Body>, ApiError> {
    auth::moderator(&call).await?;
    let query = call.query();
    let action = query.parsed("action", |action| {
        ACTIONS
            .iter()
            .find(|known| **known == action)
            .map(|known| (*known).to_string())
            .ok_or_else(|| format!("expected one of {}", ACTIONS.join(", ")))
    })?;
    let filter = AuditFilter {
        moderator: query.get("moderator").map(str::to_string),
        action,
        target: query.get("target").map(str::to_string),
        before: cursor(&query)?,
    };
    let limit = query
        .in_range("limit", 1..=MAX_PAGE)?
        .unwrap_or(DEFAULT_PAGE);
    let actions = call
        .blocking(move |app| Ok(app.platform.audit_history(&filter, limit)?))
        .await?;
    let page = page(actions, limit, |entry: &AuditEntry| entry.seq);
    Ok(call.paged(&page, page.next.as_deref()))
}
