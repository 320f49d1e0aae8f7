//! Fair use at the door, through the platform's guard: which requests a rate policy covers
//! and the `RateLimit` headers they carry, the login-misuse detector fed from each request
//! and its flags recorded off the request's path. (What a licence or a download tells the
//! detectors, and the pace of each download, are the platform's.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{StatusCode, header};
use stockroom_guard::{Limit, Policy, Subject};

use crate::App;
use crate::auth;
use crate::call::Call;
use crate::call::Who;
use crate::problem::ApiError;
use crate::routes::Route;
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
    let admission = if guard.shared().is_some() {
        // Decided in the shared store, with other requests' decisions in one round trip:
        // wait for it without holding a worker.
        let (answer, answered) = tokio::sync::oneshot::channel();
        guard.admit_then(
            &request,
            now,
            Box::new(move |admission| {
                let _ = answer.send(admission);
            }),
        );
        answered
            .await
            .map_err(|_| ApiError::internal(&"the fair-use check was dropped"))?
    } else {
        guard.admit(&request, now)
    };
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
            tracing::error!(%member, %error, "recording a detector's flag failed");
        }
    });
}
