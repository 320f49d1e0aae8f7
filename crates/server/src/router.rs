//! Routing: method and path to handler, and what every request gets on the way out
//! (metrics, the access log line). Paths are matched segment by segment against fixed
//! words and ids of a fixed shape, so `..`, encoded slashes and overlong ids simply match
//! no route (`404`); nothing from a path ever reaches the filesystem.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response, StatusCode, header};
use http_body::Body as _;
use hyper::body::Incoming;
use stockroom_catalog::{anonymise, loggable_path};

use crate::body::Body;
use crate::problem::ApiError;
use crate::{App, access, api, downloads, fair, previews, uploads};

macro_rules! routes {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Every route, for metrics labels.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Route { $($variant),+ }

        impl Route {
            pub const ALL: &'static [Route] = &[$(Route::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $(Route::$variant => $name),+ }
            }
        }
    };
}

routes! {
    Health => "healthz",
    Ready => "readyz",
    Metrics => "metrics",
    OpenApi => "openapi",
    Search => "search",
    Asset => "asset",
    Similar => "similar",
    Upload => "upload",
    Preview => "preview",
    License => "license",
    Download => "download",
    Licence => "licence",
    VerifyLicence => "verify_licence",
    Withdraw => "withdraw",
    Takedown => "takedown",
    Duplicates => "moderation_duplicates",
    Queue => "moderation_queue",
    Approve => "approve",
    Flags => "moderation_flags",
    BlockMember => "block_member",
    ClearMember => "clear_member",
    Me => "me",
    MyDownloads => "my_downloads",
    MyExport => "my_export",
    EraseMe => "erase_me",
    AuthorStats => "author_stats",
    Purges => "purges",
    Unknown => "unknown",
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
    pub who: Option<crate::auth::Who>,
}

/// Answers one request; never fails (errors are responses).
pub async fn handle(app: Arc<App>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let (head, body) = request.into_parts();
    let method = head.method.clone();
    let path = head.uri.path().to_string();
    let route = route(&method, &path);
    let mut call = Call {
        app: app.clone(),
        head,
        body: Some(body),
        peer,
        who: None,
    };
    let response = match fair::gate(&mut call, route).await {
        Ok(limit) => {
            let mut response = dispatch(route, call)
                .await
                .unwrap_or_else(ApiError::into_response);
            if let Some(limit) = &limit {
                fair::stamp(response.headers_mut(), limit, Some(&app.policy_fields));
            }
            response
        }
        Err(refused) => refused.into_response(),
    };
    let elapsed = started.elapsed();
    let bytes = if method == Method::HEAD {
        0
    } else {
        response.body().size_hint().exact().unwrap_or(0)
    };
    let status = response.status().as_u16();
    app.metrics.request(route, status, elapsed, bytes);
    if let Some(log) = &app.access {
        log.record(access::Line {
            network: anonymise(peer.ip()),
            method: method.as_str().to_string(),
            path: loggable_path(&path),
            status,
            bytes,
            micros: elapsed.as_micros() as u64,
        });
    }
    response
}

/// The route a method and path name (`Unknown` for none).
fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("\0").split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    match segments.as_slice() {
        ["healthz"] if get => Route::Health,
        ["readyz"] if get => Route::Ready,
        ["metrics"] if get => Route::Metrics,
        ["openapi.json"] if get => Route::OpenApi,
        ["v1", "search"] if get => Route::Search,
        ["v1", "assets"] if post => Route::Upload,
        ["v1", "assets", _] if get => Route::Asset,
        ["v1", "assets", _, "similar"] if get => Route::Similar,
        ["v1", "assets", _] if delete => Route::Withdraw,
        ["v1", "assets", _, "licenses"] if post => Route::License,
        ["v1", "previews", _, _] if get => Route::Preview,
        ["v1", "download", _] if get => Route::Download,
        ["v1", "licenses", _] if get => Route::Licence,
        ["v1", "licenses", _, "verify"] if get => Route::VerifyLicence,
        ["v1", "moderation", "flags"] if get => Route::Flags,
        ["v1", "moderation", "assets", _, "takedown"] if post => Route::Takedown,
        ["v1", "moderation", "assets", _, "approve"] if post => Route::Approve,
        ["v1", "moderation", "duplicates"] if post => Route::Duplicates,
        ["v1", "moderation", "queue"] if get => Route::Queue,
        ["v1", "moderation", "members", _, "block"] if post => Route::BlockMember,
        ["v1", "moderation", "members", _, "clear"] if post => Route::ClearMember,
        ["v1", "members", "me"] if get => Route::Me,
        ["v1", "members", "me"] if delete => Route::EraseMe,
        ["v1", "members", "me", "downloads"] if get => Route::MyDownloads,
        ["v1", "members", "me", "export"] if get => Route::MyExport,
        ["v1", "authors", _, "stats"] if get => Route::AuthorStats,
        ["v1", "purges"] if get => Route::Purges,
        _ => Route::Unknown,
    }
}

async fn dispatch(route: Route, call: Call) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Health => Ok(text(StatusCode::OK, "ok\n")),
        Route::Ready => Ok(api::ready(&call)),
        Route::Metrics => Ok(api::metrics(&call)),
        Route::OpenApi => Ok(api::openapi()),
        Route::Search => api::search(call).await,
        Route::Asset => api::asset(call).await,
        Route::Similar => uploads::similar(call).await,
        Route::Upload => uploads::upload(call).await,
        Route::Preview => previews::serve(call).await,
        Route::License => downloads::license(call).await,
        Route::Download => downloads::download(call).await,
        Route::Licence => downloads::licence(call).await,
        Route::VerifyLicence => downloads::verify(call).await,
        Route::Withdraw => api::withdraw(call).await,
        Route::Takedown => api::takedown(call).await,
        Route::Duplicates => uploads::duplicates(call).await,
        Route::Queue => uploads::queue(call).await,
        Route::Approve => uploads::approve(call).await,
        Route::Flags => api::flags(call).await,
        Route::BlockMember => api::block_member(call, true).await,
        Route::ClearMember => api::block_member(call, false).await,
        Route::Me => api::me(call).await,
        Route::MyDownloads => api::my_downloads(call).await,
        Route::MyExport => api::my_export(call).await,
        Route::EraseMe => api::erase_me(call).await,
        Route::AuthorStats => api::author_stats(call).await,
        Route::Purges => api::purges(call).await,
        Route::Unknown => Err(ApiError::not_found("no such resource")),
    }
}

impl Call {
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
    /// body never holds more than `limit` bytes of memory.
    pub async fn body(&mut self, limit: u64) -> Result<Bytes, ApiError> {
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
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
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
}

/// Decoded query parameters.
#[derive(Debug)]
pub struct Query(Vec<(String, String)>);

impl Query {
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

    /// `name` read with `parse`; a value that does not parse is a `400` naming it.
    pub fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|value| {
                parse(value).map_err(|error| {
                    ApiError::bad_request(format!("parameter {name}={value:?}: {error}"))
                })
            })
            .transpose()
    }
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

pub fn text(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document and the router agree: every documented operation has a route,
    /// and every route is documented.
    #[test]
    fn every_route_is_in_the_openapi_document_and_back() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../openapi.json")).expect("valid JSON");
        let paths = document["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (template, operations) in paths {
            let path = template
                .replace("{id}", "0123456789abcdef")
                .replace("{size}", "large")
                .replace("{token}", "v1.token");
            for method in operations.as_object().expect("operations").keys() {
                let method: Method = method.to_uppercase().parse().expect("a method");
                let found = route(&method, &path);
                assert_ne!(found, Route::Unknown, "{method} {template} has no route");
                documented.push(found);
            }
        }
        for route in Route::ALL.iter().filter(|route| **route != Route::Unknown) {
            assert!(documented.contains(route), "{route:?} is not documented");
        }
    }

    #[test]
    fn paths_with_tricks_route_nowhere() {
        for path in [
            "/v1/previews/../../etc/passwd",
            "/v1/search/",
            "//v1/search",
            "/v1/assets/x/licenses/extra",
            "v1/search",
            "",
        ] {
            assert_eq!(route(&Method::GET, path), Route::Unknown, "{path}");
        }
        assert_eq!(route(&Method::PUT, "/v1/search"), Route::Unknown);
    }
}
