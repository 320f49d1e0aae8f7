//! The IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers)
//! that rate-limited answers carry, refused or not.

use http::{HeaderMap, HeaderName, HeaderValue};
use stockroom_guard::{Limit, Policy};

static POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static LEFT: HeaderName = HeaderName::from_static("ratelimit");

/// `RateLimit-Policy` values made once per policy for one seat (and for networks): most
/// answers carry one of these, so the request path does not format it each time.
#[derive(Debug, Default)]
pub struct PolicyFields(Vec<(&'static str, u32, u32, HeaderValue)>);

impl PolicyFields {
    pub fn new(config: &stockroom_guard::GuardConfig) -> PolicyFields {
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
