//! The JSON endpoints: search and asset cards, the lifecycle (withdraw, takedown) and the
//! CDN purge feed, moderation of members, members' own data, author statistics, and the
//! operations endpoints.

use std::sync::atomic::Ordering;

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use stockroom_catalog::After;
use stockroom_index::{FacetField, Filters, SearchRequest, SearchResults};
use stockroom_vocab::MemberStatus;

use crate::auth;
use crate::body::Body;
use crate::call::{Call, Query, html, instant, json, next_position, text};
use crate::cards::Card;
use crate::problem::ApiError;
use stockroom_vocab::{AssetId, Role};

/// The OpenAPI document, kept in the repository beside this crate.
pub(crate) const OPENAPI: &str = include_str!("../openapi.json");

pub fn ready(call: &Call) -> Response<Body> {
    if call.app.ready.load(Ordering::SeqCst) {
        // Still ready without the shared store: limits fall back to this node's own.
        match call.app.platform.guard().shared() {
            Some(false) => text(
                StatusCode::OK,
                "ready; rate limits are this node's own: redis is unreachable\n",
            ),
            _ => text(StatusCode::OK, "ready\n"),
        }
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    }
}

/// `/metrics`: public, or only for the configured token (`server.metrics_token`).
pub fn metrics(call: &Call) -> Result<Response<Body>, ApiError> {
    if let Some(expected) = call.app.options.metrics_token {
        let given = call
            .header(header::AUTHORIZATION)
            .and_then(auth::bearer)
            .map(|token| blake3::hash(token.as_bytes()));
        // blake3::Hash compares in constant time.
        if given != Some(expected) {
            return Err(ApiError::unauthenticated(
                "/metrics needs `Authorization: Bearer <server.metrics_token>`",
            ));
        }
    }
    let mut rendered = call.app.metrics.render(call.app.platform.counters());
    if let Some(up) = call.app.platform.guard().shared() {
        rendered.push_str(&format!(
            "# HELP stockroom_guard_shared_up Whether the shared fair-use store (Redis) answers; 0: this node limits on its own.\n\
             # TYPE stockroom_guard_shared_up gauge\nstockroom_guard_shared_up {}\n",
            u8::from(up)
        ));
    }
    let applied = call.app.platform.applied_change();
    let newest = call
        .app
        .feed_newest
        .load(std::sync::atomic::Ordering::Relaxed);
    rendered.push_str(&format!(
        "# HELP stockroom_feed_applied The catalogue change this node applied last: its search, duplicate and preview replicas are current to it.\n\
         # TYPE stockroom_feed_applied gauge\nstockroom_feed_applied {applied}\n\
         # HELP stockroom_feed_behind Changes the catalogue held at this node's last look that it has not applied yet.\n\
         # TYPE stockroom_feed_behind gauge\nstockroom_feed_behind {}\n",
        newest.saturating_sub(applied).max(0)
    ));
    let mut response = Response::new(Body::from(rendered));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

pub fn openapi() -> Response<Body> {
    let mut response = Response::new(Body::from(OPENAPI));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /problems/{slug}`: what a problem type means, as a page (the `type` of every
/// error answer points here).
pub fn problem_type(call: &Call) -> Result<Response<Body>, ApiError> {
    let slug = call.segment(1);
    let (slug, meaning) = crate::problem::TYPES
        .iter()
        .find(|(known, _)| *known == slug)
        .ok_or_else(|| ApiError::not_found(format!("no problem type {slug:?}")))?;
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Problem: {slug}</title></head>\
         <body><h1>Problem: {slug}</h1><p>{}</p><p>Errors are answered as <code>application/problem+json</code> \
         (RFC 9457) whose <code>type</code> is this page's path; <a href=\"/openapi.json\">the API document</a> lists every type.</p></body></html>\n",
        stockroom_catalog::terms::escape_html(meaning)
    );
    Ok(html(page, "public, max-age=86400"))
}

pub async fn search(call: Call) -> Result<Response<Body>, ApiError> {
    let request = search_request(&call.query())?;
    let SearchResults {
        total,
        total_exact,
        page,
        per_page,
        results,
        facets,
        suggestion,
        next,
    } = {
        let viewer = match &call.who {
            Some(crate::call::Who::Member(principal)) => Some(principal.member_id.clone()),
            _ => None,
        };
        call.blocking(move |app| Ok(app.platform.search(&request, viewer.as_deref())?))
            .await?
    };
    #[derive(Serialize)]
    struct Answer {
        total: u64,
        /// False when `total` and the facet counts are estimates (a broad search).
        total_exact: bool,
        page: u32,
        per_page: u32,
        results: Vec<Card>,
        facets: stockroom_index::Facets,
        #[serde(skip_serializing_if = "Option::is_none")]
        suggestion: Option<String>,
        /// Pass as `cursor` for the next page; absent on the last.
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    }
    let answer = Answer {
        total,
        total_exact,
        page,
        per_page,
        results: results.into_iter().map(Card::new).collect(),
        facets,
        suggestion,
        next,
    };
    Ok(call.paged(&answer, answer.next.as_deref()))
}

/// The query string as a search request (DESIGN §3); a value that does not parse is `400`.
fn search_request(query: &Query) -> Result<SearchRequest, ApiError> {
    let facets = query
        .parsed("facets", |list| {
            list.split(',')
                .map(|name| name.trim().parse::<FacetField>())
                .collect::<Result<Vec<_>, _>>()
        })?
        .unwrap_or_default();
    Ok(SearchRequest {
        query: query.get("q").unwrap_or_default().to_string(),
        filters: Filters {
            orientation: query.parsed("orientation", str::parse)?,
            color: query.parsed("color", str::parse)?,
            collection: query.parsed("collection", str::parse)?,
            editorial: query.parsed("editorial", str::parse::<bool>)?,
            model_release: query.parsed("model_release", str::parse::<bool>)?,
            property_release: query.parsed("property_release", str::parse::<bool>)?,
            author: query.get("author").map(str::to_string),
            min_width: query.parsed("min_width", str::parse::<u32>)?,
            min_height: query.parsed("min_height", str::parse::<u32>)?,
            kind: query.parsed("kind", str::parse)?,
            created_from: query.parsed("created_from", instant)?,
            created_to: query.parsed("created_to", instant)?,
        },
        sort: query.parsed("sort", str::parse)?.unwrap_or_default(),
        page: query
            .in_range("page", 1..=stockroom_index::MAX_PAGE)?
            .unwrap_or(1),
        per_page: query
            .in_range("per_page", 1..=stockroom_index::MAX_PER_PAGE)?
            .unwrap_or(stockroom_index::DEFAULT_PER_PAGE),
        facets,
        cursor: query.parsed("cursor", |cursor| Ok::<_, &str>(cursor.to_string()))?,
    })
}

/// `GET /v1/assets/{id}`: the search card plus the asset's terms and lifecycle.
pub async fn asset(call: Call) -> Result<Response<Body>, ApiError> {
    let id = call.asset_id(2)?;
    let public = call
        .blocking(move |app| Ok(app.platform.public_asset(id)?))
        .await;
    // Not public: its author (by key) still sees it, held, rejected (with the reason) or
    // withdrawn; anyone else gets the public answer.
    let (record, doc) = match public {
        Ok(found) => found,
        Err(refused)
            if matches!(refused.status, StatusCode::NOT_FOUND | StatusCode::GONE)
                && call.header(header::AUTHORIZATION).is_some() =>
        {
            let viewer = auth::member(&call).await?;
            call.blocking(move |app| Ok(app.platform.own_asset(id, &viewer)?))
                .await
                .map_err(|_| refused)?
        }
        Err(refused) => return Err(refused),
    };
    #[derive(Serialize)]
    struct Detail {
        #[serde(flatten)]
        card: Card,
        status: stockroom_vocab::AssetStatus,
        /// Why a moderator rejected it (its author's view of a rejected upload).
        #[serde(skip_serializing_if = "Option::is_none")]
        rejection: Option<String>,
    }
    // The catalogue's figures, not the index's copies (which may lag).
    let mut card = Card::new(doc);
    card.asset.downloads = record.downloads;
    card.asset.created_at = record.created_at;
    Ok(json(
        StatusCode::OK,
        &Detail {
            card,
            status: record.status,
            rejection: record.rejection,
        },
    ))
}

/// `DELETE /v1/assets/{id}`: its author (or an admin) withdraws it (see
/// `Platform::withdraw`).
pub async fn withdraw(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    let asset = call.asset_id(2)?;
    let withdrawal = call
        .blocking(move |app| Ok(app.platform.withdraw(asset, &principal)?))
        .await?;
    #[derive(Serialize)]
    struct Withdrawn {
        id: AssetId,
        status: stockroom_vocab::AssetStatus,
    }
    Ok(json(
        StatusCode::OK,
        &Withdrawn {
            id: asset,
            status: withdrawal.status,
        },
    ))
}

/// `POST /v1/moderation/assets/{id}/takedown?reason=`: see `Platform::takedown`.
pub async fn takedown(call: Call) -> Result<Response<Body>, ApiError> {
    let moderator = auth::moderator(&call).await?;
    let asset = call.asset_id(3)?;
    let reason = call
        .query()
        .get("reason")
        .ok_or_else(|| ApiError::bad_request("parameter reason is required (the notice)"))?
        .to_string();
    call.blocking(move |app| Ok(app.platform.takedown(asset, &moderator, &reason)?))
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "id": asset, "status": "removed" }),
    ))
}

/// `GET /v1/purges?since=SEQ&limit=N`: the CDN's purge feed, oldest first. Public: it names
/// only asset ids, which the CDN already holds under their surrogate keys.
pub async fn purges(call: Call) -> Result<Response<Body>, ApiError> {
    let query = call.query();
    let since = query.parsed("since", str::parse::<i64>)?.unwrap_or(0);
    let limit = query.in_range("limit", 1..=1000)?.unwrap_or(1000);
    let purges = call
        .blocking(move |app| Ok(app.platform.catalog().purges_since(since, limit)?))
        .await?;
    let next = purges.last().map_or(since, |event| event.seq);
    #[derive(Serialize)]
    struct Feed {
        purges: Vec<stockroom_catalog::PurgeEvent>,
        /// Pass as `since` for the next page.
        next: i64,
    }
    // A full page may have more behind it; a CDN polling the feed follows the link.
    let more = (purges.len() == limit as usize).then(|| next.to_string());
    Ok(call.paged_by("since", &Feed { purges, next }, more.as_deref()))
}

/// `GET /v1/moderation/flags`: flagged members with their reasons (as recorded, with the
/// signal values at the time) and the detectors' signals now.
pub async fn flags(call: Call) -> Result<Response<Body>, ApiError> {
    auth::moderator(&call).await?;
    let (after, limit) = list_page(&call)?;
    let flagged = call
        .blocking(move |app| Ok(app.platform.flagged_members_page(after.as_ref(), limit)?))
        .await?;
    let next = next_position(&flagged, limit, |flagged| {
        After {
            at: flagged.member.created_at,
            id: flagged.member.id.clone(),
        }
        .cursor()
    });
    Ok(call.paged(&listed("flags", &flagged, &next), next.as_deref()))
}

/// Items per page of a list endpoint, unless `limit` says otherwise; and at most.
const LIST_PAGE: u32 = 100;
const LIST_MAX: u32 = 500;

/// A list endpoint's `cursor` (a previous page's `next`) and `limit`.
fn list_page(call: &Call) -> Result<(Option<After>, u32), ApiError> {
    let query = call.query();
    let after = query.parsed("cursor", |cursor| {
        After::parse(cursor).ok_or("not a cursor a page gave")
    })?;
    let limit = query.in_range("limit", 1..=LIST_MAX)?.unwrap_or(LIST_PAGE);
    Ok((after, limit))
}

/// `{"<name>": items, "next": cursor}`, `next` left out on the last page.
fn listed(name: &str, items: &impl Serialize, next: &Option<String>) -> serde_json::Value {
    let mut answer = serde_json::Map::new();
    answer.insert(
        name.to_string(),
        serde_json::to_value(items).unwrap_or_default(),
    );
    if let Some(next) = next {
        answer.insert("next".into(), next.clone().into());
    }
    answer.into()
}

/// `POST /v1/moderation/members/{id}/block|clear?reason=`.
pub async fn block_member(call: Call, block: bool) -> Result<Response<Body>, ApiError> {
    let moderator = auth::moderator(&call).await?;
    let id = call.segment(3).to_string();
    let reason = call.query().get("reason").unwrap_or_default().to_string();
    let member = call
        .blocking(move |app| {
            Ok(app
                .platform
                .set_member_blocked(&id, block, &moderator, &reason)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &member))
}

/// `GET /v1/members/me`: the member, and which seat is asking.
pub async fn me(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    let (seat_id, owner) = (principal.seat_id.clone(), principal.owner);
    let member = call
        .blocking(move |app| Ok(app.platform.catalog().member(&principal.member_id)?))
        .await?;
    #[derive(Serialize)]
    struct Me {
        #[serde(flatten)]
        member: stockroom_catalog::Member,
        seat_id: String,
        owner: bool,
        /// In plain words, why downloads are slowed or stopped; absent when they are not.
        #[serde(skip_serializing_if = "Option::is_none")]
        downloads: Option<&'static str>,
    }
    // The detectors' reasons name their thresholds and scores, which would tell a hoarder
    // how to stay under them: moderators see them, the member sees what it means.
    let downloads = own_view(&member);
    let mut member = member;
    member.flag_reasons.clear();
    let mut answer = serde_json::to_value(Me {
        member,
        seat_id,
        owner,
        downloads,
    })
    .unwrap_or_default();
    if let Some(fields) = answer.as_object_mut() {
        fields.remove("flag_reasons");
    }
    Ok(json(StatusCode::OK, &answer))
}

/// What a member is told of their own flags or block: what happens and why in words,
/// never a detector's figures.
fn own_view(member: &stockroom_catalog::Member) -> Option<&'static str> {
    match member.status {
        MemberStatus::Active => None,
        MemberStatus::Blocked => {
            Some("This membership is blocked: no downloads or uploads. Contact support to ask why.")
        }
        MemberStatus::Flagged => Some(
            if member
                .flag_reasons
                .iter()
                .any(|reason| reason.starts_with("login"))
            {
                "Downloads are slowed: this membership's key seems to be used by several \
                 people or places at once. Each person needs a seat of their own. A \
                 moderator will look at it."
            } else {
                "Downloads are slowed: this membership has been downloading in bulk, more \
                 than use on projects explains. A moderator will look at it; write to \
                 support if you think this is a mistake."
            },
        ),
    }
}

/// `GET /v1/members/me/downloads`: licences, all seats' for the owner, a seat's own
/// otherwise.
pub async fn my_downloads(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    let (after, limit) = list_page(&call)?;
    let licences = call
        .blocking(move |app| {
            Ok(app
                .platform
                .catalog()
                .licences_page(&principal, after.as_ref(), limit)?)
        })
        .await?;
    let next = next_position(&licences, limit, |licence| {
        After {
            at: licence.created_at,
            id: licence.id.clone(),
        }
        .cursor()
    });
    Ok(call.paged(&listed("licenses", &licences, &next), next.as_deref()))
}

/// `GET /v1/members/me/export`: everything held on the membership (its owner only).
pub async fn my_export(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = owner(&call).await?;
    let export = call
        .blocking(move |app| Ok(app.platform.catalog().export(&principal.member_id)?))
        .await?;
    Ok(json(StatusCode::OK, &export))
}

/// `POST /v1/members/me/seats/{id}/key`: a new key for a seat of the caller's membership
/// (the owner for any seat, a seat for itself), shown this once; the old key stops at once.
pub async fn rotate_key(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    let seat = call.segment(4).to_string();
    let key = call
        .blocking(move |app| Ok(app.platform.rotate_key(&seat, &principal)?))
        .await?;
    Ok(json(StatusCode::OK, &key))
}

/// `POST /v1/admin/members/{id}/membership?tier=&seats=&ends_at=&paid=&reason=`: an
/// admin changes a membership; the member as it now is, with the keys of added seats.
pub async fn change_membership(call: Call) -> Result<Response<Body>, ApiError> {
    let admin = auth::member(&call).await?;
    stockroom_catalog::terms::may_administer(&admin.roles, admin.status)?;
    let id = call.segment(3).to_string();
    let query = call.query();
    let tier = query.parsed("tier", |tier| match tier {
        "registered" => Ok(stockroom_vocab::Tier::Registered),
        "unlimited" => Ok(stockroom_vocab::Tier::Unlimited),
        _ => Err("registered or unlimited"),
    })?;
    let seats = query.parsed("seats", |seats| seats.parse::<u32>())?;
    let ends_at = query.parsed("ends_at", |end| match end {
        "none" => Ok(None),
        end => instant(end).map(Some),
    })?;
    let paid = query.parsed("paid", |paid| match paid {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("true or false"),
    })?;
    let change = stockroom_catalog::MembershipChange {
        tier,
        seats,
        ends_at,
        paid,
    };
    let reason = query.get("reason").unwrap_or_default().to_string();
    let changed = call
        .blocking(move |app| {
            if change == stockroom_catalog::MembershipChange::default() {
                let member = app.platform.catalog().member(&id)?;
                return Ok(stockroom_catalog::MembershipChanged {
                    member,
                    new_keys: Vec::new(),
                });
            }
            Ok(app
                .platform
                .change_membership(&id, &change, &admin, &reason)?)
        })
        .await?;
    Ok(json(StatusCode::OK, &changed))
}

/// `DELETE /v1/members/me`: erasure (see `Platform::erase`).
pub async fn erase_me(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = owner(&call).await?;
    call.blocking(move |app| {
        let failed = |asset, error: &stockroom_platform::PlatformError| {
            tracing::warn!(%asset, %error, "erasure: crediting the pseudonym on an asset failed");
        };
        let erasure = app.platform.erase(&principal.member_id, failed)?;
        if !erasure.log_truncated {
            tracing::warn!(
                "erasure: readers kept the catalogue's write-ahead log busy; it may hold the \
                 erased name until the next erasure or restart empties it"
            );
        }
        Ok(())
    })
    .await?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

async fn owner(call: &Call) -> Result<stockroom_catalog::Principal, ApiError> {
    let principal = auth::member(call).await?;
    if principal.owner {
        Ok(principal)
    } else {
        Err(ApiError::forbidden(
            "only the membership's owner may export or erase it",
        ))
    }
}

/// `GET /v1/authors/{id}/stats`: downloads per month and share of all downloads, for the
/// author and admins.
pub async fn author_stats(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    let author = call.segment(2).to_string();
    if principal.member_id != author && !principal.has_role(Role::Admin) {
        return Err(ApiError::forbidden(
            "an author's statistics are for the author and admins",
        ));
    }
    let months = call
        .blocking(move |app| Ok(app.platform.catalog().author_stats(&author)?))
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "months": months }),
    ))
}
