//! Answering `GET`/`HEAD` for a stored representation (a preview or an original) whose
//! bytes and strong ETag are known: `If-None-Match` → `304`, `Range` → `206`/`416`
//! (honoured only while `If-Range` still names this representation), `HEAD` → the same
//! headers with no body.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use stockroom_guard::Pacer;
use stockroom_platform::RangeReader;

use crate::body::Body;
use crate::range::{self, RangeAnswer};

/// The bytes of a representation: in memory (a preview, or an original in the blob store's
/// mapping), or read in ranges as they are sent (an original in object storage).
#[derive(Debug)]
pub enum Content {
    Bytes(Bytes),
    Ranged {
        len: u64,
        reader: Arc<dyn RangeReader>,
    },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::Ranged { len, .. } => *len,
        }
    }
}

impl From<Bytes> for Content {
    fn from(bytes: Bytes) -> Content {
        Content::Bytes(bytes)
    }
}

/// What is served and how.
#[derive(Debug)]
pub struct Representation {
    pub content: Content,
    /// Quoted, strong: `"…"`.
    pub etag: HeaderValue,
    /// Content-Type, Cache-Control and the rest, copied onto every answer.
    pub headers: HeaderMap,
    /// Paces the body of a throttled download.
    pub pacer: Option<Arc<dyn Pacer>>,
    /// When it last changed (an asset's bytes and previews: its upload).
    pub last_modified: Option<LastModified>,
}

/// A representation's `Last-Modified`, as Unix seconds and as the header says it.
#[derive(Clone, Debug)]
pub struct LastModified {
    secs: i64,
    header: HeaderValue,
}

impl LastModified {
    /// At `secs` Unix seconds (before 1970 reads as 1970).
    pub fn at(secs: i64) -> LastModified {
        let secs = secs.max(0);
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        LastModified {
            secs,
            header: header_value(&httpdate::fmt_http_date(time)),
        }
    }

    /// Whether an `If-Modified-Since` date says the client's copy is current: the
    /// representation changed no later than it (an unreadable date is ignored).
    fn not_since(&self, condition: &HeaderValue) -> bool {
        condition
            .to_str()
            .ok()
            .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .is_some_and(|since| self.secs <= since.as_secs() as i64)
    }
}

pub fn answer(request: &http::request::Parts, representation: Representation) -> Response<Body> {
    let Representation {
        content,
        etag,
        headers,
        pacer,
        last_modified,
    } = representation;
    let mut response = Response::new(Body::empty());
    *response.headers_mut() = headers;
    response.headers_mut().insert(header::ETAG, etag.clone());
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(modified) = &last_modified {
        response
            .headers_mut()
            .insert(header::LAST_MODIFIED, modified.header.clone());
    }
    // RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since.
    let not_modified = match request.headers.get(header::IF_NONE_MATCH) {
        Some(condition) => matches_any(condition.as_bytes(), etag.as_bytes()),
        None => request
            .headers
            .get(header::IF_MODIFIED_SINCE)
            .zip(last_modified.as_ref())
            .is_some_and(|(since, modified)| modified.not_since(since)),
    };
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().remove(header::CONTENT_TYPE);
        return response;
    }
    let len = content.len();
    let range = match request.headers.get(header::RANGE) {
        Some(range) if if_range_holds(request, &etag) => range::answer(range.as_bytes(), len),
        _ => RangeAnswer::Whole,
    };
    let (status, sent) = match range {
        RangeAnswer::Whole => (StatusCode::OK, 0..len),
        RangeAnswer::Part { start, end } => {
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&range::content_range(start, end, len)),
            );
            (StatusCode::PARTIAL_CONTENT, start..end + 1)
        }
        RangeAnswer::Unsatisfiable => {
            let mut refused = crate::problem::ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("no byte of the requested range exists (the representation is {len} bytes) or the range does not parse"),
            )
            .into_response();
            refused.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&range::unsatisfied_range(len)),
            );
            return refused;
        }
    };
    *response.status_mut() = status;
    if request.method == Method::HEAD {
        response.headers_mut().insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(sent.end - sent.start),
        );
        return response;
    }
    *response.body_mut() = match content {
        Content::Bytes(bytes) => {
            let bytes = bytes.slice(sent.start as usize..sent.end as usize);
            match pacer {
                Some(pacer) => Body::paced(bytes, pacer),
                None => Body::from(bytes),
            }
        }
        Content::Ranged { reader, .. } => Body::ranged(reader, sent, pacer),
    };
    response
}

/// `If-None-Match`: `*` or a list of entity tags, compared weakly (RFC 9110 §13.1.2).
fn matches_any(condition: &[u8], etag: &[u8]) -> bool {
    let Ok(condition) = std::str::from_utf8(condition) else {
        return false;
    };
    let ours = std::str::from_utf8(etag).unwrap_or_default();
    condition.trim() == "*"
        || condition
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == ours)
}

/// `If-Range` with our strong ETag (or absent): the range still applies. A date or another
/// tag means the client's partial copy is of something else, so it gets the whole.
fn if_range_holds(request: &http::request::Parts, etag: &HeaderValue) -> bool {
    match request.headers.get(header::IF_RANGE) {
        None => true,
        Some(value) => value.as_bytes() == etag.as_bytes(),
    }
}

/// Header values made here from digits and ASCII are always valid.
pub fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A strong ETag from a blake3 content hash: its first 128 bits, quoted.
pub fn etag(blake3: &[u8; 32]) -> HeaderValue {
    let hex = blake3::Hash::from_bytes(*blake3).to_hex();
    header_value(&format!("\"{}\"", &hex[..32]))
}
