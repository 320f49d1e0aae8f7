//! What a handler gets and the helpers every handler uses: the request's parts
//! ([`Call`]), its query string ([`Query`]), blocking work off the async workers, the
//! body within a limit, and plain JSON and text answers.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode, header};
use http_body::Body as _;
use hyper::body::Incoming;
use stockroom_catalog::{Network, Principal};
use stockroom_vocab::AssetId;

use crate::App;
use crate::body::Body;
use crate::problem::ApiError;

/// Who is asking: an anonymous caller known by its anonymised network, or a member.
#[derive(Clone, Debug)]
pub enum Who {
    /// No key given.
    Anonymous(Network),
    /// A member's seat, by its key.
    Member(Principal),
}

/// What a handler gets: the request's head and body, the client's address, the app.
#[derive(Debug)]
pub struct Call {
    pub app: Arc<App>,
    pub head: http::request::Parts,
    /// Unread until a handler asks for it ([`Call::body`]).
    pub body: Option<Incoming>,
    pub peer: SocketAddr,
    /// The caller, once the fair-use gate has established it.
    pub who: Option<Who>,
}

impl Call {
    /// The asset id in path segment `segment`; one that is not an id names no asset.
    pub fn asset_id(&self, segment: usize) -> Result<AssetId, ApiError> {
        self.segment(segment)
            .parse()
            .map_err(|_| ApiError::not_found("no such asset"))
    }

    /// The `n`th path segment (0 is `v1`).
    pub fn segment(&self, n: usize) -> &str {
        self.head
            .uri
            .path()
            .trim_start_matches('/')
            .split('/')
            .nth(n)
            .unwrap_or_default()
    }

    /// The query string's pairs, decoded.
    pub fn query(&self) -> Query {
        Query(
            form_urlencoded::parse(self.head.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Runs blocking work (SQLite, fsync, page faults on cold mappings) off the async
    /// workers.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || work(&app)).await?
    }

    /// The request body, read whole; over `limit` bytes it is `413` as soon as that is
    /// known (from `Content-Length` before reading anything, else while reading), so a
    /// body never holds more than `limit` bytes of memory. A body must keep coming: after
    /// the grace period it must have averaged the minimum rate, or it is `408` (a client
    /// trickling a byte now and then would otherwise hold an upload permit for as long as
    /// it likes, and every other upload would wait).
    pub async fn body(&mut self, limit: u64) -> Result<Bytes, ApiError> {
        let started = tokio::time::Instant::now();
        let (grace, min_rate) = (
            self.app.options.body_grace,
            self.app.options.body_min_bytes_per_sec.max(1),
        );
        let too_slow = || {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body came slower than {min_rate} bytes a second (after {} s); send it again",
                    grace.as_secs()
                ),
            )
        };
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over the limit of {limit} bytes"),
            )
        };
        let Some(mut body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let declared = body.size_hint().exact();
        if declared.is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        // Trust a declared length only as far as the limit; grow as bytes arrive.
        let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        loop {
            // What has arrived so far earns its time: the grace, plus one second per
            // `min_rate` bytes.
            let earned = grace + Duration::from_secs_f64(buffer.len() as f64 / min_rate as f64);
            let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
            let Ok(frame) = tokio::time::timeout_at(started + earned, next).await else {
                return Err(too_slow());
            };
            let Some(frame) = frame else {
                break;
            };
            let frame = frame.map_err(|error| {
                ApiError::bad_request(format!("reading the request body: {error}"))
            })?;
            if let Ok(data) = frame.into_data() {
                if (buffer.len() + data.len()) as u64 > limit {
                    return Err(too_large());
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(buffer.freeze())
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&[u8]> {
        self.head.headers.get(name).map(|value| value.as_bytes())
    }

    /// A list's page answered: JSON, and when `next` is given a `Link: <…>; rel="next"`
    /// header (RFC 8288) to this path with the same parameters, `cursor` set to `next` and
    /// any `page` dropped.
    pub fn paged(&self, value: &impl serde::Serialize, next: Option<&str>) -> Response<Body> {
        self.paged_by("cursor", value, next)
    }

    /// [`paged`](Self::paged) for a list whose position parameter is `position` (the purge
    /// feed's `since`).
    pub fn paged_by(
        &self,
        position: &str,
        value: &impl serde::Serialize,
        next: Option<&str>,
    ) -> Response<Body> {
        let mut response = json(StatusCode::OK, value);
        if let Some(next) = next {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &self.query().0 {
                if name != position && name != "page" {
                    query.append_pair(name, value);
                }
            }
            query.append_pair(position, next);
            let link = format!(
                "<{}?{}>; rel=\"next\"",
                self.head.uri.path(),
                query.finish()
            );
            if let Ok(link) = http::HeaderValue::from_str(&link) {
                response.headers_mut().insert(header::LINK, link);
            }
        }
        response
    }
}

/// Decoded query parameters.
#[derive(Debug)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The query of these (decoded) name–value pairs.
    #[cfg(test)]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Query {
        Query(pairs)
    }

    /// The names given, in order (repeats included).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// The last value given for `name`, if any and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// `name` read with `parse`; a value that does not parse is a `400` naming it, and so is
    /// an empty one (`min_width=`): a typed parameter is given a value or left out, as the
    /// OpenAPI document's schemas say.
    pub fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        let given = self
            .0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        match given {
            None => Ok(None),
            Some("") => Err(ApiError::bad_request(format!(
                "parameter {name} is empty: give it a value or leave it out"
            ))),
            Some(value) => parse(value).map(Some).map_err(|error| {
                ApiError::bad_request(format!("parameter {name}={value:?}: {error}"))
            }),
        }
    }

    /// A number `name` within `range`; outside it is a `400` naming the range (never
    /// clamped, so that a client learns its page size was not what it asked for).
    pub fn in_range<T>(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let value = self.parsed(name, str::parse::<T>)?;
        match value {
            Some(value) if !range.contains(&value) => Err(ApiError::bad_request(format!(
                "parameter {name}={value}: must be from {} to {}",
                range.start(),
                range.end()
            ))),
            value => Ok(value),
        }
    }
}

/// The `next` of a list's page: the last item's position when the page is full (a short
/// page is the last), as the `cursor` of the page after it.
pub fn next_position<T, P: std::fmt::Display>(
    items: &[T],
    limit: u32,
    position: impl Fn(&T) -> P,
) -> Option<String> {
    (items.len() == limit as usize)
        .then(|| items.last().map(|last| position(last).to_string()))
        .flatten()
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(error) => ApiError::internal(&error).into_response(),
    }
}

/// A `200` HTML page (UTF-8) with the `Cache-Control` given.
pub fn html(page: String, cache_control: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(page));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static(cache_control),
    );
    response
}

pub fn text(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A moment given as Unix seconds (`1577836800`) or as an RFC 3339 date (`2020-01-01`,
/// midnight UTC) or date-time (`2020-01-01T12:30:00Z`, `2020-01-01T14:30:00.5+02:00`;
/// fractions of a second are dropped): Unix seconds.
pub fn instant(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let wrong = || {
        format!(
            "{text:?} is neither Unix seconds nor an RFC 3339 date or date-time (2020-01-01, 2020-01-01T12:30:00Z)"
        )
    };
    let number = |part: Option<&str>, digits: usize, range: std::ops::RangeInclusive<i64>| {
        part.filter(|p| p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|n| range.contains(n))
    };
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = number(parts.next(), 4, 0..=9999).ok_or_else(wrong)?;
    let month = number(parts.next(), 2, 1..=12).ok_or_else(wrong)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let day = number(parts.next(), 2, 1..=month_days).ok_or_else(wrong)?;
    if parts.next().is_some() {
        return Err(wrong());
    }
    let midnight = crate::access_log::days_from_civil(year, month, day) * 86_400;
    let Some(time) = time else {
        return Ok(midnight);
    };
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(at) => (&time[..at], &time[at..]),
        None => return Err(wrong()),
    };
    let clock = clock.split('.').next().unwrap_or_default();
    let mut fields = clock.split(':');
    let hour = number(fields.next(), 2, 0..=23).ok_or_else(wrong)?;
    let minute = number(fields.next(), 2, 0..=59).ok_or_else(wrong)?;
    // 60: a leap second, counted as the second before it.
    let second = number(fields.next(), 2, 0..=60).ok_or_else(wrong)?.min(59);
    if fields.next().is_some()
        || !time[clock.len()..time.len() - offset.len()]
            .strip_prefix('.')
            .is_none_or(|fraction| {
                !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit())
            })
    {
        return Err(wrong());
    }
    let offset = match offset {
        "Z" | "z" => 0,
        signed => {
            let sign = if signed.starts_with('-') { -1 } else { 1 };
            let mut fields = signed[1..].split(':');
            let hours = number(fields.next(), 2, 0..=23).ok_or_else(wrong)?;
            let minutes = number(fields.next(), 2, 0..=59).ok_or_else(wrong)?;
            if fields.next().is_some() {
                return Err(wrong());
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Ok(midnight + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod instant_tests {
    use super::instant;

    #[test]
    fn moments_are_unix_seconds_or_rfc_3339() {
        for (text, seconds) in [
            ("1577836800", 1_577_836_800),
            ("-86400", -86_400),
            ("2020-01-01", 1_577_836_800),
            ("2020-01-01T00:00:00Z", 1_577_836_800),
            ("2020-01-01t12:30:00z", 1_577_881_800),
            ("2020-01-01T14:30:00.25+02:00", 1_577_881_800),
            ("2019-12-31T23:30:00-01:00", 1_577_838_600),
            ("2016-12-31T23:59:60Z", 1_483_228_799),
            ("2024-02-29", 1_709_164_800),
            ("1970-01-01", 0),
        ] {
            assert_eq!(instant(text), Ok(seconds), "{text}");
        }
        for text in [
            "",
            "2020-01",
            "2020-1-01",
            "2020-13-01",
            "2023-02-29",
            "2020-01-01T25:00:00Z",
            "2020-01-01T12:00:00",
            "2020-01-01T12:00Z",
            "2020-01-01T12:00:00.Z",
            "2020-01-01T12:00:00+2:00",
            "yesterday",
        ] {
            assert!(instant(text).is_err(), "{text}");
        }
    }
}
