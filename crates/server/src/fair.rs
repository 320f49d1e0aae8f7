//! Fair use at the door, through the platform's guard: which requests a rate policy covers
//! and the `RateLimit` headers they carry, the login-misuse detector fed from each request
//! and its flags recorded off the request's path. (What a licence or a download tells the
//! detectors, and the pace of each download, are the platform's.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use stockroom_guard::{Limit, Policy, Subject};

use crate::App;
use crate::auth::{self, Who};
use crate::problem::ApiError;
use crate::router::{Call, Route};
use stockroom_vocab::AssetId;

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
    let guard = app.platform.guard();
    let Some(policy) = policy(route).filter(|_| guard.enabled()) else {
        return Ok(None);
    };
    // A keyless preview (a CDN's origin pull) costs nothing here unless configured.
    if policy == Policy::Previews
        && call.header(header::AUTHORIZATION).is_none()
        && guard.config().previews_anonymous.is_none()
    {
        return Ok(None);
    }
    let who = auth::who(call).await?;
    let now = app.now_micros();
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
    let admission = guard.admit(&request, now);
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
    app.platform
        .counters()
        .flags
        .fetch_add(1, Ordering::Relaxed);
    let (app, member, reason) = (app.clone(), member.to_string(), flag.to_string());
    tokio::task::spawn_blocking(move || {
        if let Err(error) = app.platform.record_flag(&member, &reason) {
            eprintln!("stockroom serve: flagging member {member}: {error}");
        }
    });
}
