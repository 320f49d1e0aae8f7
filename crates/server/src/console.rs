//! The moderation console: HTML pages for people, under `/console/`, rendered on the
//! server (no script is needed, none is loaded). A moderator signs in with their API key,
//! which becomes a session: a random token in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure` under TLS), held in memory with a server-side expiry and ended by signing out.
//! Every form carries the session's CSRF token and is refused without it. The session
//! keeps the key, so each request is authenticated afresh: a moderator blocked since
//! signing in is refused at once. Previews of held uploads load through the session.
//! The duplicate check's form is `multipart/form-data`, read here (one file field and the
//! token); the checked image is shown as a data URL of its small preview, never stored.
//!
//! Pages: the queue (each held upload beside its near duplicates, previews side by side at
//! the same size, with distance, transform, author and upload time; approve, or reject
//! with a reason), a duplicate check (an image chosen in the browser beside its matches),
//! flagged members (each detector's signals in words; block or clear with a reason), the
//! blocklist (lift an entry with a reason) and the audit history (filtered, paged).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderValue, Response, StatusCode, header};
use stockroom_catalog::Principal;
use stockroom_catalog::terms::escape_html as esc;
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
<a href="/console/check">Duplicate check</a> <a href="/console/members">Flagged members</a>
<a href="/console/blocklist">Blocklist</a> <a href="/console/audit">Audit history</a>
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
nav {{ display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }}
table {{ border-collapse: collapse; width: 100%; font-size: .95rem; }}
th, td {{ border-bottom: 1px solid #bbb; padding: .4rem; text-align: left; vertical-align: top; }}
.table {{ overflow-x: auto; }}
.crossed {{ font-weight: 700; color: #8a1c1c; }}
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
    let mut response = crate::call::html(html, "no-store");
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
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
    let rest = seconds.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        crate::access_log::civil_date(seconds.div_euclid(86_400)),
        rest / 3600,
        rest % 3600 / 60
    )
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
    let (session, moderator, fields) = match posted(&mut call).await {
        Ok(posted) => posted,
        Err(answer) => return Ok(answer),
    };
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
    Ok(outcome(done, &session, "/console/"))
}

/// A signed-in moderator's POSTed form: the session, the moderator and the fields, once
/// the CSRF token holds; otherwise the answer to give.
async fn posted(
    call: &mut Call,
) -> Result<(Session, Principal, HashMap<String, String>), Response<Body>> {
    let (_, session, moderator) = signed_in(call).await?;
    let fields = match form(call).await {
        Ok(fields) => fields,
        Err(refused) => return Err(refused.into_response()),
    };
    if !csrf_holds(&fields, &session) {
        return Err(forbidden(&session));
    }
    Ok((session, moderator, fields))
}

/// The outcome of an action: back to `to`, or a page saying why it was not done.
fn outcome(done: Result<(), ApiError>, session: &Session, to: &'static str) -> Response<Body> {
    match done {
        Ok(()) => redirect(to),
        Err(refused) => page(
            refused.status,
            "Not done",
            Some(session),
            &format!(
                r#"<p class="error" role="alert">{}</p><p><a href="{to}">Back</a></p>"#,
                esc(&refused.detail)
            ),
        ),
    }
}

fn hidden_csrf(session: &Session) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(&session.csrf)
    )
}

/// `GET /console/check|members|blocklist|audit`.
pub async fn section(call: Call) -> Result<Response<Body>, ApiError> {
    let (_, session, _) = match signed_in(&call).await {
        Ok(signed_in) => signed_in,
        Err(back) => return Ok(back),
    };
    match call.segment(1) {
        "check" => Ok(page(
            StatusCode::OK,
            "Duplicate check",
            Some(&session),
            &check_form(&session),
        )),
        "members" => members_page(&call, &session).await,
        "blocklist" => blocklist_page(&call, &session).await,
        _ => audit_page(&call, &session).await,
    }
}

fn check_form(session: &Session) -> String {
    format!(
        r#"<p>Choose an image to see the public assets it looks like, side by side. Nothing is stored.</p>
<form method="post" action="/console/check" enctype="multipart/form-data">{}
<label for="image">Image (JPEG, PNG or WebP)</label>
<input id="image" name="image" type="file" accept="image/jpeg,image/png,image/webp" required>
<p><button type="submit">Check</button></p></form>"#,
        hidden_csrf(session)
    )
}

/// The parts of a `multipart/form-data` body: (name, bytes).
fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let boundary = content_type
        .split(';')
        .find_map(|part| part.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter has no CRLF before it.
    let mut rest = body.strip_prefix(format!("--{boundary}").as_bytes())?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, delimiter.as_bytes())?;
        let (part, after) = rest.split_at(end);
        rest = &after[delimiter.len()..];
        let head_end = find(part, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..head_end]).ok()?;
        let name = head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            if !field.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            value.split(';').find_map(|item| {
                item.trim()
                    .strip_prefix("name=")
                    .map(|name| name.trim_matches('"').to_string())
            })
        })?;
        parts.push((name, part[head_end + 4..].to_vec()));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn base64(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (i, byte)| {
            word | u32::from(*byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(DIGITS[(word >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `POST /console/check`: the chosen image beside its matches.
pub async fn check(mut call: Call) -> Result<Response<Body>, ApiError> {
    let (_, session, _) = match signed_in(&call).await {
        Ok(signed_in) => signed_in,
        Err(back) => return Ok(back),
    };
    let app = call.app.clone();
    let _permit = crate::uploads::upload_permit(&app).await?;
    let content_type = call
        .header(header::CONTENT_TYPE)
        .and_then(|value| std::str::from_utf8(value).ok())
        .unwrap_or_default()
        .to_string();
    let body = call.body(call.app.options.max_upload_bytes).await?;
    let Some(parts) = multipart(&content_type, &body) else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Duplicate check",
            Some(&session),
            &format!(
                r#"<p class="error" role="alert">The form did not arrive whole; choose the image again.</p>{}"#,
                check_form(&session)
            ),
        ));
    };
    let field = |name: &str| {
        parts
            .iter()
            .find(|(part, _)| part == name)
            .map(|(_, bytes)| bytes.clone())
    };
    let csrf = field("csrf")
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    if !csrf_holds(&HashMap::from([("csrf".to_string(), csrf)]), &session) {
        return Ok(forbidden(&session));
    }
    let image = field("image").unwrap_or_default();
    let checked = call
        .blocking(move |app| {
            let report = app.platform.duplicates(&image)?;
            let shown = stockroom_render::render(
                &image,
                &[stockroom_vocab::PreviewSize::Small],
                &app.platform.options().render,
                stockroom_render::Credit::default(),
            )
            .ok()
            .and_then(|rendered| rendered.previews.into_iter().next())
            .map(|preview| preview.jpeg);
            Ok((report, shown))
        })
        .await;
    let (report, shown) = match checked {
        Ok(checked) => checked,
        Err(refused) => {
            return Ok(page(
                refused.status,
                "Duplicate check",
                Some(&session),
                &format!(
                    r#"<p class="error" role="alert">{}</p>{}"#,
                    esc(&refused.detail),
                    check_form(&session)
                ),
            ));
        }
    };
    let mut pair = match shown {
        Some(jpeg) => format!(
            r#"<figure><img src="data:image/jpeg;base64,{}" alt="The image checked">
<figcaption>The image checked (PDQ quality {})</figcaption></figure>"#,
            base64(&jpeg),
            report.quality
        ),
        None => String::new(),
    };
    for found in &report.matches {
        let _ = write!(
            pair,
            r#"<figure><img src="/v1/previews/{id}/small.jpg" alt="Match {id}">
<figcaption><a href="/v1/assets/{id}"><code>{id}</code></a>: {distance} of 256 bits apart, {transform}</figcaption></figure>"#,
            id = found.asset_id,
            distance = found.distance,
            transform = esc(&found.transform),
        );
    }
    let summary = match report.matches.len() {
        0 => "No public asset looks like it.".to_string(),
        n => format!("{n} public asset(s) look like it, nearest first."),
    };
    Ok(page(
        StatusCode::OK,
        "Duplicate check",
        Some(&session),
        &format!(
            r#"<p role="status">{summary}</p><div class="pair">{pair}</div>{}"#,
            check_form(&session)
        ),
    ))
}

async fn members_page(call: &Call, session: &Session) -> Result<Response<Body>, ApiError> {
    let flagged = call
        .blocking(|app| Ok(app.platform.flagged_members()?))
        .await?;
    if flagged.is_empty() {
        return Ok(page(
            StatusCode::OK,
            "Flagged members",
            Some(session),
            "<p>No member is flagged.</p>",
        ));
    }
    let csrf = hidden_csrf(session);
    let mut main = String::new();
    for item in &flagged {
        let member = &item.member;
        let id = esc(&member.id);
        let mut signals = String::new();
        if let Some(now) = &item.signals {
            for (name, assessment) in [
                ("Stockpiling", &now.stockpiling),
                ("Login misuse", &now.login),
            ] {
                let _ = write!(
                    signals,
                    "<h3>{name}: score {:.2}{}</h3><ul>",
                    assessment.score,
                    if assessment.flagged { ", flagged" } else { "" }
                );
                for reason in &assessment.signals {
                    let class = if reason.crossed {
                        r#" class="crossed""#
                    } else {
                        ""
                    };
                    let _ = write!(signals, "<li{class}>{}</li>", esc(&reason.to_string()));
                }
                signals.push_str("</ul>");
            }
        }
        let reasons: String = member
            .flag_reasons
            .iter()
            .map(|reason| format!("<li>{}</li>", esc(reason)))
            .collect();
        let _ = write!(
            main,
            r#"<section class="held" aria-labelledby="member-{id}">
<h2 id="member-{id}">{name} <code>{id}</code></h2>
<p>Status: {status}, {tier}.</p><h3>Flagged for</h3><ul>{reasons}</ul>{signals}
<div class="actions">
<form method="post" action="/console/members/{id}/block">{csrf}
<label for="block-{id}">Reason for blocking</label><input id="block-{id}" name="reason" type="text" required>
<button type="submit" class="reject">Block</button></form>
<form method="post" action="/console/members/{id}/clear">{csrf}
<label for="clear-{id}">Reason for clearing</label><input id="clear-{id}" name="reason" type="text" required>
<button type="submit">Clear</button></form></div></section>"#,
            name = esc(&member.name),
            status = member.status,
            tier = member.tier,
        );
    }
    Ok(page(
        StatusCode::OK,
        "Flagged members",
        Some(session),
        &main,
    ))
}

/// `POST /console/members/{id}/block|clear`.
pub async fn member_action(mut call: Call) -> Result<Response<Body>, ApiError> {
    let (session, moderator, fields) = match posted(&mut call).await {
        Ok(posted) => posted,
        Err(answer) => return Ok(answer),
    };
    let id = call.segment(2).to_string();
    let block = call.segment(3) == "block";
    let reason = fields.get("reason").cloned().unwrap_or_default();
    let done = call
        .blocking(move |app| {
            app.platform
                .set_member_blocked(&id, block, &moderator, &reason)?;
            Ok(())
        })
        .await;
    Ok(outcome(done, &session, "/console/members"))
}

/// Positive whole number from the query (a cursor).
fn cursor_of(call: &Call) -> Option<i64> {
    call.query()
        .get("cursor")
        .and_then(|text| text.parse().ok())
        .filter(|n| *n > 0)
}

async fn blocklist_page(call: &Call, session: &Session) -> Result<Response<Body>, ApiError> {
    const PAGE: u32 = 50;
    let before = cursor_of(call);
    let entries = call
        .blocking(move |app| Ok(app.platform.blocklist_entries(before, PAGE)?))
        .await?;
    let csrf = hidden_csrf(session);
    let mut rows = String::new();
    for entry in &entries {
        let lift = if entry.lifted_at.is_some() {
            format!(
                "Lifted {} by <code>{}</code>: {}",
                when(entry.lifted_at.unwrap_or_default()),
                esc(entry.lifted_by.as_deref().unwrap_or_default()),
                esc(entry.lift_reason.as_deref().unwrap_or_default())
            )
        } else {
            format!(
                r#"<form method="post" action="/console/blocklist/{id}/lift">{csrf}
<label for="lift-{id}">Reason for lifting</label><input id="lift-{id}" name="reason" type="text" required>
<button type="submit">Lift</button></form>"#,
                id = entry.id
            )
        };
        let asset = entry
            .asset_id
            .map(|asset| format!("<code>{asset}</code>"))
            .unwrap_or_default();
        let _ = write!(
            rows,
            "<tr><td>{id}</td><td>{source} {asset}</td><td>{reason}</td><td>{at} by <code>{by}</code></td><td>{lift}</td></tr>",
            id = entry.id,
            source = esc(&entry.source),
            reason = esc(&entry.reason),
            at = when(entry.added_at),
            by = esc(&entry.added_by),
        );
    }
    let older = (entries.len() as u32 == PAGE)
        .then(|| {
            entries.last().map(|last| {
                format!(
                    r#"<p><a href="/console/blocklist?cursor={}">Older entries</a></p>"#,
                    last.id
                )
            })
        })
        .flatten()
        .unwrap_or_default();
    let main = if entries.is_empty() {
        "<p>The blocklist is empty.</p>".to_string()
    } else {
        format!(
            r#"<p>Images refused on upload, newest first: taken down, or on an imported list.</p>
<div class="table"><table><thead><tr><th scope="col">Entry</th><th scope="col">Source</th><th scope="col">Reason</th><th scope="col">Added</th><th scope="col">Lift</th></tr></thead>
<tbody>{rows}</tbody></table></div>{older}"#
        )
    };
    Ok(page(StatusCode::OK, "Blocklist", Some(session), &main))
}

/// `POST /console/blocklist/{id}/lift`.
pub async fn lift(mut call: Call) -> Result<Response<Body>, ApiError> {
    let (session, moderator, fields) = match posted(&mut call).await {
        Ok(posted) => posted,
        Err(answer) => return Ok(answer),
    };
    let Ok(entry) = call.segment(2).parse::<i64>() else {
        return Ok(outcome(
            Err(ApiError::not_found("no such blocklist entry")),
            &session,
            "/console/blocklist",
        ));
    };
    let reason = fields.get("reason").cloned().unwrap_or_default();
    let done = call
        .blocking(move |app| {
            app.platform.lift_block(entry, &moderator, &reason)?;
            Ok(())
        })
        .await;
    Ok(outcome(done, &session, "/console/blocklist"))
}

async fn audit_page(call: &Call, session: &Session) -> Result<Response<Body>, ApiError> {
    const PAGE: u32 = 50;
    use crate::moderation::ACTIONS;
    let query = call.query();
    let text = |name: &str| {
        query
            .get(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    };
    let filter = stockroom_catalog::AuditFilter {
        moderator: text("moderator"),
        action: text("action").filter(|action| ACTIONS.contains(&action.as_str())),
        target: text("target"),
        before: cursor_of(call),
    };
    let shown = filter.clone();
    let actions = call
        .blocking(move |app| Ok(app.platform.audit_history(&filter, PAGE)?))
        .await?;
    let options: String = std::iter::once(("", "any action"))
        .chain(ACTIONS.iter().map(|action| (*action, *action)))
        .map(|(value, label)| {
            let selected = if shown.action.as_deref().unwrap_or_default() == value {
                " selected"
            } else {
                ""
            };
            format!(r#"<option value="{value}"{selected}>{label}</option>"#)
        })
        .collect();
    let value = |field: &Option<String>| esc(field.as_deref().unwrap_or_default());
    let mut rows = String::new();
    for entry in &actions {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            when(entry.at),
            esc(&entry.moderator),
            esc(&entry.action),
            esc(&entry.target),
            esc(&entry.reason)
        );
    }
    let older = (actions.len() as u32 == PAGE)
        .then(|| {
            actions.last().map(|last| {
                let mut link = form_urlencoded::Serializer::new(String::new());
                for (name, field) in [
                    ("moderator", &shown.moderator),
                    ("action", &shown.action),
                    ("target", &shown.target),
                ] {
                    if let Some(field) = field {
                        link.append_pair(name, field);
                    }
                }
                link.append_pair("cursor", &last.seq.to_string());
                format!(
                    r#"<p><a href="/console/audit?{}">Older actions</a></p>"#,
                    esc(&link.finish())
                )
            })
        })
        .flatten()
        .unwrap_or_default();
    let main = format!(
        r#"<form method="get" action="/console/audit" class="actions">
<div><label for="moderator">Moderator (member id)</label><input id="moderator" name="moderator" type="text" value="{moderator}"></div>
<div><label for="action">Action</label><select id="action" name="action">{options}</select></div>
<div><label for="target">Asset or member</label><input id="target" name="target" type="text" value="{target}"></div>
<div><button type="submit">Filter</button></div></form>
<div class="table"><table><thead><tr><th scope="col">When</th><th scope="col">Moderator</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Why</th></tr></thead>
<tbody>{rows}</tbody></table></div>{older}"#,
        moderator = value(&shown.moderator),
        target = value(&shown.target),
    );
    Ok(page(StatusCode::OK, "Audit history", Some(session), &main))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_form_is_read_and_bytes_are_base64() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\x00\r\n\xff\r\n--XyZ--\r\n";
        let parts = multipart("multipart/form-data; boundary=XyZ", body).expect("parts");
        assert_eq!(parts[0], ("csrf".to_string(), b"abc".to_vec()));
        assert_eq!(parts[1], ("image".to_string(), b"\x00\r\n\xff".to_vec()));
        assert_eq!(
            multipart("multipart/form-data; boundary=XyZ", b"--XyZ\r\nno end"),
            None
        );
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }

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
