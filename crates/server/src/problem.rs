//! Errors as the client sees them: `application/problem+json` (RFC 9457) with `type`,
//! `title`, `status` and `detail`. `type` names the error: `/problems/{slug}`, one of
//! [`TYPES`], each a page the server serves (`GET /problems/{slug}`) and an entry of the
//! OpenAPI document's `Problem.type` enum. The library crates' errors know their class; only this
//! module maps classes to statuses. A 5xx hides its cause from the client (it may name
//! paths or SQL) and logs it with a reference the client is given instead.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use stockroom_catalog::CatalogError;
use stockroom_index::{ErrorClass as IndexClass, IndexError};
use stockroom_platform::{ErrorClass as PlatformClass, PlatformError};
use stockroom_render::RenderError;

use crate::body::Body;
use crate::token::TokenError;

/// An answer other than success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The status answered.
    pub status: StatusCode,
    /// What the client is told (for a 5xx only a reference to the log).
    pub detail: String,
    /// The asset the answer is about, where the client needs it (the one an upload
    /// duplicates); an extension member of the problem.
    pub id: Option<String>,
    /// `Retry-After`, seconds (a limit was reached).
    pub retry_after: Option<u32>,
    /// The rate limit that refused the request, for its `RateLimit` headers.
    pub rate_limit: Option<stockroom_guard::Limit>,
    /// `Allow` of a `405`: the methods the path has.
    pub allow: Option<&'static str>,
    /// The problem type where the status alone does not name it (`duplicate`,
    /// `blocked-image`, ...): its place in [`TYPES`] (kept small: every handler returns
    /// this type).
    pub kind: Option<u8>,
}

/// Every problem type: its slug (the `type` is `/problems/{slug}`) and what it means.
pub const TYPES: &[(&str, &str)] = &[
    (
        "invalid-request",
        "The request does not parse or validate: a parameter is unknown, missing, empty or out of range, or the body is malformed. The detail names what. Fix the request; sending it again as it is will fail again.",
    ),
    (
        "unauthenticated",
        "No API key was given, or the key is not known. Send `Authorization: Bearer <key>`.",
    ),
    (
        "forbidden",
        "The key is known but may not do this: another member's resource, a role the key lacks, or a tier whose terms do not allow it.",
    ),
    (
        "membership-blocked",
        "The membership is blocked by a moderator: no downloads or uploads until it is cleared. Contact support to ask why.",
    ),
    (
        "not-found",
        "No such resource, or none this caller may see.",
    ),
    (
        "method-not-allowed",
        "The path exists, but not for this method; `Allow` lists the methods it has.",
    ),
    (
        "conflict",
        "The request conflicts with the resource's state (an asset already decided, an entry already lifted).",
    ),
    (
        "duplicate",
        "This image is already an asset (the same bytes); `id` names it.",
    ),
    (
        "blocked-image",
        "This image, or one it nearly duplicates, was taken down or is on an imported hash list; the detail names the blocklist entry. A moderator can lift it.",
    ),
    (
        "gone",
        "The asset was withdrawn or taken down; licences issued for it stay valid.",
    ),
    ("too-large", "The body is larger than the server accepts."),
    (
        "target-too-long",
        "The request target (path and query) is longer than the server reads.",
    ),
    (
        "unsupported-type",
        "The body is not a JPEG, PNG or WebP image.",
    ),
    (
        "range-not-satisfiable",
        "The `Range` asked for no byte of the file.",
    ),
    (
        "bad-image",
        "The image does not decode, or is larger than the limits (pixels, sides) allow.",
    ),
    (
        "rate-limited",
        "Too many requests for this key or network; `Retry-After` says when to try again and the `RateLimit` fields say how many remain.",
    ),
    (
        "quota-exceeded",
        "The membership's download quota for the period is spent; `Retry-After` says when it renews.",
    ),
    (
        "head-too-large",
        "The request head (request line and headers) is larger than the server reads.",
    ),
    (
        "internal",
        "A failure of the server's; the detail gives a reference to its log. Trying again may work.",
    ),
    (
        "unavailable",
        "The server cannot answer now (starting, stopping, or a backend is down); `Retry-After` says when to try again.",
    ),
    (
        "disk-full",
        "The server's disk is full; nothing was stored.",
    ),
];

/// The slug a status names when nothing more specific does.
fn slug_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid-request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        409 => "conflict",
        410 => "gone",
        413 => "too-large",
        414 => "target-too-long",
        415 => "unsupported-type",
        416 => "range-not-satisfiable",
        422 => "bad-image",
        429 => "rate-limited",
        431 => "head-too-large",
        503 => "unavailable",
        507 => "disk-full",
        _ => "internal",
    }
}

/// Where `slug` is in [`TYPES`].
fn type_index(slug: &str) -> Option<u8> {
    let index = TYPES.iter().position(|(known, _)| *known == slug);
    debug_assert!(index.is_some(), "{slug} is not a problem type");
    index.and_then(|index| u8::try_from(index).ok())
}

/// `/problems/{slug}`.
fn type_uri(slug: &str) -> String {
    format!("/problems/{slug}")
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

impl ApiError {
    /// An answer of `status` telling `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            id: None,
            retry_after: None,
            rate_limit: None,
            allow: None,
            kind: None,
        }
    }

    /// The same answer, of the problem type `slug` (one of [`TYPES`]).
    pub fn of_type(self, slug: &'static str) -> ApiError {
        ApiError {
            kind: type_index(slug),
            ..self
        }
    }

    /// The problem type's slug.
    pub fn slug(&self) -> &'static str {
        self.kind
            .and_then(|index| TYPES.get(usize::from(index)))
            .map_or_else(|| slug_of(self.status), |(slug, _)| *slug)
    }

    /// The same answer, naming asset `id`.
    pub fn with_id(self, id: String) -> ApiError {
        ApiError {
            id: Some(id),
            ..self
        }
    }

    /// `400`: the request does not parse or validate.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// `404`: no such resource (for this caller).
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// `401`: no key, or one that is not known.
    pub fn unauthenticated(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// `403`: the caller is known but may not do this.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// A failure of ours: the cause goes to the log under a reference; the client gets the
    /// reference only.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let reference = NEXT.fetch_add(1, Ordering::Relaxed);
        tracing::error!(reference, %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error #{reference}; the server log has the details"),
        )
    }

    /// The `application/problem+json` response, with `Retry-After` and the rate-limit fields
    /// when a limit refused it.
    pub fn into_response(self) -> http::Response<Body> {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let json = serde_json::to_vec(&Problem {
            kind: type_uri(self.slug()),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            id: self.id.as_deref(),
        })
        .unwrap_or_default();
        let mut response = http::Response::new(Body::from(json));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(limit) = &self.rate_limit {
            crate::ratelimit::stamp(headers, limit, None);
        }
        response
    }
}

/// A catalogue error answers as the platform's wrapping of it does: one mapping of
/// classes to statuses, problem types and `Retry-After` (503 while the database is down).
impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> ApiError {
        ApiError::from(PlatformError::Catalog(error))
    }
}

impl From<PlatformError> for ApiError {
    fn from(error: PlatformError) -> ApiError {
        let status = match error.class() {
            PlatformClass::BadInput => StatusCode::BAD_REQUEST,
            PlatformClass::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PlatformClass::BadImage => StatusCode::UNPROCESSABLE_ENTITY,
            PlatformClass::Unauthenticated => StatusCode::UNAUTHORIZED,
            PlatformClass::Forbidden => StatusCode::FORBIDDEN,
            PlatformClass::NotFound => StatusCode::NOT_FOUND,
            PlatformClass::Gone => StatusCode::GONE,
            PlatformClass::Conflict => StatusCode::CONFLICT,
            PlatformClass::Limited => StatusCode::TOO_MANY_REQUESTS,
            PlatformClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PlatformClass::Full => {
                return ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the disk is full; nothing was stored",
                );
            }
            _ => return ApiError::internal(&error),
        };
        let detail = match &error {
            PlatformError::Image(RenderError::UnsupportedFormat) => {
                "the body is not a JPEG, PNG or WebP image".to_string()
            }
            _ => error.to_string(),
        };
        let kind = match &error {
            PlatformError::Blocked { .. } => type_index("blocked-image"),
            PlatformError::Catalog(CatalogError::Blocked(_)) => type_index("membership-blocked"),
            PlatformError::Catalog(CatalogError::QuotaExceeded { .. }) => {
                type_index("quota-exceeded")
            }
            _ => None,
        };
        ApiError {
            retry_after: error.retry_after_secs(),
            kind,
            ..ApiError::new(status, detail)
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(error: IndexError) -> ApiError {
        match error.class() {
            IndexClass::BadInput => ApiError::bad_request(error.to_string()),
            _ => ApiError::internal(&error),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> ApiError {
        ApiError::forbidden(error.to_string())
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> ApiError {
        ApiError::internal(&error)
    }
}

/// hyper answers a request head it cannot parse by itself, before any handler runs: `400`
/// (a malformed request line or header), `414` (a target over 65,534 bytes) or `431` (a
/// head over the server's limit), each with `content-length: 0` and no body. Given the
/// bytes of such a head as hyper writes them, this returns the same answer as a problem
/// (`application/problem+json`), as every other error is; `None` for anything else, which
/// includes every answer a handler made (a handler's problems always have a body).
pub fn rewrite_automatic(written: &[u8]) -> Option<Vec<u8>> {
    let head_len = written.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_len != written.len() {
        return None;
    }
    let text = std::str::from_utf8(written).ok()?;
    let mut lines = text[..head_len - 4].split("\r\n");
    let status_line = lines.next()?;
    let code = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let (status, detail) = match code {
        "400" => (
            StatusCode::BAD_REQUEST,
            "the request does not parse as HTTP/1.1: its request line or a header is malformed",
        ),
        "414" => (
            StatusCode::URI_TOO_LONG,
            "the request target is longer than 65,534 bytes",
        ),
        "431" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head (request line and headers) is larger than the server reads",
        ),
        _ => return None,
    };
    let mut kept = Vec::new();
    let mut empty = false;
    for line in lines {
        if line.eq_ignore_ascii_case("content-length: 0") {
            empty = true;
        } else {
            kept.push(line);
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::to_vec(&Problem {
        kind: type_uri(slug_of(status)),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        id: None,
    })
    .ok()?;
    let mut out = Vec::with_capacity(head_len + 160 + body.len());
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in kept {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-type: application/problem+json\r\ncache-control: no-store\r\n\
             x-content-type-options: nosniff\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type an answer can carry is in [`TYPES`], and the OpenAPI document's
    /// `Problem.type` enum lists exactly those.
    #[test]
    fn every_problem_type_is_named_served_and_documented() {
        let known = |slug: &str| TYPES.iter().any(|(known, _)| *known == slug);
        for code in 400..600 {
            if let Ok(status) = StatusCode::from_u16(code) {
                assert!(known(slug_of(status)), "{code}");
            }
        }
        let document: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("the document");
        let listed: Vec<&str> = document["components"]["schemas"]["Problem"]["properties"]["type"]
            ["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        let served: Vec<String> = TYPES.iter().map(|(slug, _)| type_uri(slug)).collect();
        assert_eq!(listed, served);
        assert_eq!(ApiError::not_found("gone missing").slug(), "not-found");
        let duplicate = ApiError::new(StatusCode::CONFLICT, "twice").of_type("duplicate");
        assert_eq!(type_uri(duplicate.slug()), "/problems/duplicate");
    }

    #[test]
    fn hyper_answers_without_a_body_become_problems() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 16:00:00 GMT\r\n\r\n";
        let rewritten = rewrite_automatic(hyper).expect("rewritten");
        let text = String::from_utf8(rewritten).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("\r\ndate: Sat, 05 Dec 2026 16:00:00 GMT"));
        assert!(head.contains("\r\ncontent-type: application/problem+json"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(problem["status"], 431);
        for code in ["400 Bad Request", "414 URI Too Long"] {
            let head = format!("HTTP/1.1 {code}\r\ncontent-length: 0\r\n\r\n");
            assert!(rewrite_automatic(head.as_bytes()).is_some(), "{code}");
        }
        // A handler's answers are left alone: with a body, another status, or more bytes
        // after the head.
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert_eq!(rewrite_automatic(other), None);
        }
    }
}
