//! Fair use at the door, through the guard: which requests a rate policy covers and the
//! `RateLimit` headers they carry, the detectors fed from each request, their flags
//! recorded in the catalogue, the pace of each download, and the guard's snapshot.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use stockroom_catalog::{Holder, MemberStatus, Network};
use stockroom_guard::{Limit, Policy, Subject};
use stockroom_store::AssetId;

use crate::App;
use crate::auth::{self, Who};
use crate::body::Pacer;
use crate::problem::ApiError;
use crate::router::{Call, Route};

/// The guard's time: microseconds since the Unix epoch (wall time, so that a snapshot's
/// windows mean the same after a restart).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as u64)
}

fn policy(route: Route) -> Option<Policy> {
    match route {
        Route::Search | Route::Asset | Route::Similar => Some(Policy::Search),
        Route::Preview => Some(Policy::Previews),
        Route::License => Some(Policy::Licences),
        _ => None,
    }
}

/// Applies the route's rate policy to the caller: `429` past it, else the figures for
/// the answer's headers. A member's request also feeds the login-misuse detector, and a
/// card or preview they fetch counts as seen for the stockpiling detector.
pub async fn gate(call: &mut Call, route: Route) -> Result<Option<Limit>, ApiError> {
    let app = call.app.clone();
    let Some(policy) = policy(route).filter(|_| app.guard.enabled()) else {
        return Ok(None);
    };
    // A keyless preview (a CDN's origin pull) costs nothing here unless configured.
    if policy == Policy::Previews
        && call.header(header::AUTHORIZATION).is_none()
        && app.guard.config().previews_anonymous.is_none()
    {
        return Ok(None);
    }
    let who = auth::who(call).await?;
    let now = now();
    let (subject, seats) = match &who {
        Who::Member(principal) => (
            Subject::Member(principal.member_id.clone()),
            principal.seats,
        ),
        Who::Anonymous(network) => (Subject::Network(network.as_str().to_string()), 1),
    };
    // Previews, the busiest route, do not feed the login signals: a shared key shows in
    // its searches, licences and downloads, and previews stay cheap.
    let network;
    let used = match &who {
        Who::Member(principal) if route != Route::Preview => {
            network = stockroom_catalog::anonymise(call.peer.ip());
            Some((principal.seat_id.as_str(), network.as_str()))
        }
        _ => None,
    };
    let viewed = matches!(route, Route::Asset | Route::Similar | Route::Preview)
        .then(|| call.segment(2).parse::<AssetId>().ok())
        .flatten()
        .map(AssetId::as_u64);
    let request = stockroom_guard::Request {
        subject: &subject,
        policy,
        seats,
        used,
        viewed,
    };
    let admission = app.guard.admit(&request, now);
    if let (Some(flag), Subject::Member(member)) = (admission.flag, &subject) {
        record(&app, member, flag);
    }
    let limit = admission.limit;
    call.who = Some(who);
    match limit {
        Some(limit) if !limit.allowed() => {
            app.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
            let retry = limit.retry_after_secs.unwrap_or(1);
            Err(ApiError {
                retry_after: Some(retry),
                rate_limit: Some(limit),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many {} requests: {} per {} s are allowed; retry in {retry} s",
                        limit.policy, limit.quota, limit.window_secs
                    ),
                )
            })
        }
        limit => Ok(limit),
    }
}

static POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static LEFT: HeaderName = HeaderName::from_static("ratelimit");

/// `RateLimit-Policy` values made once per policy for one seat (and for networks): most
/// answers carry one of these, so the request path does not format it each time.
#[derive(Debug, Default)]
pub struct PolicyFields(Vec<(&'static str, u32, u32, HeaderValue)>);

impl PolicyFields {
    pub fn new(guard: &stockroom_guard::Guard) -> PolicyFields {
        let config = guard.config();
        let rates = [
            (Policy::Search, Some(config.search)),
            (Policy::Search, Some(config.search_anonymous)),
            (Policy::Previews, Some(config.previews)),
            (Policy::Previews, config.previews_anonymous),
            (Policy::Licences, Some(config.licences)),
            (Policy::Licences, Some(config.licences_anonymous)),
        ];
        PolicyFields(
            rates
                .into_iter()
                .filter_map(|(policy, rate)| {
                    let rate = rate?;
                    let value = policy_field(policy.name(), rate.requests, rate.window_secs)?;
                    Some((policy.name(), rate.requests, rate.window_secs, value))
                })
                .collect(),
        )
    }

    fn get(&self, limit: &Limit) -> Option<HeaderValue> {
        self.0
            .iter()
            .find(|(policy, quota, window, _)| {
                *policy == limit.policy && *quota == limit.quota && *window == limit.window_secs
            })
            .map(|(_, _, _, value)| value.clone())
            .or_else(|| policy_field(limit.policy, limit.quota, limit.window_secs))
    }
}

fn policy_field(policy: &str, quota: u32, window: u32) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{policy}\";q={quota};w={window}")).ok()
}

/// The IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers):
/// the policy's quota and window, and what is left of it and when it is whole again.
pub fn stamp(headers: &mut HeaderMap, limit: &Limit, fields: Option<&PolicyFields>) {
    let policy = match fields {
        Some(fields) => fields.get(limit),
        None => policy_field(limit.policy, limit.quota, limit.window_secs),
    };
    if let Some(value) = policy {
        headers.insert(POLICY.clone(), value);
    }
    let field = |text: String| HeaderValue::from_str(&text).ok();
    if let Some(value) = field(format!(
        "\"{}\";r={};t={}",
        limit.policy, limit.remaining, limit.reset_secs
    )) {
        headers.insert(LEFT.clone(), value);
    }
}

/// Records a detector's flag on the member, off the request's path. The catalogue keeps
/// the reasons with their values; the member is throttled from their next download.
pub fn record(app: &Arc<App>, member: &str, flag: impl std::fmt::Display) {
    app.metrics.flags.fetch_add(1, Ordering::Relaxed);
    let (app, member, reason) = (app.clone(), member.to_string(), flag.to_string());
    tokio::task::spawn_blocking(move || {
        if let Err(error) = app.catalog.flag(&member, &reason) {
            eprintln!("stockroom serve: flagging member {member}: {error}");
        }
    });
}

/// Records what a new licence tells the detectors, and the monthly review level.
pub fn licensed(
    app: &Arc<App>,
    member: &str,
    licensing: &stockroom_catalog::Licensing,
    asset: AssetId,
) {
    let Some(usage) = &licensing.usage else {
        return;
    };
    if usage.review_due {
        record(
            app,
            member,
            format!(
                "quota review: {} new licences in 30 days (review level {})",
                usage.month, usage.quota.monthly_review
            ),
        );
    }
    let download = stockroom_guard::Download {
        asset: asset.as_u64(),
        author: &licensing.author_id,
        author_assets: licensing.author_assets,
        listed: stockroom_index::listing_key(licensing.created_at, &asset.to_string()),
        seats: licensing.seats,
    };
    if let Some(flag) = app.guard.downloaded(member, &download, now()) {
        record(app, member, flag);
    }
}

/// The pacer of one download: the holder's schedule (a member's, shared by their seats)
/// at the throttled rate when they are flagged or past the soft quota, or the network's
/// at the anonymous rate; unthrottled streams are only counted. Also the rate, when paced.
pub fn pace(
    app: &Arc<App>,
    holder: Option<&Holder>,
    network: &Network,
) -> (Arc<dyn Pacer>, Option<u64>) {
    let config = app.guard.config();
    let stream = match holder {
        Some(holder) => {
            let throttled = holder.slowed || holder.status == MemberStatus::Flagged;
            let now = now();
            if let Some(flag) = app.guard.used(
                &holder.member_id,
                &holder.seat_id,
                network.as_str(),
                holder.seats,
                now,
            ) {
                record(app, &holder.member_id, flag);
            }
            app.guard.stream(
                &Subject::Member(holder.member_id.clone()),
                throttled.then_some(config.throttled_bytes_per_sec),
            )
        }
        None => app.guard.stream(
            &Subject::Network(network.as_str().to_string()),
            Some(config.anonymous_bytes_per_sec),
        ),
    };
    let rate = stream.rate();
    if rate.is_some() {
        app.metrics
            .throttled_streams
            .fetch_add(1, Ordering::Relaxed);
    }
    (Arc::new(stream), rate)
}

/// Writes the guard's state to its file (atomically: a temporary file, fsynced, renamed),
/// after dropping idle subjects.
pub fn save(app: &App) -> std::io::Result<()> {
    let Some(path) = &app.guard_state else {
        return Ok(());
    };
    app.guard.evict_idle(now());
    let snapshot = app.guard.snapshot();
    let temporary = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&snapshot)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
