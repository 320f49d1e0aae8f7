//! Licences and the download ledger. A licence request is decided and recorded in one
//! write: the asset's and the member's state are read inside the transaction (a cached
//! principal may be a moment old), the terms are applied, and the licence and the
//! download are durable before the call returns, so before any byte of the original is
//! sent. A seat that already holds a licence for the asset reuses it, and that download
//! does not count again.

use crate::db::{Db, Optional, params};
use serde::Serialize;
use stockroom_vocab::AssetId;

use crate::After;
use crate::error::{CatalogError, Result};
use crate::members::Principal;
use crate::network::Network;
use crate::terms::{
    self, AssetTerms, Attribution, Downloader, LicenceType, MemberStatus, Quotas, Site, Tier, Usage,
};
use crate::writer::Lock;
use crate::{SqlCatalog, hex, random_id};

/// Who asks for a download.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// No key: known only by an anonymised network.
    Anonymous(&'a Network),
    /// A member's seat, by its key.
    Member(&'a Principal),
}

/// A licence as its holder sees it (DESIGN §6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Licence {
    /// The licence's id.
    pub id: String,
    /// The licensed asset.
    pub asset_id: AssetId,
    /// The licensee (a pseudonym once they are erased).
    pub member_id: String,
    /// The seat that downloaded.
    pub seat_id: String,
    /// The member's tier when the licence was granted.
    pub tier: Tier,
    /// Standard or editorial.
    #[serde(rename = "type")]
    pub licence_type: LicenceType,
    /// Prints allowed.
    pub print_run_limit: u32,
    /// The credit owed (or offered).
    pub attribution: Attribution,
    /// With the id, what lets anyone verify the licence.
    pub verification_code: String,
    /// When it was granted, Unix seconds.
    pub created_at: i64,
    /// The end client it was granted for (an agency's customer or project, terms 5.3 b);
    /// none for the seat's own use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Granted under an unlimited membership that is now marked unpaid: suspended until it
    /// is paid (terms 6.3); it neither downloads nor verifies as valid meanwhile.
    pub suspended: bool,
    /// The licensee's name as the membership is named now (the pseudonym once erased).
    pub licensee: String,
    /// The licensed image: title, author and release status.
    pub asset: LicensedAsset,
    /// What the licence allows, in the certificate's words: its type, the print run, the
    /// resale restriction (terms 5.4 a, 5.7 h). One paragraph each.
    pub terms: Vec<String>,
}

/// The image a licence is for, as the licence names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LicensedAsset {
    /// Its title.
    pub title: String,
    /// Who it credits (the author's name, or their pseudonym once erased).
    pub author: String,
    /// Whether the people shown signed a model release.
    pub model_release: bool,
    /// Whether the owner of the property shown signed a property release.
    pub property_release: bool,
}

/// Why a suspended licence is refused.
const SUSPENDED: &str =
    "this licence is suspended until the membership it was granted under is paid (terms 6.3)";

/// The longest client name a licence takes.
pub const MAX_CLIENT_CHARS: usize = 200;

/// A client name as a licence keeps it: trimmed, 1–200 characters, no control characters.
pub fn valid_client(client: &str) -> Result<String> {
    let client = client.trim();
    if client.is_empty()
        || client.chars().count() > MAX_CLIENT_CHARS
        || client.chars().any(char::is_control)
    {
        return Err(CatalogError::BadInput(format!(
            "a client is 1-{MAX_CLIENT_CHARS} characters without control characters"
        )));
    }
    Ok(client.to_string())
}

/// The outcome of a download request that the terms allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A new licence (the download counts).
    New(Licence),
    /// This seat's existing licence for the asset (a re-download; it does not count).
    Reused(Licence),
    /// Anonymous users get free content with a print run of 50 and no certificate.
    Anonymous {
        /// Prints allowed (50).
        print_run_limit: u32,
        /// The credit owed.
        attribution: Attribution,
    },
}

/// A granted download request with what fair use needs to know of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Licensing {
    /// The licence, or the anonymous download's terms.
    pub grant: Grant,
    /// The quota's count after this grant; `None` for a re-download, which does not count.
    pub usage: Option<Usage>,
    /// Seats of the membership (1 for anonymous callers).
    pub seats: u32,
    /// The asset's author (for whole-author sweeps).
    pub author_id: String,
    /// The author's active assets (for whole-author sweeps).
    pub author_assets: u32,
    /// When the asset was uploaded (the listing order).
    pub created_at: i64,
    /// When the downloader's paid membership ends, Unix seconds (stockpiling before an
    /// end is a signal).
    pub ends_at: Option<i64>,
}

/// Whose licence a download link carries, as pacing needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The licensee.
    pub member_id: String,
    /// The seat that holds the licence.
    pub seat_id: String,
    /// Seats of the membership (the pace is shared by them).
    pub seats: u32,
    /// The member's status (a flagged member is throttled).
    pub status: MemberStatus,
    /// Past the soft daily limit: downloads stream at the throttled rate.
    pub slowed: bool,
}

/// What anyone holding a licence's id and verification code may confirm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LicenceCheck {
    /// The licence's id.
    pub id: String,
    /// The licensed asset.
    pub asset_id: AssetId,
    /// Standard or editorial.
    #[serde(rename = "type")]
    pub licence_type: LicenceType,
    /// Prints allowed.
    pub print_run_limit: u32,
    /// When it was granted, Unix seconds.
    pub created_at: i64,
    /// Suspended while the membership it was granted under is unpaid (terms 6.3).
    pub suspended: bool,
}

/// What licensing needs of an asset, read inside the transaction.
struct AssetForLicence {
    terms: AssetTerms,
    editorial_only: bool,
    author_id: String,
    author_name: String,
    created_at: i64,
}

impl SqlCatalog {
    /// Decides a download request and records it durably: a new or reused licence for a
    /// member, a counted download for an anonymous user.
    pub fn license(&self, caller: Caller<'_>, asset_id: AssetId) -> Result<Grant> {
        Ok(self.license_counted(caller, asset_id)?.grant)
    }

    /// [`Catalog::license`] with the quota applied inside the same transaction (at the
    /// hard limit a new licence is refused; a re-download always works), and what the
    /// guard's detectors need of the grant.
    pub fn license_counted(&self, caller: Caller<'_>, id: AssetId) -> Result<Licensing> {
        self.license_for(caller, id, None)
    }

    /// [`Catalog::license_counted`] for an end client: a seat's licence for the asset and
    /// `client` (a new one, counted, for a client not licensed yet; terms 5.3 b). Without
    /// a client, the seat's own licence. Anonymous callers hold no licence to name a client
    /// on.
    pub fn license_for(
        &self,
        caller: Caller<'_>,
        id: AssetId,
        client: Option<&str>,
    ) -> Result<Licensing> {
        let client = client.map(valid_client).transpose()?;
        if client.is_some() && matches!(caller, Caller::Anonymous(_)) {
            return Err(CatalogError::BadInput(
                "a licence for a client is a member's: sign in with a key".into(),
            ));
        }
        let (site, now, quotas) = (self.site.clone(), self.now(), self.quotas);
        let asset_id = id.to_string();
        let (who, lock) = match caller {
            Caller::Anonymous(network) => (
                Err(network.clone()),
                Lock::Network(network.as_str().to_string()),
            ),
            Caller::Member(principal) => (
                Ok(principal.seat_id.clone()),
                // A seat belongs to one member for good: the lock is the right one even
                // if the principal is a moment old.
                Lock::Member(principal.member_id.clone()),
            ),
        };
        self.writer.write(lock, move |db| {
            let asset = asset_for_licence(db, &asset_id)?;
            let download = Download {
                asset: id,
                asset_id: &asset_id,
                author_id: &asset.author_id,
                at: now,
            };
            let (grant, usage, seats, ends_at) = match who {
                Err(network) => {
                    let (grant, usage, seats) =
                        license_anonymous(db, &download, &asset, &network, &site, &quotas)?;
                    (grant, usage, seats, None)
                }
                Ok(seat_id) => {
                    license_seat(db, &download, &asset, seat_id, client, &site, &quotas)?
                }
            };
            let author_assets = if usage.is_some() {
                db.prepare_cached(
                    "SELECT COUNT(*) FROM assets WHERE author_id = ?1 AND status = 'active'",
                )?
                .query_row(params![&asset.author_id], |row| row.get(0))?
            } else {
                0
            };
            Ok(Licensing {
                grant,
                usage,
                seats,
                author_id: asset.author_id,
                author_assets,
                created_at: asset.created_at,
                ends_at,
            })
        })
    }

    /// The holder of licence `id` as the database has it now: who is downloading, and
    /// whether their downloads are slowed (past the soft daily limit).
    pub fn holder(&self, licence_id: &str) -> Result<Holder> {
        let db = self.read()?;
        let licence = licence_where(&db, "id = ?1", params![licence_id])?
            .into_iter()
            .next()
            .ok_or_else(|| CatalogError::NotFound {
                what: "licence",
                id: licence_id.to_string(),
            })?;
        if licence.suspended {
            return Err(CatalogError::Forbidden(SUSPENDED));
        }
        let now = self.now();
        // An ended membership's licences stay valid, its other seats' links too.
        let seat = seat_holder(&db, &licence.seat_id, now, false)?;
        let day = counted_since(&db, Counter::Member(&seat.member_id), now - DAY)?;
        Ok(Holder {
            member_id: seat.member_id,
            seat_id: licence.seat_id,
            seats: seat.seats,
            status: seat.status,
            slowed: terms::is_slowed(self.quotas.of(seat.tier, seat.seats), day),
        })
    }

    /// A licence, for its holder: the seat it was granted to, or the membership's owner.
    pub fn licence(&self, viewer: &Principal, id: &str) -> Result<Licence> {
        licence_where(&self.read()?, "id = ?1", params![id])?
            .into_iter()
            .find(|licence| may_see(viewer, licence))
            .ok_or_else(|| CatalogError::NotFound {
                what: "licence",
                id: id.to_string(),
            })
    }

    /// The licences `viewer` may see: all of the membership's for its owner, the seat's
    /// own otherwise. Newest first.
    pub fn licences(&self, viewer: &Principal) -> Result<Vec<Licence>> {
        self.licences_page(viewer, None, u32::MAX)
    }

    /// A page of [`licences`](Self::licences): at most `limit`, after `after` (newest first).
    pub fn licences_page(
        &self,
        viewer: &Principal,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<Licence>> {
        let (at, id) = after.map_or((i64::MAX, ""), |after| (after.at, after.id.as_str()));
        let (column, holder) = if viewer.owner {
            ("member_id", &viewer.member_id)
        } else {
            ("seat_id", &viewer.seat_id)
        };
        licence_where(
            &self.read()?,
            &format!(
                "{column} = ?1 AND (created_at < ?2 OR (created_at = ?2 AND id > ?3))
                 ORDER BY created_at DESC, id LIMIT ?4"
            ),
            params![holder, at, id, limit],
        )
    }

    /// Confirms a licence to anyone with its id and verification code. A wrong code
    /// answers as an unknown id does, so that ids cannot be confirmed by guessing.
    pub fn verify_licence(&self, id: &str, code: &str) -> Result<LicenceCheck> {
        let licence = self.licence_by_code(id, code)?;
        Ok(LicenceCheck {
            id: licence.id,
            asset_id: licence.asset_id,
            licence_type: licence.licence_type,
            print_run_limit: licence.print_run_limit,
            created_at: licence.created_at,
            suspended: licence.suspended,
        })
    }

    /// The whole licence, to anyone with its id and verification code (its certificate is
    /// what a licensee shows a client or printer). A wrong code answers as an unknown id.
    pub fn licence_by_code(&self, id: &str, code: &str) -> Result<Licence> {
        let licence = licence_where(&self.read()?, "id = ?1", params![id])?
            .into_iter()
            .next();
        match licence {
            Some(licence)
                if constant_time_eq(licence.verification_code.as_bytes(), code.as_bytes()) =>
            {
                Ok(licence)
            }
            _ => Err(CatalogError::NotFound {
                what: "licence with that verification code",
                id: id.to_string(),
            }),
        }
    }
}

const DAY: i64 = 86_400;
const MONTH: i64 = 30 * DAY;

/// Whose counted downloads to count.
#[derive(Clone, Copy)]
enum Counter<'a> {
    Member(&'a str),
    Network(&'a str),
}

impl<'a> Counter<'a> {
    /// The ledger column that names `who`, and its value.
    fn column(self) -> (&'static str, &'a str) {
        match self {
            Counter::Member(id) => ("member_id", id),
            Counter::Network(network) => ("network", network),
        }
    }
}

/// Counted downloads of `who` after `since`.
fn counted_since(db: &Db<'_>, who: Counter<'_>, since: i64) -> Result<u32> {
    let (column, key) = who.column();
    let sql =
        format!("SELECT COUNT(*) FROM downloads WHERE {column} = ?1 AND counted = 1 AND at > ?2");
    db.prepare_cached(&sql)?
        .query_row(params![key, since], |row| row.get(0))
}

/// Counted downloads of `who` in the 24 hours and the 30 days before `now`, in one query
/// (one round trip fewer per licence on PostgreSQL).
fn counted_day_and_month(db: &Db<'_>, who: Counter<'_>, now: i64) -> Result<(u32, u32)> {
    let (column, key) = who.column();
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN at > ?2 THEN 1 ELSE 0 END), 0), COUNT(*)
         FROM downloads WHERE {column} = ?1 AND counted = 1 AND at > ?3"
    );
    db.prepare_cached(&sql)?
        .query_row(params![key, now - DAY, now - MONTH], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
}

/// Applies `quota` to one more new licence of `who` at `now`.
fn check_quota(db: &Db<'_>, who: Counter<'_>, quota: terms::Quota, now: i64) -> Result<Usage> {
    let (day, month) = if quota.monthly_review > 0 {
        counted_day_and_month(db, who, now)?
    } else {
        let day = counted_since(db, who, now - DAY)?;
        (day, day)
    };
    terms::within_quota(quota, day, month, || {
        // The licence whose leaving the 24 hours frees a place.
        let (column, key) = who.column();
        let sql = format!(
            "SELECT at FROM downloads WHERE {column} = ?1 AND counted = 1 AND at > ?2
             ORDER BY at LIMIT 1 OFFSET ?3"
        );
        let oldest: Option<i64> = db
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement
                    .query_row(params![key, now - DAY, day - quota.hard_daily], |row| {
                        row.get(0)
                    })
                    .optional()
            })
            .unwrap_or(None);
        oldest.map_or(1, |at| (at + DAY - now).clamp(1, DAY) as u32)
    })
}

/// Free content for an anonymous user: a counted download, no licence record.
fn license_anonymous(
    db: &Db<'_>,
    download: &Download<'_>,
    asset: &AssetForLicence,
    network: &Network,
    site: &Site,
    quotas: &Quotas,
) -> Result<(Grant, Option<Usage>, u32)> {
    let downloader = Downloader {
        tier: Tier::Anonymous,
        status: MemberStatus::Active,
        holds_licence: false,
    };
    terms::may_download(download.asset_id, downloader, asset.terms)?;
    let grant = Grant::Anonymous {
        print_run_limit: terms::print_run_limit(Tier::Anonymous),
        attribution: Attribution::new(site, &asset.author_name, download.asset_id, true),
    };
    // The same network's repeats of an asset within a day are one download (DESIGN §2):
    // they neither count toward the author's share nor spend the network's quota.
    let repeat = db
        .prepare_cached(
            "SELECT 1 FROM downloads
             WHERE network = ?1 AND counted = 1 AND at > ?2 AND asset_id = ?3 LIMIT 1",
        )?
        .exists(params![
            network.as_str(),
            download.at - DAY,
            download.asset_id
        ])?;
    if repeat {
        download.record(db, By::Anonymous(network), false)?;
        return Ok((grant, None, 1));
    }
    let usage = check_quota(
        db,
        Counter::Network(network.as_str()),
        quotas.of(Tier::Anonymous, 1),
        download.at,
    )?;
    download.record(db, By::Anonymous(network), true)?;
    Ok((grant, Some(usage), 1))
}

/// A seat's licence for the asset and client: its existing one (not counted again), or a
/// new one.
fn license_seat(
    db: &Db<'_>,
    download: &Download<'_>,
    asset: &AssetForLicence,
    seat_id: String,
    client: Option<String>,
    site: &Site,
    quotas: &Quotas,
) -> Result<(Grant, Option<Usage>, u32, Option<i64>)> {
    let asset_id = download.asset_id;
    let SeatHolder {
        member_id,
        tier,
        status,
        seats,
        ends_at,
    } = seat_holder(db, &seat_id, download.at, true)?;
    let existing = licence_where(
        db,
        "seat_id = ?1 AND asset_id = ?2 AND client = ?3",
        params![seat_id, asset_id, client.as_deref().unwrap_or_default()],
    )?
    .into_iter()
    .next();
    let downloader = Downloader {
        tier,
        status,
        holds_licence: existing.is_some(),
    };
    terms::may_download(asset_id, downloader, asset.terms)?;
    let by = |licence| By::Seat {
        licence,
        member: &member_id,
    };
    if let Some(licence) = existing {
        if licence.suspended {
            return Err(CatalogError::Forbidden(SUSPENDED));
        }
        download.record(db, by(&licence.id), false)?;
        return Ok((Grant::Reused(licence), None, seats, ends_at));
    }
    let usage = check_quota(
        db,
        Counter::Member(&member_id),
        quotas.of(tier, seats),
        download.at,
    )?;
    let licence_type = terms::licence_type(asset.editorial_only);
    let required = terms::attribution_required(tier, licence_type);
    let licence = Licence {
        id: random_id("l")?,
        asset_id: download.asset,
        member_id: member_id.clone(),
        seat_id,
        tier,
        licence_type,
        print_run_limit: terms::print_run_limit(tier),
        attribution: Attribution::new(site, &asset.author_name, asset_id, required),
        verification_code: verification_code()?,
        created_at: download.at,
        client,
        suspended: false,
        licensee: String::new(),
        asset: LicensedAsset {
            title: String::new(),
            author: String::new(),
            model_release: false,
            property_release: false,
        },
        terms: Vec::new(),
    };
    insert_licence(db, &licence)?;
    // As every reader sees it: with the licensee, the image and the terms filled in.
    let licence = licence_where(db, "id = ?1", params![&licence.id])?
        .into_iter()
        .next()
        .ok_or_else(|| CatalogError::NotFound {
            what: "licence",
            id: licence.id.clone(),
        })?;
    download.record(db, by(&licence.id), true)?;
    Ok((Grant::New(licence), Some(usage), seats, ends_at))
}

fn may_see(viewer: &Principal, licence: &Licence) -> bool {
    licence.member_id == viewer.member_id && (viewer.owner || licence.seat_id == viewer.seat_id)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn verification_code() -> Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(CatalogError::Random)?;
    Ok(hex(&bytes))
}

fn asset_for_licence(db: &Db<'_>, id: &str) -> Result<AssetForLicence> {
    db.prepare_cached(
        "SELECT status, collection, editorial_only, author_id, author_name, created_at
         FROM assets WHERE id = ?1",
    )?
    .query_row(params![id], |row| {
        Ok(AssetForLicence {
            terms: AssetTerms {
                status: row.get(0)?,
                collection: row.get(1)?,
            },
            editorial_only: row.get(2)?,
            author_id: row.get(3)?,
            author_name: row.get(4)?,
            created_at: row.get(5)?,
        })
    })
    .optional()?
    .ok_or_else(|| CatalogError::NotFound {
        what: "asset",
        id: id.to_string(),
    })
}

/// The member behind a live seat, as the database has it now.
struct SeatHolder {
    member_id: String,
    /// What the membership is licensed as now (registered once ended or while unpaid).
    tier: Tier,
    status: MemberStatus,
    /// Live seats (1 once the membership has lapsed: its owner's).
    seats: u32,
    ends_at: Option<i64>,
}

/// The member behind a live seat at `now`. With `signing_in`, a non-owner seat of a
/// lapsed membership is refused (a cached principal may not know yet that it lapsed).
fn seat_holder(db: &Db<'_>, seat_id: &str, now: i64, signing_in: bool) -> Result<SeatHolder> {
    let (member_id, paid_tier, status, seats, ends_at, unpaid, owner): (
        String,
        Tier,
        MemberStatus,
        u32,
        Option<i64>,
        bool,
        bool,
    ) = db
        .prepare_cached(
            "SELECT m.id, m.tier, m.status,
                 (SELECT COUNT(*) FROM seats o WHERE o.member_id = m.id AND o.removed_at IS NULL),
                 m.ends_at, m.unpaid, s.is_owner
             FROM seats s JOIN members m ON m.id = s.member_id
             WHERE s.id = ?1 AND s.removed_at IS NULL",
        )?
        .query_row(params![seat_id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        })
        .optional()?
        .ok_or(CatalogError::UnknownKey)?;
    let tier = crate::membership::effective_tier(paid_tier, ends_at, unpaid, now);
    let lapsed = tier != paid_tier;
    if lapsed && !owner && signing_in {
        return Err(CatalogError::Forbidden(
            "this seat's membership has ended or is unpaid; only its owner's key signs in \
             until it is renewed",
        ));
    }
    Ok(SeatHolder {
        member_id,
        tier,
        status,
        seats: if lapsed { 1 } else { seats },
        ends_at,
    })
}

fn insert_licence(db: &Db<'_>, licence: &Licence) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO licences (id, asset_id, member_id, seat_id, tier, type, print_run_limit,
             attribution_required, attribution_text, attribution_html, verification_code,
             created_at, client)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        licence.id,
        licence.asset_id,
        licence.member_id,
        licence.seat_id,
        licence.tier.as_str(),
        licence.licence_type.as_str(),
        licence.print_run_limit,
        licence.attribution.required,
        licence.attribution.text,
        licence.attribution.html,
        licence.verification_code,
        licence.created_at,
        licence.client.as_deref().unwrap_or_default(),
    ])?;
    Ok(())
}

/// Who a download was for, as the ledger records it.
enum By<'a> {
    /// No key: the anonymised network.
    Anonymous(&'a Network),
    /// A seat, under its licence.
    Seat { licence: &'a str, member: &'a str },
}

/// One asset's entry in the download ledger at one moment.
struct Download<'a> {
    asset: AssetId,
    /// `asset` as the rows hold it.
    asset_id: &'a str,
    author_id: &'a str,
    at: i64,
}

impl Download<'_> {
    /// Appends the download; `counted` is false for a re-download under an existing licence.
    fn record(&self, db: &Db<'_>, by: By<'_>, counted: bool) -> Result<()> {
        let (licence, member, network) = match by {
            By::Anonymous(network) => (None, None, Some(network.as_str())),
            By::Seat { licence, member } => (Some(licence), Some(member), None),
        };
        db.prepare_cached(
            "INSERT INTO downloads (asset_id, author_id, licence_id, member_id, network, counted, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            self.asset_id,
            self.author_id,
            licence,
            member,
            network,
            counted,
            self.at
        ])?;
        Ok(())
    }
}

pub(crate) fn licence_where(
    db: &Db<'_>,
    condition: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Licence>> {
    // The condition names the licence's own columns, so it filters before the join.
    let sql = format!(
        "SELECT l.id, l.asset_id, l.member_id, l.seat_id, l.tier, l.type, l.print_run_limit,
             l.attribution_required, l.attribution_text, l.attribution_html,
             l.verification_code, l.created_at, l.client,
             l.tier = 'unlimited' AND COALESCE(m.unpaid, 0) = 1,
             COALESCE(m.name, l.member_id),
             a.title, a.author_name, a.model_release, a.property_release
         FROM (SELECT * FROM licences WHERE {condition}) l
         LEFT JOIN members m ON m.id = l.member_id
         LEFT JOIN assets a ON a.id = l.asset_id
         ORDER BY l.created_at DESC, l.id"
    );
    let licences = db
        .prepare_cached(&sql)?
        .query_map(values, |row| {
            Ok(Licence {
                id: row.get(0)?,
                asset_id: row.get(1)?,
                member_id: row.get(2)?,
                seat_id: row.get(3)?,
                tier: row.get(4)?,
                licence_type: row.get(5)?,
                print_run_limit: row.get(6)?,
                attribution: Attribution {
                    required: row.get(7)?,
                    text: row.get(8)?,
                    html: row.get(9)?,
                },
                verification_code: row.get(10)?,
                created_at: row.get(11)?,
                client: Some(row.get::<String>(12)?).filter(|client| !client.is_empty()),
                suspended: row.get(13)?,
                licensee: row.get(14)?,
                asset: LicensedAsset {
                    title: row.get::<Option<String>>(15)?.unwrap_or_default(),
                    author: row.get::<Option<String>>(16)?.unwrap_or_default(),
                    model_release: row.get::<Option<bool>>(17)?.unwrap_or(false),
                    property_release: row.get::<Option<bool>>(18)?.unwrap_or(false),
                },
                terms: Vec::new(),
            })
        })?
        .collect::<Result<Vec<Licence>>>()?;
    Ok(licences
        .into_iter()
        .map(|mut licence| {
            licence.terms = terms::licence_text(licence.licence_type, licence.print_run_limit);
            licence
        })
        .collect())
}
