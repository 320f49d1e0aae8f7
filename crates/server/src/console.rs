//! The moderation console: HTML pages for people, under `/console/`, rendered on the
//! server (no script is needed, none is loaded). A moderator signs in with their API key,
//! which becomes a session: a random token in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure` under TLS), held in memory with a server-side expiry and ended by signing out.
//! Every form carries the session's CSRF token and is refused without it. The session
//! keeps the key, so each request is authenticated afresh: a moderator blocked since
//! signing in is refused at once. Previews of held uploads load through the session.
//!
//! This first part is the queue: each held upload beside its near duplicates, previews
//! side by side at the same size, with distance, transform, author and upload time, and
//! approve or reject (with a reason) under each.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderValue, Response, StatusCode, header};
use stockroom_catalog::Principal;
use stockroom_platform::Held;
use stockroom_vocab::AssetId;

use crate::body::Body;
use crate::call::Call;
use crate::problem::ApiError;

/// The session cookie's name.
const COOKIE: &str = "stockroom_console";
/// A sign-in form's body, at most.
const MAX_FORM_BYTES: u64 = 16 * 1024;
/// Held uploads shown on one page of the queue.
const QUEUE_PAGE: u32 = 20;

/// One signed-in moderator.
#[derive(Clone, Debug)]
struct Session {
    key: String,
    csrf: String,
    expires: Instant,
}

/// The console's sessions, in memory (a restart signs everyone out).
#[derive(Debug)]
pub(crate) struct Sessions {
    lifetime: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub(crate) fn new(lifetime: Duration) -> Sessions {
        Sessions {
            lifetime,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn start(&self, key: String) -> Result<(String, Session), ApiError> {
        let session = Session {
            key,
            csrf: random_token()?,
            expires: Instant::now() + self.lifetime,
        };
        let token = random_token()?;
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, session| session.expires > now);
        map.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The live session a request's cookie names.
    fn of(&self, call: &Call) -> Option<(String, Session)> {
        let token = cookie(call)?;
        let mut map = self.lock();
        match map.get(&token) {
            Some(session) if session.expires > Instant::now() => Some((token, session.clone())),
            Some(_) => {
                map.remove(&token);
                None
            }
            None => None,
        }
    }

    fn end(&self, token: &str) {
        self.lock().remove(token);
    }
}

fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| ApiError::internal(&error))?;
    Ok(bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    }))
}

/// The session token from the `Cookie` header, if the request carries one.
fn cookie(call: &Call) -> Option<String> {
    let header = std::str::from_utf8(call.header(header::COOKIE)?).ok()?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE && value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| value.to_string())
    })
}

/// The moderator a request's console session belongs to, checked afresh (for previews of
/// held uploads, which the browser loads with the cookie alone).
pub(crate) async fn session_moderator(call: &Call) -> Option<Principal> {
    let (_, session) = call.app.console.of(call)?;
    moderator_of(call, session.key).await.ok()
}

async fn moderator_of(call: &Call, key: String) -> Result<Principal, ApiError> {
    let principal = call
        .blocking(move |app| Ok(app.platform.catalog().authenticate(&key)?))
        .await?;
    stockroom_catalog::terms::may_moderate(&principal.roles, principal.status)?;
    Ok(principal)
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: the layout, the title and `main`.
fn page(
    status: StatusCode,
    title: &str,
    signed_in: Option<&Session>,
    main: &str,
) -> Response<Body> {
    let nav = match signed_in {
        Some(session) => format!(
            r#"<nav aria-label="Console"><a href="/console/">Queue</a>
<form method="post" action="/console/sign-out" class="inline">
<input type="hidden" name="csrf" value="{}"><button type="submit">Sign out</button></form></nav>"#,
            esc(&session.csrf)
        ),
        None => String::new(),
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Stockroom console</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1a1a1a; background: #fff; }}
header {{ background: #12355b; color: #fff; padding: .75rem 1rem; display: flex; flex-wrap: wrap;
  gap: 1rem; align-items: center; justify-content: space-between; }}
header a {{ color: #fff; }}
main {{ padding: 1rem; max-width: 80rem; margin: 0 auto; }}
nav {{ display: flex; gap: 1rem; align-items: center; }}
.inline {{ display: inline; }}
.held {{ border: 1px solid #767676; border-radius: 6px; padding: 1rem; margin-bottom: 1.5rem; }}
.pair {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; flex: 1 1 18rem; max-width: 32rem; }}
figure img {{ width: 100%; height: 18rem; object-fit: contain; background: #f2f2f2; }}
figcaption {{ font-size: .9rem; }}
.actions {{ display: flex; flex-wrap: wrap; gap: 1rem; margin-top: 1rem; align-items: flex-end; }}
.actions form {{ max-width: 100%; }}
.actions input[type=text] {{ width: 24rem; max-width: 100%; box-sizing: border-box; }}
code {{ overflow-wrap: anywhere; }}
label {{ display: block; font-weight: 600; }}
input[type=password], input[type=text], textarea {{ font: inherit; padding: .4rem; border: 1px solid #555;
  border-radius: 4px; max-width: 100%; }}
button {{ font: inherit; padding: .4rem 1rem; border-radius: 4px; border: 1px solid #12355b;
  background: #12355b; color: #fff; cursor: pointer; }}
button.reject {{ background: #8a1c1c; border-color: #8a1c1c; }}
:focus-visible {{ outline: 3px solid #f0a500; outline-offset: 2px; }}
.error {{ color: #8a1c1c; font-weight: 600; }}
</style></head>
<body><header><strong>Stockroom console</strong>{nav}</header>
<main id="main"><h1>{title}</h1>
{main}</main></body></html>
"#,
        title = esc(title),
    );
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn set_cookie(response: &mut Response<Body>, value: &str, max_age: u64, secure: bool) {
    let cookie = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

fn sign_in_form(message: Option<&str>) -> String {
    let message = message
        .map(|text| format!(r#"<p class="error" role="alert">{}</p>"#, esc(text)))
        .unwrap_or_default();
    format!(
        r#"{message}<form method="post" action="/console/sign-in">
<label for="key">Moderator API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required size="40">
<p><button type="submit">Sign in</button></p></form>"#
    )
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(call: Call) -> Result<Response<Body>, ApiError> {
    if call.app.console.of(&call).is_some() {
        return Ok(redirect("/console/"));
    }
    Ok(page(StatusCode::OK, "Sign in", None, &sign_in_form(None)))
}

/// The fields of a form body.
async fn form(call: &mut Call) -> Result<HashMap<String, String>, ApiError> {
    let body = call.body(MAX_FORM_BYTES).await?;
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

/// `POST /console/sign-in`: a moderator's key starts a session.
pub async fn sign_in(mut call: Call) -> Result<Response<Body>, ApiError> {
    let fields = form(&mut call).await?;
    let key = fields
        .get("key")
        .map(|key| key.trim().to_string())
        .unwrap_or_default();
    let refused = |why: &str| {
        page(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            None,
            &sign_in_form(Some(why)),
        )
    };
    if key.is_empty() {
        return Ok(refused("Enter your moderator API key."));
    }
    if moderator_of(&call, key.clone()).await.is_err() {
        return Ok(refused(
            "That key does not belong to a moderator who may use the console.",
        ));
    }
    let (token, _) = call.app.console.start(key)?;
    let mut response = redirect("/console/");
    let lifetime = call.app.console.lifetime.as_secs();
    set_cookie(
        &mut response,
        &token,
        lifetime,
        call.app.options.tls.is_some(),
    );
    Ok(response)
}

/// The session and its moderator, or the way back to sign-in.
async fn signed_in(call: &Call) -> Result<(String, Session, Principal), Response<Body>> {
    let Some((token, session)) = call.app.console.of(call) else {
        return Err(redirect("/console/sign-in"));
    };
    match moderator_of(call, session.key.clone()).await {
        Ok(principal) => Ok((token, session, principal)),
        Err(_) => {
            call.app.console.end(&token);
            Err(redirect("/console/sign-in"))
        }
    }
}

/// A POSTed form's CSRF token must be the session's.
fn csrf_holds(fields: &HashMap<String, String>, session: &Session) -> bool {
    fields.get("csrf").is_some_and(|token| {
        token.len() == session.csrf.len()
            && token
                .bytes()
                .zip(session.csrf.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    })
}

fn forbidden(session: &Session) -> Response<Body> {
    page(
        StatusCode::FORBIDDEN,
        "Refused",
        Some(session),
        r#"<p class="error" role="alert">The form was not sent from this console (its CSRF token is missing or wrong). Go back to the <a href="/console/">queue</a> and try again.</p>"#,
    )
}

/// `POST /console/sign-out`.
pub async fn sign_out(mut call: Call) -> Result<Response<Body>, ApiError> {
    let Some((token, session)) = call.app.console.of(&call) else {
        return Ok(redirect("/console/sign-in"));
    };
    let fields = form(&mut call).await?;
    if !csrf_holds(&fields, &session) {
        return Ok(forbidden(&session));
    }
    call.app.console.end(&token);
    let mut response = redirect("/console/sign-in");
    set_cookie(&mut response, "", 0, call.app.options.tls.is_some());
    Ok(response)
}

fn when(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn held_html(held: &Held, csrf: &str) -> String {
    let record = &held.record;
    let id = record.id;
    let title = if record.title.is_empty() {
        "(untitled)"
    } else {
        &record.title
    };
    let mut pair = format!(
        r#"<figure><img src="/v1/previews/{id}/small.jpg" alt="The held upload: {title}">
<figcaption>Held upload <code>{id}</code> by {author}, uploaded {at}</figcaption></figure>"#,
        title = esc(title),
        author = esc(&record.author_name),
        at = when(record.created_at),
    );
    for duplicate in &held.duplicates {
        let _ = write!(
            pair,
            r#"<figure><img src="/v1/previews/{dup}/small.jpg" alt="Near duplicate {dup}">
<figcaption>Looks like <a href="/v1/assets/{dup}"><code>{dup}</code></a>: {distance} of 256 bits apart, {transform}</figcaption></figure>"#,
            dup = duplicate.asset_id,
            distance = duplicate.distance,
            transform = esc(&duplicate.transform),
        );
    }
    let csrf = esc(csrf);
    format!(
        r#"<section class="held" aria-labelledby="title-{id}">
<h2 id="title-{id}">{title}</h2>
<div class="pair">{pair}</div>
<div class="actions">
<form method="post" action="/console/queue/{id}/approve">
<input type="hidden" name="csrf" value="{csrf}"><button type="submit">Approve</button></form>
<form method="post" action="/console/queue/{id}/reject">
<input type="hidden" name="csrf" value="{csrf}">
<label for="reason-{id}">Reason for rejecting (the author reads it)</label>
<input id="reason-{id}" name="reason" type="text" required>
<button type="submit" class="reject">Reject</button></form>
</div></section>"#,
        title = esc(title),
    )
}

/// `GET /console/`: the queue.
pub async fn queue(call: Call) -> Result<Response<Body>, ApiError> {
    let (_, session, _) = match signed_in(&call).await {
        Ok(signed_in) => signed_in,
        Err(back) => return Ok(back),
    };
    let held = call
        .blocking(|app| Ok(app.platform.queue(None, QUEUE_PAGE)?))
        .await?;
    let main = if held.is_empty() {
        "<p>Nothing is held for review.</p>".to_string()
    } else {
        let mut main = format!(
            "<p>{} upload(s) held because they look like assets already public, oldest first.</p>",
            held.len()
        );
        for item in &held {
            main.push_str(&held_html(item, &session.csrf));
        }
        main
    };
    Ok(page(StatusCode::OK, "Held uploads", Some(&session), &main))
}

/// `POST /console/queue/{id}/approve|reject`.
pub async fn decide(mut call: Call) -> Result<Response<Body>, ApiError> {
    let (_, session, moderator) = match signed_in(&call).await {
        Ok(signed_in) => signed_in,
        Err(back) => return Ok(back),
    };
    let fields = form(&mut call).await?;
    if !csrf_holds(&fields, &session) {
        return Ok(forbidden(&session));
    }
    let asset: AssetId = call
        .segment(2)
        .parse()
        .map_err(|_| ApiError::not_found("no such held upload"))?;
    let approve = call.segment(3) == "approve";
    let reason = fields.get("reason").cloned().unwrap_or_default();
    let done = call
        .blocking(move |app| {
            if approve {
                app.platform.approve(asset, &moderator)?;
            } else {
                app.platform.reject(asset, &moderator, &reason)?;
            }
            Ok(())
        })
        .await;
    match done {
        Ok(()) => Ok(redirect("/console/")),
        Err(refused) => Ok(page(
            refused.status,
            "Not done",
            Some(&session),
            &format!(
                r#"<p class="error" role="alert">{}</p><p><a href="/console/">Back to the queue</a></p>"#,
                esc(&refused.detail)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_dates_are_civil() {
        assert_eq!(
            esc(r#"<img src=x onerror="a('b')">&"#),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_796_428_800), "2026-12-05 00:00 UTC");
        assert_eq!(when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
