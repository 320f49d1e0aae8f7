//! Licences and originals: `POST /v1/assets/{id}/licenses` (the terms are applied and the
//! licence is durable before the answer, so before any byte of the original), the signed
//! link it returns, `GET /v1/download/{token}` (the original from the store's mapping,
//! resumable with `Range`; a resumed download is only a read, never a new licence), and a
//! licence's certificate and public verification.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use stockroom_catalog::{Attribution, Caller, Grant, Licence};

use crate::auth;
use crate::body::Body;
use crate::call::Who;
use crate::call::{Call, json};
use crate::problem::ApiError;
use crate::served::{self, Content, LastModified, Representation, header_value};
use crate::token;
use stockroom_platform::Sendable;
use stockroom_vocab::{AssetId, LicenceType};

/// The licence as the answer shows it: a member's record, or an anonymous download's terms
/// (no id, no certificate).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum LicenceView {
    Member(Licence),
    Anonymous {
        id: Option<String>,
        asset_id: String,
        #[serde(rename = "type")]
        licence_type: LicenceType,
        print_run_limit: u32,
        attribution: Attribution,
        verification_code: Option<String>,
        created_at: i64,
    },
}

#[derive(Debug, Serialize)]
struct Licensed {
    license: LicenceView,
    download_url: String,
    expires_at: i64,
}

pub async fn license(call: Call) -> Result<Response<Body>, ApiError> {
    let asset: AssetId = call
        .segment(2)
        .parse()
        .map_err(|_| ApiError::not_found("no such asset"))?;
    let who = auth::who(&call).await?;
    // Given empty (`client=`) is a 400, as for every typed parameter, not a licence
    // without a client.
    let client = call
        .query()
        .parsed("client", |client| Ok::<_, &str>(client.to_string()))?;
    if client.is_some() && matches!(who, Who::Anonymous(_)) {
        return Err(ApiError::unauthenticated(
            "a licence for a client is a member's: send your key (Authorization: Bearer <key>)",
        ));
    }
    let licensing = call
        .blocking(move |app| {
            let caller = match &who {
                Who::Anonymous(network) => Caller::Anonymous(network),
                Who::Member(principal) => Caller::Member(principal),
            };
            Ok(app.platform.license_for(caller, asset, client.as_deref())?)
        })
        .await?;
    let app = &call.app;
    let grant = licensing.grant;
    let now = app.now();
    let expires_at = now.saturating_add(app.options.download_link_ttl.as_secs() as i64);
    let (status, license) = match grant {
        Grant::New(licence) => (StatusCode::CREATED, LicenceView::Member(licence)),
        Grant::Reused(licence) => (StatusCode::OK, LicenceView::Member(licence)),
        Grant::Anonymous {
            print_run_limit,
            attribution,
        } => (
            StatusCode::CREATED,
            LicenceView::Anonymous {
                id: None,
                asset_id: asset.to_string(),
                licence_type: LicenceType::Standard,
                print_run_limit,
                attribution,
                verification_code: None,
                created_at: now,
            },
        ),
    };
    let licence_id = match &license {
        LicenceView::Member(licence) => Some(licence.id.clone()),
        LicenceView::Anonymous { .. } => None,
    };
    let token = app.tokens.sign(&token::Grant {
        asset,
        licence: licence_id,
        expires_at,
    });
    Ok(json(
        status,
        &Licensed {
            license,
            download_url: format!("/v1/download/{token}"),
            expires_at,
        },
    ))
}

pub async fn download(call: Call) -> Result<Response<Body>, ApiError> {
    let grant = call.app.tokens.verify(call.segment(2), call.app.now())?;
    let asset = grant.asset;
    let network = stockroom_catalog::anonymise(call.peer.ip());
    let download = call
        .blocking(move |app| {
            Ok(app
                .platform
                .download(asset, grant.licence.as_deref(), &network)?)
        })
        .await?;
    let media_type = download
        .format
        .map_or("application/octet-stream", |format| format.media_type());
    let extension = match download.format {
        Some(stockroom_render::Format::Jpeg) => "jpg",
        Some(stockroom_render::Format::Png) => "png",
        Some(stockroom_render::Format::WebP) => "webp",
        _ => "bin",
    };
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // The bytes are the author's file, not ours: a browser must not guess another type.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!(
            "attachment; filename=\"{}-{asset}.{extension}\"",
            call.app.options.download_name
        )),
    );
    if let Some(rate) = download.rate {
        // Tells the client why the download is slow, and how slow.
        headers.insert("stockroom-throttle", HeaderValue::from(rate));
    }
    Ok(served::answer(
        &call.head,
        Representation {
            etag: served::etag(download.original.blake3()),
            content: match download.original {
                Sendable::Whole(original) => original.bytes.into(),
                Sendable::Ranged { len, reader, .. } => Content::Ranged { len, reader },
            },
            headers,
            pacer: Some(download.stream),
            last_modified: Some(LastModified::at(download.created_at)),
        },
    ))
}

/// `GET /v1/licenses/{id}`: the certificate, for its holder (the seat, or the owner).
pub async fn licence(call: Call) -> Result<Response<Body>, ApiError> {
    let principal = auth::member(&call).await?;
    let id = call.segment(2).to_string();
    let licence = call
        .blocking(move |app| Ok(app.platform.catalog().licence(&principal, &id)?))
        .await?;
    Ok(json(StatusCode::OK, &licence))
}

/// `GET /v1/licenses/{id}/verify?code=`: anyone with the id and code may confirm it.
pub async fn verify(call: Call) -> Result<Response<Body>, ApiError> {
    let code = call
        .query()
        .get("code")
        .ok_or_else(|| ApiError::bad_request("parameter code is required"))?
        .to_string();
    let id = call.segment(2).to_string();
    let check = call
        .blocking(move |app| Ok(app.platform.catalog().verify_licence(&id, &code)?))
        .await?;
    #[derive(Serialize)]
    struct Verified<T> {
        valid: bool,
        #[serde(flatten)]
        licence: T,
    }
    Ok(json(
        StatusCode::OK,
        &Verified {
            // Suspended while its membership is unpaid (terms 6.3): known, but not valid.
            valid: !check.suspended,
            licence: check,
        },
    ))
}

/// `GET /v1/licenses/{id}/certificate[?code=]`: the licence as a printable page, for its
/// holder (by key) or for anyone with its verification code (a client, a printer): the
/// licensee, the asset's title and author, its releases, the licence's type and text,
/// print run, client, attribution and how to verify it.
pub async fn certificate(call: Call) -> Result<Response<Body>, ApiError> {
    let id = call.segment(2).to_string();
    let code = call
        .query()
        .parsed("code", |code| Ok::<_, &str>(code.to_string()))?;
    let holder = match code {
        Some(_) => None,
        None => Some(auth::member(&call).await?),
    };
    let licence = call
        .blocking(move |app| {
            let catalog = app.platform.catalog();
            Ok(match (&holder, &code) {
                (Some(principal), _) => catalog.licence(principal, &id)?,
                (None, Some(code)) => catalog.licence_by_code(&id, code)?,
                (None, None) => return Err(ApiError::unauthenticated("a key or a code is needed")),
            })
        })
        .await?;
    let esc = stockroom_catalog::terms::escape_html;
    let yes_no = |released: bool| if released { "yes" } else { "no" };
    let terms: String = licence
        .terms
        .iter()
        .map(|paragraph| format!("<p>{}</p>", esc(paragraph)))
        .collect();
    let client = licence
        .client
        .as_deref()
        .map(|client| {
            format!(
                "<tr><th scope=\"row\">End client</th><td>{}</td></tr>",
                esc(client)
            )
        })
        .unwrap_or_default();
    let attribution = if licence.attribution.required {
        format!("Required: <code>{}</code>", esc(&licence.attribution.text))
    } else {
        format!(
            "Not required (may be given: <code>{}</code>)",
            esc(&licence.attribution.text)
        )
    };
    let granted = crate::access_log::civil_date(licence.created_at.div_euclid(86_400));
    let verify = format!(
        "/v1/licenses/{}/verify?code={}",
        esc(&licence.id),
        esc(&licence.verification_code)
    );
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Licence certificate {id}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#111}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #ccc}}
th{{width:12rem}}code{{font-size:.9em}}@media print{{body{{margin:0}}a{{color:inherit}}}}</style></head>
<body><main><h1>Licence certificate</h1>
<table>
{suspended}<tr><th scope="row">Licence</th><td><code>{id}</code>, {kind}</td></tr>
<tr><th scope="row">Licensee</th><td>{licensee}</td></tr>{client}
<tr><th scope="row">Image</th><td>{title} (<code>{asset}</code>) by {author}</td></tr>
<tr><th scope="row">Releases</th><td>model release: {model}; property release: {property}</td></tr>
<tr><th scope="row">Granted</th><td>{granted}, {tier} membership</td></tr>
<tr><th scope="row">Print run</th><td>{print_run} copies</td></tr>
<tr><th scope="row">Attribution</th><td>{attribution}</td></tr>
<tr><th scope="row">Verification code</th><td><code>{code}</code></td></tr>
</table>
<h2>What this licence allows</h2>{terms}
<p>Anyone may confirm this licence at <a href="{verify}">{verify}</a>.</p></main></body></html>
"#,
        id = esc(&licence.id),
        suspended = if licence.suspended {
            "<tr><th scope=\"row\">Status</th><td><strong>Suspended</strong>: the membership \
             it was granted under is unpaid (terms 6.3). It is valid again once paid.</td></tr>"
        } else {
            ""
        },
        kind = licence.licence_type,
        licensee = esc(&licence.licensee),
        title = esc(&licence.asset.title),
        asset = licence.asset_id,
        author = esc(&licence.asset.author),
        model = yes_no(licence.asset.model_release),
        property = yes_no(licence.asset.property_release),
        tier = licence.tier,
        print_run = licence.print_run_limit,
        code = esc(&licence.verification_code),
    );
    Ok(crate::call::html(page, "private, no-store"))
}
