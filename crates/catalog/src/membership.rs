//! The membership lifecycle (DESIGN §2, terms 6.3): an administrator changes a member's
//! tier and seat count, sets the end date of a paid membership and marks it unpaid or
//! paid; a seat's key is rotated. An ended or unpaid membership is licensed as
//! `registered` (its owner's key alone signs in); licences already issued stay valid when
//! it ends, and are suspended while it is unpaid.

use crate::db::{Db, Engine, params};
use serde::Serialize;

use crate::error::{CatalogError, Result};
use crate::members::{MAX_SEATS, Member, Principal, key_hash, new_key, not_found};
use crate::terms::Tier;
use crate::{SqlCatalog, random_id};

/// A change to a membership; what is `None` stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipChange {
    /// The tier bought (`registered` or `unlimited`). Down to `registered`, the membership
    /// keeps its owner's seat alone and loses its end date and unpaid mark.
    pub tier: Option<Tier>,
    /// Live seats wanted (unlimited only): seats are added with new keys, or the newest
    /// non-owner seats removed (their keys stop at once).
    pub seats: Option<u32>,
    /// The end date, Unix seconds; `Some(None)` removes it.
    pub ends_at: Option<Option<i64>>,
    /// Paid (`true`) or unpaid (`false`).
    pub paid: Option<bool>,
}

/// A key issued by a membership change or a rotation, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeatKey {
    /// The seat.
    pub seat_id: String,
    /// Its new key.
    pub key: String,
}

/// A membership after a change, with the keys of the seats it added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MembershipChanged {
    /// The member as it is now.
    pub member: Member,
    /// The keys of added seats, shown this once.
    pub new_keys: Vec<SeatKey>,
}

/// What a membership is licensed as at `now`: an unlimited one that has ended or is
/// unpaid falls back to registered.
pub fn effective_tier(tier: Tier, ends_at: Option<i64>, unpaid: bool, now: i64) -> Tier {
    let lapsed = unpaid || ends_at.is_some_and(|end| end <= now);
    if tier == Tier::Unlimited && lapsed {
        Tier::Registered
    } else {
        tier
    }
}

impl SqlCatalog {
    /// Changes a membership (see [`MembershipChange`]) in one write; `admin` is recorded
    /// in the audit history with `reason`.
    pub fn change_membership(
        &self,
        member_id: &str,
        change: &MembershipChange,
        admin: &Principal,
        reason: &str,
    ) -> Result<MembershipChanged> {
        let (secret, now) = (self.secret, self.now());
        let change = change.clone();
        let (by, reason) = (admin.member_id.clone(), reason.to_string());
        let new_keys = self.change_member(member_id.to_string(), move |db, id| {
            let (tier, ends_at, unpaid): (Tier, Option<i64>, bool) = db.query_row(
                "SELECT tier, ends_at, unpaid FROM members WHERE id = ?1",
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            let tier = change.tier.unwrap_or(tier);
            let live = live_seats(db, id)?;
            let (seats, ends_at, unpaid) = match tier {
                Tier::Anonymous => {
                    return Err(CatalogError::BadInput(
                        "anonymous users have no account; choose registered or unlimited".into(),
                    ));
                }
                Tier::Registered => {
                    if change.seats.is_some_and(|seats| seats != 1) {
                        return Err(CatalogError::BadInput(
                            "only unlimited memberships have seats".into(),
                        ));
                    }
                    if change.ends_at.flatten().is_some() || change.paid == Some(false) {
                        return Err(CatalogError::BadInput(
                            "only a paid (unlimited) membership has an end date or can be \
                             unpaid"
                                .into(),
                        ));
                    }
                    (1, None, false)
                }
                Tier::Unlimited => {
                    let seats = change.seats.unwrap_or(live.len() as u32);
                    if !(1..=MAX_SEATS).contains(&seats) {
                        return Err(CatalogError::BadInput(format!(
                            "an unlimited membership has 1 to {MAX_SEATS} seats"
                        )));
                    }
                    let unpaid = change.paid.map_or(unpaid, |paid| !paid);
                    (seats, change.ends_at.unwrap_or(ends_at), unpaid)
                }
            };
            db.execute(
                "UPDATE members SET tier = ?2, ends_at = ?3, unpaid = ?4 WHERE id = ?1",
                params![id, tier.as_str(), ends_at, unpaid],
            )?;
            let mut new_keys = Vec::new();
            for _ in live.len()..seats as usize {
                let (seat_id, key) = (random_id("s")?, new_key()?);
                let hash = key_hash(&secret, &key);
                db.execute(
                    "INSERT INTO seats (id, member_id, is_owner, key_hash, created_at)
                     VALUES (?1, ?2, 0, ?3, ?4)",
                    params![seat_id, id, &hash[..], now],
                )?;
                new_keys.push(SeatKey { seat_id, key });
            }
            // The newest first: the owner's seat (first in `live`) always stays.
            for seat in live.iter().skip(seats as usize) {
                db.execute(
                    "UPDATE seats SET key_hash = NULL, removed_at = ?2 WHERE id = ?1",
                    params![seat, now],
                )?;
            }
            let what = format!(
                "tier={} seats={seats} ends_at={} paid={}",
                tier.as_str(),
                ends_at.map_or("none".to_string(), |end| end.to_string()),
                !unpaid
            );
            crate::moderation::record(
                db,
                now,
                &by,
                "membership",
                &format!("member:{id}"),
                &format!("{what}; {reason}"),
            )?;
            Ok(new_keys)
        })?;
        Ok(MembershipChanged {
            member: self.member(member_id)?,
            new_keys,
        })
    }

    /// Gives a live seat a new key; the old one stops at once. Who may ask (the owner for
    /// any seat, a seat for itself) is the caller's rule to apply.
    pub fn rotate_key(&self, member_id: &str, seat_id: &str) -> Result<SeatKey> {
        let key = new_key()?;
        let hash = self.key_hash(&key);
        let seat = seat_id.to_string();
        self.change_member(member_id.to_string(), move |db, id| {
            let changed = db.execute(
                "UPDATE seats SET key_hash = ?3
                 WHERE id = ?2 AND member_id = ?1 AND removed_at IS NULL",
                params![id, seat, &hash[..]],
            )?;
            if changed == 0 {
                return Err(CatalogError::NotFound {
                    what: "seat",
                    id: seat,
                });
            }
            Ok(())
        })?;
        Ok(SeatKey {
            seat_id: seat_id.to_string(),
            key,
        })
    }
}

/// A member's live seats, the owner's first, then oldest first (in the order they were
/// added: SQLite's rowid, PostgreSQL's `seq`).
fn live_seats(db: &Db<'_>, member_id: &str) -> Result<Vec<String>> {
    let added = match db.engine() {
        Engine::Sqlite => "rowid",
        Engine::Postgres => "seq",
    };
    let seats: Vec<String> = db
        .prepare_cached(&format!(
            "SELECT id FROM seats WHERE member_id = ?1 AND removed_at IS NULL
             ORDER BY is_owner DESC, created_at, {added}"
        ))?
        .query_map(params![member_id], |row| row.get(0))?
        .collect::<Result<_>>()?;
    if seats.is_empty() {
        return Err(not_found(member_id));
    }
    Ok(seats)
}
