//! The platform's terms as pure functions (no I/O, no clock): who may license what, the
//! licence type, print-run limit and attribution owed. The catalogue applies them inside
//! the transaction that records a licence.

use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};

pub(crate) use stockroom_vocab::{AssetStatus, Collection, LicenceType, MemberStatus, Role, Tier};

/// How many prints a licence of this tier allows.
pub const fn print_run_limit(tier: Tier) -> u32 {
    match tier {
        Tier::Anonymous => 50,
        Tier::Registered => 2_000,
        Tier::Unlimited => 50_000,
    }
}

/// Editorial-only content is licensed for editorial use only.
pub const fn licence_type(editorial_only: bool) -> LicenceType {
    if editorial_only {
        LicenceType::Editorial
    } else {
        LicenceType::Standard
    }
}

/// What a licence allows, in the words its certificate prints: one paragraph each.
pub fn licence_text(licence_type: LicenceType, print_run_limit: u32) -> Vec<String> {
    let mut text = vec![match licence_type {
        LicenceType::Standard => "Standard licence: the licensee may use the image, unaltered or \
             edited, in any medium, for commercial and non-commercial purposes, for themselves or \
             for the one end client this licence names."
            .to_string(),
        LicenceType::Editorial => "Editorial licence: the licensee may use the image only in an \
             editorial context (news, reporting, commentary, education), unaltered beyond \
             cropping and resizing, and never to advertise or promote a product, service or \
             cause."
            .to_string(),
    }];
    text.push(format!(
        "Printed copies are limited to {print_run_limit} in all (print run)."
    ));
    text.push(
        "The image may not be resold, sublicensed or redistributed as such (terms 5.4 a): not \
         as a stock image, a template, a print-on-demand product or in a collection where it \
         can be taken out on its own (terms 5.7 h)."
            .to_string(),
    );
    text
}

/// Unlimited members owe no attribution, except for editorial use; everyone else does.
pub fn attribution_required(tier: Tier, licence_type: LicenceType) -> bool {
    !(tier == Tier::Unlimited && licence_type == LicenceType::Standard)
}

/// The credit a licensee owes (or the text they may use voluntarily).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// Whether the licensee must credit (otherwise they may).
    pub required: bool,
    /// `© <site>/<author name>`.
    pub text: String,
    /// The same, linking the image's page.
    pub html: String,
}

/// Where the platform lives, for attribution texts and links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// As credited: `© <name>/<author>`.
    pub name: String,
    /// Base URL of image pages: `<url>/assets/<id>`.
    pub url: String,
}

impl Attribution {
    /// The attribution for `author_name`'s asset `asset_id` on `site`.
    pub fn new(site: &Site, author_name: &str, asset_id: &str, required: bool) -> Attribution {
        let text = format!("© {}/{}", site.name, author_name);
        let link = format!("{}/assets/{}", site.url.trim_end_matches('/'), asset_id);
        let html = format!(
            "<a href=\"{}\">{}</a>",
            escape_html(&link),
            escape_html(&text)
        );
        Attribution {
            required,
            text,
            html,
        }
    }
}

/// Text made safe for HTML element content and attribute values (attributions, the
/// console's pages).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether a member may upload: authors (and admins) whose account is not blocked.
pub fn may_upload(roles: &[Role], status: MemberStatus) -> Result<()> {
    if status == MemberStatus::Blocked {
        return Err(CatalogError::Forbidden(
            "this account is blocked: no uploads",
        ));
    }
    if roles.contains(&Role::Author) || roles.contains(&Role::Admin) {
        Ok(())
    } else {
        Err(CatalogError::Forbidden("only authors may upload"))
    }
}

/// Whether a member may moderate: moderators and admins whose account is not blocked (a
/// blocked moderator keeps no right, not even to clear their own block).
pub fn may_moderate(roles: &[Role], status: MemberStatus) -> Result<()> {
    if status == MemberStatus::Blocked {
        return Err(CatalogError::Forbidden(
            "this account is blocked: no moderation rights",
        ));
    }
    if roles.contains(&Role::Moderator) || roles.contains(&Role::Admin) {
        Ok(())
    } else {
        Err(CatalogError::Forbidden("moderators only"))
    }
}

/// Whether a member may administer memberships (tiers, seats, end dates, payment): admins
/// whose account is not blocked.
pub fn may_administer(roles: &[Role], status: MemberStatus) -> Result<()> {
    if status == MemberStatus::Blocked {
        return Err(CatalogError::Forbidden(
            "this account is blocked: no administration rights",
        ));
    }
    if roles.contains(&Role::Admin) {
        Ok(())
    } else {
        Err(CatalogError::Forbidden("admins only"))
    }
}

/// Whether `by` may give seat `seat_id` of its own membership a new key: the owner for
/// any seat, a seat for itself; not while blocked.
pub fn may_rotate_key(
    by_owner: bool,
    by_seat: &str,
    by_status: MemberStatus,
    seat_id: &str,
) -> Result<()> {
    if by_status == MemberStatus::Blocked {
        return Err(CatalogError::Forbidden("this account is blocked"));
    }
    if by_owner || by_seat == seat_id {
        Ok(())
    } else {
        Err(CatalogError::Forbidden(
            "a seat may rotate its own key; the membership's owner may rotate any seat's",
        ))
    }
}

/// Whether `by` may block or clear a member holding `target_roles`: a moderator, and only
/// an admin may block or clear an admin.
pub fn may_set_status(
    by_roles: &[Role],
    by_status: MemberStatus,
    target_roles: &[Role],
) -> Result<()> {
    may_moderate(by_roles, by_status)?;
    if target_roles.contains(&Role::Admin) && !by_roles.contains(&Role::Admin) {
        return Err(CatalogError::Forbidden(
            "only an admin may block or clear an admin",
        ));
    }
    Ok(())
}

/// Who asks for a download, as far as the terms care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Downloader {
    /// What the downloader pays for.
    pub tier: Tier,
    /// Active, flagged or blocked.
    pub status: MemberStatus,
    /// This seat already holds a licence for the asset (a re-download).
    pub holds_licence: bool,
}

/// What the terms say of an asset for a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssetTerms {
    /// Where the asset is in its lifecycle.
    pub status: AssetStatus,
    /// Who may download it.
    pub collection: Collection,
}

/// Whether `who` may download `asset` (`id` only names it in errors). A licensee keeps
/// the right to re-download what they licensed, also once it is inactive; nobody may
/// download removed or withdrawn content; blocked members may download nothing.
pub fn may_download(id: &str, who: Downloader, asset: AssetTerms) -> Result<()> {
    if who.status == MemberStatus::Blocked {
        return Err(CatalogError::Forbidden(
            "this account is blocked: no downloads",
        ));
    }
    let gone = |why| {
        Err(CatalogError::Gone {
            id: id.to_string(),
            why,
        })
    };
    match asset.status {
        AssetStatus::Pending | AssetStatus::Rejected => {
            return Err(CatalogError::NotFound {
                what: "asset",
                id: id.to_string(),
            });
        }
        AssetStatus::Removed => return gone("removed on an infringement notice"),
        AssetStatus::Withdrawn => return gone("withdrawn by its author"),
        AssetStatus::Inactive if !who.holds_licence => {
            return gone("withdrawn by its author; only its licensees may download it");
        }
        AssetStatus::Inactive | AssetStatus::Active => {}
    }
    if who.holds_licence {
        return Ok(());
    }
    if asset.collection == Collection::Unlimited && who.tier != Tier::Unlimited {
        return Err(CatalogError::Forbidden(
            "unlimited-collection content is for unlimited members only",
        ));
    }
    Ok(())
}

/// A tier's download quota: new licences in any 24 hours (re-downloads of a licence held
/// never count). Past `soft_daily` downloads still work but stream at the throttled rate;
/// at `hard_daily` new licences are refused until the oldest of the day is 24 hours old;
/// reaching `monthly_review` in 30 days puts the member before a moderator. For
/// `unlimited` the figures are per seat. `0` means no such limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Past this many new licences in 24 hours downloads are throttled.
    pub soft_daily: u32,
    /// At this many new licences in 24 hours new ones are refused.
    pub hard_daily: u32,
    /// At this many new licences in 30 days a moderator reviews the member.
    pub monthly_review: u32,
}

/// Quotas by tier (`[quotas]` in the config file); the defaults are argued in
/// `docs/fair-use.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Per anonymised network.
    pub anonymous: Quota,
    /// Per member.
    pub registered: Quota,
    /// Per seat.
    pub unlimited: Quota,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            anonymous: Quota {
                soft_daily: 0,
                hard_daily: 20,
                monthly_review: 0,
            },
            registered: Quota {
                soft_daily: 20,
                hard_daily: 60,
                monthly_review: 600,
            },
            unlimited: Quota {
                soft_daily: 100,
                hard_daily: 300,
                monthly_review: 3_000,
            },
        }
    }
}

impl Quotas {
    /// Checks that no tier's soft limit is above its hard one (a hard limit of 0 is none).
    pub fn validate(&self) -> Result<()> {
        for (tier, quota) in [
            (Tier::Anonymous, self.anonymous),
            (Tier::Registered, self.registered),
            (Tier::Unlimited, self.unlimited),
        ] {
            if quota.hard_daily > 0 && quota.soft_daily > quota.hard_daily {
                return Err(CatalogError::BadInput(format!(
                    "quotas.{tier}: soft_daily {} is above hard_daily {}",
                    quota.soft_daily, quota.hard_daily
                )));
            }
        }
        Ok(())
    }

    /// The quota of a membership of `tier` with `seats` seats.
    pub fn of(&self, tier: Tier, seats: u32) -> Quota {
        match tier {
            Tier::Anonymous => self.anonymous,
            Tier::Registered => self.registered,
            Tier::Unlimited => {
                let seats = seats.max(1);
                let scale = |n: u32| n.saturating_mul(seats);
                Quota {
                    soft_daily: scale(self.unlimited.soft_daily),
                    hard_daily: scale(self.unlimited.hard_daily),
                    monthly_review: scale(self.unlimited.monthly_review),
                }
            }
        }
    }
}

/// A new licence's standing against the quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// New licences in the last 24 hours and 30 days, this one included.
    pub day: u32,
    /// See `day`.
    pub month: u32,
    /// The quota it was measured against.
    pub quota: Quota,
    /// Past the soft limit: downloads stream at the throttled rate.
    pub slowed: bool,
    /// This licence reached the monthly review level.
    pub review_due: bool,
}

/// Whether one more new licence is within `quota`, given `day` and `month` new licences
/// before it. At the hard limit it is refused; `retry_after` says when the oldest of the
/// day leaves the 24 hours.
pub fn within_quota(
    quota: Quota,
    day: u32,
    month: u32,
    retry_after: impl FnOnce() -> u32,
) -> Result<Usage> {
    if quota.hard_daily > 0 && day >= quota.hard_daily {
        return Err(CatalogError::QuotaExceeded {
            limit: quota.hard_daily,
            retry_after_secs: retry_after(),
        });
    }
    let (day, month) = (day + 1, month + 1);
    Ok(Usage {
        day,
        month,
        quota,
        slowed: is_slowed(quota, day),
        review_due: quota.monthly_review > 0 && month == quota.monthly_review,
    })
}

/// Past the soft limit, with `day` new licences in 24 hours.
pub fn is_slowed(quota: Quota, day: u32) -> bool {
    quota.soft_daily > 0 && day > quota.soft_daily
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_slows_past_soft_refuses_at_hard_and_asks_for_review_once() {
        let quota = Quota {
            soft_daily: 2,
            hard_daily: 4,
            monthly_review: 10,
        };
        let usage = |day, month| within_quota(quota, day, month, || 77);
        assert!(!usage(1, 1).expect("second").slowed);
        assert!(usage(2, 2).expect("third").slowed);
        assert!(usage(3, 9).expect("fourth").review_due);
        assert!(!usage(3, 10).expect("eleventh this month").review_due);
        let refused = usage(4, 4).expect_err("fifth");
        assert_eq!(refused.retry_after_secs(), Some(77));
        let unlimited = Quotas::default().of(Tier::Unlimited, 3);
        assert_eq!(
            unlimited.hard_daily,
            3 * Quotas::default().unlimited.hard_daily
        );
        let none = Quota {
            soft_daily: 0,
            hard_daily: 0,
            monthly_review: 0,
        };
        let free = within_quota(none, 1_000_000, 1_000_000, || 0).expect("no limit");
        assert!(!free.slowed && !free.review_due);
    }
}
