//! Routing: method and path to handler (the table is `routes.rs`), and what every request
//! gets on the way out (metrics, the access log line).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body as _;
use hyper::body::Incoming;
use stockroom_catalog::anonymise;

use crate::body::Body;
use crate::call::{Call, text};
use crate::problem::ApiError;
use crate::ratelimit;
use crate::routes::{Route, route};
use crate::{
    App, access, access_log, api, console, downloads, fair, moderation, previews, uploads,
};

/// The longest request target (path and query) read: 8 KiB, as nginx's default. Every
/// Stockroom URL is far shorter; a longer one is `414`.
const MAX_TARGET_BYTES: usize = 8 * 1024;

/// Answers one request; never fails (errors are responses).
pub async fn handle(app: Arc<App>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let (head, body) = request.into_parts();
    // Behind a trusted load balancer, the client it forwarded for.
    let peer = SocketAddr::new(
        crate::forwarded::client(&head.headers, peer.ip(), &app.options.trusted_proxies),
        peer.port(),
    );
    let method = head.method.clone();
    let path = head.uri.path().to_string();
    let route = route(&method, &path);
    let keyed = head.headers.contains_key(header::AUTHORIZATION);
    let origin = head.headers.get(header::ORIGIN).cloned();
    let target_len = head
        .uri
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    let mut call = Call {
        app: app.clone(),
        head,
        body: Some(body),
        peer,
        who: None,
    };
    let mut response = if target_len > MAX_TARGET_BYTES {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request target is {target_len} bytes; at most {MAX_TARGET_BYTES} are read"
            ),
        )
        .into_response()
    } else if method == Method::OPTIONS {
        preflight(&app, &call)
    } else {
        match fair::gate(&mut call, route).await {
            Ok(limit) => {
                let mut response = dispatch(route, call)
                    .await
                    .unwrap_or_else(ApiError::into_response);
                if let Some(limit) = &limit {
                    ratelimit::stamp(response.headers_mut(), limit, Some(&app.policy_fields));
                }
                response
            }
            Err(refused) => refused.into_response(),
        }
    };
    if !route.name().starts_with("console") {
        conventions(&app, &method, keyed, origin.as_ref(), &mut response);
    }
    let elapsed = started.elapsed();
    let bytes = if method == Method::HEAD {
        0
    } else {
        response.body().size_hint().exact().unwrap_or(0)
    };
    let status = response.status().as_u16();
    app.metrics.request(route, status, elapsed, bytes);
    if tracing::enabled!(tracing::Level::DEBUG) {
        static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);
        tracing::debug!(
            request = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed),
            route = route.name(),
            %method,
            status,
            micros = elapsed.as_micros() as u64,
            bytes,
            "answered"
        );
    }
    if let Some(log) = &app.access {
        log.record(access::Line {
            network: anonymise(peer.ip()),
            method: method.as_str().to_string(),
            path: logged_path(route, &path),
            status,
            bytes,
            micros: elapsed.as_micros() as u64,
        });
    }
    response
}

async fn dispatch(route: Route, call: Call) -> Result<Response<Body>, ApiError> {
    crate::params::check(route, &call.query())?;
    match route {
        Route::Health => Ok(text(StatusCode::OK, "ok\n")),
        Route::Ready => Ok(api::ready(&call)),
        Route::Metrics => api::metrics(&call),
        Route::OpenApi => Ok(api::openapi()),
        Route::ProblemType => api::problem_type(&call),
        Route::Search => api::search(call).await,
        Route::Asset => api::asset(call).await,
        Route::Similar => uploads::similar(call).await,
        Route::Upload => uploads::upload(call).await,
        Route::Preview => previews::serve(call).await,
        Route::License => downloads::license(call).await,
        Route::Download => downloads::download(call).await,
        Route::Licence => downloads::licence(call).await,
        Route::VerifyLicence => downloads::verify(call).await,
        Route::Certificate => downloads::certificate(call).await,
        Route::Withdraw => api::withdraw(call).await,
        Route::Takedown => api::takedown(call).await,
        Route::Duplicates => uploads::duplicates(call).await,
        Route::Queue => uploads::queue(call).await,
        Route::Approve => uploads::approve(call).await,
        Route::Reject => uploads::reject(call).await,
        Route::Flags => api::flags(call).await,
        Route::BlockMember => api::block_member(call, true).await,
        Route::ClearMember => api::block_member(call, false).await,
        Route::Blocklist => moderation::blocklist(call).await,
        Route::ImportBlocklist => moderation::import(call).await,
        Route::LiftBlock => moderation::lift(call).await,
        Route::Audit => moderation::audit(call).await,
        Route::Me => api::me(call).await,
        Route::MyDownloads => api::my_downloads(call).await,
        Route::MyExport => api::my_export(call).await,
        Route::EraseMe => api::erase_me(call).await,
        Route::RotateKey => api::rotate_key(call).await,
        Route::ChangeMembership => api::change_membership(call).await,
        Route::AuthorStats => api::author_stats(call).await,
        Route::Purges => api::purges(call).await,
        Route::Console => console::queue(call).await,
        Route::ConsoleSignInPage => console::sign_in_page(call).await,
        Route::ConsoleSignIn => console::sign_in(call).await,
        Route::ConsoleSignOut => console::sign_out(call).await,
        Route::ConsoleDecide => console::decide(call).await,
        Route::ConsoleSection => console::section(call).await,
        Route::ConsoleCheck => console::check(call).await,
        Route::ConsoleMember => console::member_action(call).await,
        Route::ConsoleLift => console::lift(call).await,
        Route::Unknown => Err(unrouted(&call)),
    }
}

/// Headers to expose to a page's script beside the CORS-safelisted ones.
const EXPOSED: &str = "ETag, Last-Modified, Location, Retry-After, RateLimit, RateLimit-Policy, \
                       Content-Disposition, Content-Range, Accept-Ranges, Surrogate-Key, Link";

/// Whether a page of `origin` may call the API (`server.cors_origins`).
fn cors_allowed(app: &App, origin: &HeaderValue) -> bool {
    app.options
        .cors_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.as_bytes() == origin.as_bytes())
}

/// `OPTIONS`: the methods the path has (`Allow`), and for a page of an allowed origin the
/// CORS preflight's answer; `404` for a path with no route.
fn preflight(app: &App, call: &Call) -> Response<Body> {
    let path = call.head.uri.path();
    let Some(allowed) =
        crate::routes::allowed_methods(path).filter(|_| !path.starts_with("/console"))
    else {
        return ApiError::not_found("no such resource").into_response();
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
    if let Some(origin) = call.head.headers.get(header::ORIGIN)
        && cors_allowed(app, origin)
    {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(allowed),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "Authorization, Content-Type, Range, If-None-Match, If-Modified-Since, If-Range",
            ),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

/// What every API answer gets on the way out:
/// - for a page of an allowed origin, CORS (`Access-Control-Allow-Origin`, the headers its
///   script may read), and `Vary: Origin` whenever CORS is configured;
/// - an anonymous `404`/`410` of a `GET` may be kept `server.missing_max_age_secs` by a CDN
///   (a removed asset's answers stop at the edge);
/// - an answer to a keyed request is never `public`: it carries that member's `RateLimit`
///   fields, which a shared cache must not hand to others.
fn conventions(
    app: &App,
    method: &Method,
    keyed: bool,
    origin: Option<&HeaderValue>,
    response: &mut Response<Body>,
) {
    let status = response.status();
    let headers = response.headers_mut();
    if !app.options.cors_origins.is_empty() {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin.filter(|origin| cors_allowed(app, origin)) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    let missing = status == StatusCode::NOT_FOUND || status == StatusCode::GONE;
    if read && missing && !keyed && app.options.missing_max_age_secs > 0 {
        if let Ok(value) = HeaderValue::from_str(&format!(
            "public, max-age={}",
            app.options.missing_max_age_secs
        )) {
            headers.insert(header::CACHE_CONTROL, value);
        }
    } else if keyed
        && let Some(public) = headers
            .get(header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .filter(|value| value.contains("public"))
            .map(|value| value.replace("public", "private"))
        && let Ok(private) = HeaderValue::from_str(&public)
    {
        headers.insert(header::CACHE_CONTROL, private);
    }
}

/// No route for this method and path: `405` with `Allow` when the path has routes for
/// other methods, else `404`.
fn unrouted(call: &Call) -> ApiError {
    let Some(allowed) = crate::routes::allowed_methods(call.head.uri.path()) else {
        return ApiError::not_found("no such resource");
    };
    ApiError {
        allow: Some(allowed),
        ..ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is not allowed here; allowed: {allowed}",
                call.head.method
            ),
        )
    }
}

/// The path as the access log keeps it: a routed path without its query (routes match
/// fixed words and ids, so nothing else hides in one), the download route without its
/// token, and `-` for a path no route matched, whatever shape it has (`//v1/download/…`,
/// encoded slashes), so no capability reaches the log by a path trick.
fn logged_path(route: Route, path: &str) -> String {
    match route {
        Route::Download => "/v1/download/-".to_string(),
        Route::Unknown => "-".to_string(),
        _ => access_log::loggable_path(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_token_never_reaches_the_access_log_whatever_the_paths_shape() {
        let token = "v1.1.00000000000000ff.abc.deadbeef";
        for path in [
            format!("/v1/download/{token}"),
            format!("//v1/download/{token}"),
            format!("/v1//download/{token}"),
            format!("/v1/download/{token}/"),
            format!("/v1/download%2F{token}"),
        ] {
            let logged = logged_path(route(&Method::GET, &path), &path);
            assert!(!logged.contains(token), "{path} logged as {logged}");
        }
        let search = route(&Method::GET, "/v1/search");
        assert_eq!(logged_path(search, "/v1/search?q=cats"), "/v1/search");
        let probe = "/wp-admin/../etc";
        assert_eq!(logged_path(route(&Method::GET, probe), probe), "-");
    }
}
