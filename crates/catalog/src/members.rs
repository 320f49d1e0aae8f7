//! Members, their seats and API keys. A key is 32 random bytes shown once; the catalogue
//! keeps only its keyed blake3 hash (the secret lives in a file beside the database, so a
//! copy of the database alone cannot test guesses). Authentication hashes the key and
//! looks the hash up in an in-memory cache, then in the seats table's unique index.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use crate::db::{Db, Optional, params};
use lru::LruCache;
use serde::Serialize;

use crate::After;
use crate::error::{CatalogError, Result};
use crate::sql::Roles;
use crate::terms::{MemberStatus, Role, Tier};
use crate::{SqlCatalog, hex, membership, random_id};

/// Most seats one unlimited membership may have.
pub const MAX_SEATS: u32 = 1_000;
const MAX_NAME_CHARS: usize = 200;
/// What every key starts with, so that leaked keys are easy to scan for.
const KEY_PREFIX: &str = "sr_";

/// A member to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMember {
    /// As shown and credited.
    pub name: String,
    /// What the member may do.
    pub roles: Vec<Role>,
    /// What the member pays for.
    pub tier: Tier,
    /// Keys to issue: 1 unless the tier is `unlimited`.
    pub seats: u32,
}

/// A new member's id and keys (the first is the owner's), shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Created {
    /// The new member's id.
    pub id: String,
    /// One key per seat, the owner's first; shown this once.
    pub keys: Vec<String>,
}

/// Who a key belongs to, as the request path needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The member.
    pub member_id: String,
    /// The seat the key belongs to.
    pub seat_id: String,
    /// The membership's owner seat: sees every seat's licences.
    pub owner: bool,
    /// What the member pays for.
    pub tier: Tier,
    /// Active, flagged or blocked.
    pub status: MemberStatus,
    /// What the member may do.
    pub roles: Vec<Role>,
    /// Live seats of the membership (rate limits and quotas scale with them).
    pub seats: u32,
    /// When the paid membership ends (Unix seconds); `tier` is already what holds now.
    pub ends_at: Option<i64>,
}

impl Principal {
    /// Whether the member holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A member as administrators see it (never with keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The member's id.
    pub id: String,
    /// As shown and credited.
    pub name: String,
    /// What the member may do.
    pub roles: Vec<Role>,
    /// What the member's downloads are licensed as now: `registered` once a paid
    /// membership has ended or while it is unpaid.
    pub tier: Tier,
    /// What the membership was bought as (differs from `tier` when it has ended or is
    /// unpaid).
    pub paid_tier: Tier,
    /// When the paid membership ends, Unix seconds (none: no end date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    /// False while the membership is marked unpaid: the licences issued under it are
    /// suspended (terms 6.3).
    pub paid: bool,
    /// Active, flagged or blocked.
    pub status: MemberStatus,
    /// Why they were flagged (the detectors' reasons with their values).
    pub flag_reasons: Vec<String>,
    /// Live seats, the owner's first.
    pub seats: Vec<Seat>,
    /// When they joined, Unix seconds.
    pub created_at: i64,
}

/// One seat of a membership, with its own key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seat {
    /// The seat's id.
    pub id: String,
    /// The owner's seat (sees every seat's licences).
    pub owner: bool,
    /// When it was added, Unix seconds.
    pub created_at: i64,
}

/// Principals by key hash. Any change to a member clears it whole (such changes are rare)
/// and moves its generation on, so that a lookup that read the database before the change
/// cannot put its stale answer back: a blocked member or a removed seat must not linger.
#[derive(Debug)]
pub(crate) struct KeyCache(Mutex<(u64, LruCache<[u8; 32], Principal>)>);

impl KeyCache {
    pub(crate) fn new(entries: usize) -> KeyCache {
        let entries = NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN);
        KeyCache(Mutex::new((0, LruCache::new(entries))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, LruCache<[u8; 32], Principal>)> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached principal, or the generation to pass to [`KeyCache::put`].
    fn get(&self, hash: &[u8; 32]) -> std::result::Result<Principal, u64> {
        let mut cache = self.lock();
        let generation = cache.0;
        cache.1.get(hash).cloned().ok_or(generation)
    }

    fn put(&self, generation: u64, hash: [u8; 32], principal: Principal) {
        let mut cache = self.lock();
        if cache.0 == generation {
            cache.1.put(hash, principal);
        }
    }

    fn generation(&self) -> u64 {
        self.lock().0
    }

    pub(crate) fn clear(&self) {
        let mut cache = self.lock();
        cache.0 += 1;
        cache.1.clear();
    }
}

/// Reads the key-hashing secret, creating it (owner-only) on first use.
pub(crate) fn load_or_create_secret(path: &Path) -> Result<[u8; 32]> {
    let io = |what, source| CatalogError::Io {
        what,
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            io(
                "reading",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "not 32 bytes"),
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(CatalogError::Random)?;
            match stockroom_vocab::durable::create_file(path, &secret, Some(0o600)) {
                Ok(()) => Ok(secret),
                // Another process created it first: its secret is the one.
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_secret(path)
                }
                Err(source) => Err(io("writing", source)),
            }
        }
        Err(error) => Err(io("reading", error)),
    }
}

/// A key as the catalogue keeps it: its blake3 hash keyed with the secret.
pub(crate) fn key_hash(secret: &[u8; 32], key: &str) -> [u8; 32] {
    *blake3::keyed_hash(secret, key.as_bytes()).as_bytes()
}

pub(crate) fn new_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(CatalogError::Random)?;
    Ok(format!("{KEY_PREFIX}{}", hex(&bytes)))
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn validate(new: &NewMember) -> Result<()> {
    let bad = |why: String| Err(CatalogError::BadInput(why));
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return bad(format!("a name needs 1 to {MAX_NAME_CHARS} characters"));
    }
    if new.roles.is_empty() {
        return bad("a member needs at least one role".into());
    }
    match new.tier {
        Tier::Anonymous => {
            bad("anonymous users have no account; choose registered or unlimited".into())
        }
        Tier::Registered if new.seats != 1 => bad("only unlimited memberships have seats".into()),
        Tier::Unlimited if !(1..=MAX_SEATS).contains(&new.seats) => bad(format!(
            "an unlimited membership has 1 to {MAX_SEATS} seats"
        )),
        _ => Ok(()),
    }
}

impl SqlCatalog {
    pub(crate) fn key_hash(&self, key: &str) -> [u8; 32] {
        key_hash(&self.secret, key)
    }

    /// Creates a member with one key per seat.
    pub fn add_member(&self, new: &NewMember) -> Result<Created> {
        validate(new)?;
        let id = random_id("m")?;
        let keys: Vec<String> = (0..new.seats).map(|_| new_key()).collect::<Result<_>>()?;
        let seats: Vec<(String, [u8; 32])> = keys
            .iter()
            .map(|key| Ok((random_id("s")?, self.key_hash(key))))
            .collect::<Result<_>>()?;
        let (member, name, roles, tier, now) = (
            id.clone(),
            new.name.trim().to_string(),
            roles_text(&new.roles),
            new.tier,
            self.now(),
        );
        self.write(move |db| {
            db.execute(
                "INSERT INTO members (id, name, roles, tier, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'active', ?5)",
                params![member, name, roles, tier.as_str(), now],
            )?;
            for (number, (seat, hash)) in seats.iter().enumerate() {
                db.execute(
                    "INSERT INTO seats (id, member_id, is_owner, key_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![seat, member, number == 0, &hash[..], now],
                )?;
            }
            Ok(())
        })?;
        Ok(Created { id, keys })
    }

    /// Who holds `key`: an unknown key, a removed seat's or an erased member's is
    /// [`CatalogError::UnknownKey`]. Blocked members authenticate (their requests are
    /// then refused by what they ask for, with a reason).
    pub fn authenticate(&self, key: &str) -> Result<Principal> {
        let hash = self.key_hash(key);
        let now = self.now();
        let generation = match self.keys.get(&hash) {
            Ok(principal) if !ended_since_cached(&principal, now) => return Ok(principal),
            Ok(_) => self.keys.generation(),
            Err(generation) => generation,
        };
        let principal =
            principal_by_hash(&self.read()?, &hash, now)?.ok_or(CatalogError::UnknownKey)?;
        self.keys.put(generation, hash, principal.clone());
        Ok(principal)
    }

    /// The principal for `key` if the cache holds it: no database, so the async request
    /// path may ask before falling back to [`Catalog::authenticate`] off its workers.
    pub fn cached_principal(&self, key: &str) -> Option<Principal> {
        let principal = self.keys.get(&self.key_hash(key)).ok()?;
        (!ended_since_cached(&principal, self.now())).then_some(principal)
    }

    /// A member.
    pub fn member(&self, id: &str) -> Result<Member> {
        member(&self.read()?, id, self.now())?.ok_or_else(|| not_found(id))
    }

    /// Every member, oldest first.
    pub fn members(&self) -> Result<Vec<Member>> {
        let db = self.read()?;
        let ids: Vec<String> = db
            .prepare_cached("SELECT id FROM members ORDER BY created_at, id")?
            .query_map(params![], |row| row.get(0))?
            .collect::<Result<_>>()?;
        let now = self.now();
        ids.iter()
            .filter_map(|id| member(&db, id, now).transpose())
            .collect()
    }

    /// Members in `status`, oldest first, at most `limit`, after `after`.
    pub fn members_in(
        &self,
        status: MemberStatus,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<Member>> {
        let db = self.read()?;
        let (at, id) = after.map_or((i64::MIN, ""), |after| (after.at, after.id.as_str()));
        let ids: Vec<String> = db
            .prepare_cached(
                "SELECT id FROM members
                 WHERE status = ?1 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))
                 ORDER BY created_at, id LIMIT ?4",
            )?
            .query_map(params![status, at, id, limit], |row| row.get(0))?
            .collect::<Result<_>>()?;
        let now = self.now();
        ids.iter()
            .filter_map(|id| member(&db, id, now).transpose())
            .collect()
    }

    /// Flags a member (a detector or a moderator): they are throttled, with `reason` kept.
    /// A blocked member stays blocked.
    pub fn flag(&self, id: &str, reason: &str) -> Result<()> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.change_member(id, move |db, id| {
            let reasons: String = db.query_row(
                "SELECT flag_reasons FROM members WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )?;
            let mut reasons: Vec<String> = serde_json::from_str(&reasons).unwrap_or_default();
            reasons.push(reason);
            db.execute(
                "UPDATE members SET flag_reasons = ?2,
                     status = CASE status WHEN 'blocked' THEN 'blocked' ELSE 'flagged' END
                 WHERE id = ?1",
                params![id, serde_json::to_string(&reasons).unwrap_or_default()],
            )?;
            Ok(())
        })
    }

    /// Blocks a member: no downloads, no uploads.
    pub fn block(&self, id: &str) -> Result<()> {
        self.set_status(id, MemberStatus::Blocked)
    }

    /// Clears flags and blocks: the member is active again, with no reasons on file.
    pub fn clear(&self, id: &str) -> Result<()> {
        self.set_status(id, MemberStatus::Active)
    }

    fn set_status(&self, id: &str, status: MemberStatus) -> Result<()> {
        self.change_member(id.to_string(), move |db, id| {
            db.execute(
                "UPDATE members SET status = ?2 WHERE id = ?1",
                params![id, status.as_str()],
            )?;
            if status == MemberStatus::Active {
                db.execute(
                    "UPDATE members SET flag_reasons = '[]' WHERE id = ?1",
                    params![id],
                )?;
            }
            Ok(())
        })
    }

    /// Adds a seat to an unlimited membership; returns its id and key.
    pub fn add_seat(&self, member_id: &str) -> Result<(String, String)> {
        let key = new_key()?;
        let (seat, hash, now) = (random_id("s")?, self.key_hash(&key), self.now());
        let seat_id = seat.clone();
        self.change_member(member_id.to_string(), move |db, id| {
            let (tier, seats): (String, u32) = db.query_row(
                "SELECT tier, (SELECT COUNT(*) FROM seats
                               WHERE member_id = ?1 AND removed_at IS NULL)
                 FROM members WHERE id = ?1",
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            if tier != Tier::Unlimited.as_str() {
                return Err(CatalogError::BadInput(
                    "only unlimited memberships have seats".into(),
                ));
            }
            if seats >= MAX_SEATS {
                return Err(CatalogError::BadInput(format!("already {MAX_SEATS} seats")));
            }
            db.execute(
                "INSERT INTO seats (id, member_id, is_owner, key_hash, created_at)
                 VALUES (?1, ?2, 0, ?3, ?4)",
                params![seat, id, &hash[..], now],
            )?;
            Ok(())
        })?;
        Ok((seat_id, key))
    }

    /// Removes a seat: its key stops working at once. The owner's seat cannot be removed.
    pub fn remove_seat(&self, member_id: &str, seat_id: &str) -> Result<()> {
        let (seat, now) = (seat_id.to_string(), self.now());
        self.change_member(member_id.to_string(), move |db, id| {
            let removed = db.execute(
                "UPDATE seats SET key_hash = NULL, removed_at = ?3
                 WHERE id = ?2 AND member_id = ?1 AND is_owner = 0 AND removed_at IS NULL",
                params![id, seat, now],
            )?;
            if removed == 0 {
                return Err(CatalogError::NotFound {
                    what: "removable seat",
                    id: seat,
                });
            }
            Ok(())
        })
    }

    /// Runs a write that changes member `id` (which must exist), then drops cached keys.
    pub(crate) fn change_member<R: Send + 'static>(
        &self,
        id: String,
        change: impl FnOnce(&Db<'_>, &str) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let result = self.write(move |db| {
            let exists: Option<i64> = db
                .query_row("SELECT 1 FROM members WHERE id = ?1", params![&id], |row| {
                    row.get(0)
                })
                .optional()?;
            if exists.is_none() {
                return Err(not_found(&id));
            }
            let changed = change(db, &id)?;
            db.execute(
                "UPDATE member_changes SET seq = seq + 1 WHERE id = 1",
                params![],
            )?;
            Ok(changed)
        });
        self.keys.clear();
        result
    }

    /// Forgets every cached principal if a member changed since the last call, in this
    /// process or another (the CLI blocking someone while a server runs); whether one did.
    /// A server calls this twice a second, so a block anywhere takes effect within one.
    pub fn sync_member_changes(&self) -> Result<bool> {
        let seq: i64 = self.read()?.query_row(
            "SELECT seq FROM member_changes WHERE id = 1",
            params![],
            |row| row.get(0),
        )?;
        let seen = self.member_changes_seen.swap(seq, Ordering::SeqCst);
        if seq == seen {
            return Ok(false);
        }
        self.keys.clear();
        Ok(true)
    }
}

pub(crate) fn not_found(id: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "member",
        id: id.to_string(),
    }
}

pub(crate) fn principal_by_hash(
    db: &Db<'_>,
    hash: &[u8; 32],
    now: i64,
) -> Result<Option<Principal>> {
    let found = db
        .prepare_cached(
            "SELECT s.id, s.is_owner, m.id, m.tier, m.status, m.roles,
                 (SELECT COUNT(*) FROM seats o WHERE o.member_id = m.id AND o.removed_at IS NULL),
                 m.ends_at, m.unpaid
             FROM seats s JOIN members m ON m.id = s.member_id
             WHERE s.key_hash = ?1 AND s.removed_at IS NULL",
        )?
        .query_row(params![&hash[..]], |row| {
            let principal = Principal {
                seat_id: row.get(0)?,
                owner: row.get(1)?,
                member_id: row.get(2)?,
                tier: row.get(3)?,
                status: row.get(4)?,
                roles: row.get::<Roles>(5)?.0,
                seats: row.get(6)?,
                ends_at: row.get(7)?,
            };
            Ok((principal, row.get::<bool>(8)?))
        })
        .optional()?;
    let Some((mut principal, unpaid)) = found else {
        return Ok(None);
    };
    let tier = membership::effective_tier(principal.tier, principal.ends_at, unpaid, now);
    if tier != principal.tier {
        // A lapsed membership is one registered account: its owner's.
        if !principal.owner {
            return Err(CatalogError::Forbidden(
                "this seat's membership has ended or is unpaid; only its owner's key signs in \
                 until it is renewed",
            ));
        }
        principal.tier = tier;
        principal.seats = 1;
    }
    Ok(Some(principal))
}

/// Whether a cached principal's membership has ended since it was cached (the cache is
/// cleared on every change, but an end date passes without one).
fn ended_since_cached(principal: &Principal, now: i64) -> bool {
    principal.tier == Tier::Unlimited && principal.ends_at.is_some_and(|end| end <= now)
}

pub(crate) fn member(db: &Db<'_>, id: &str, now: i64) -> Result<Option<Member>> {
    let member = db
        .prepare_cached(
            "SELECT name, roles, tier, status, flag_reasons, created_at, ends_at, unpaid
             FROM members WHERE id = ?1",
        )?
        .query_row(params![id], |row| {
            let (paid_tier, ends_at, unpaid) = (row.get(2)?, row.get(6)?, row.get(7)?);
            Ok(Member {
                id: id.to_string(),
                name: row.get(0)?,
                roles: row.get::<Roles>(1)?.0,
                tier: membership::effective_tier(paid_tier, ends_at, unpaid, now),
                paid_tier,
                ends_at,
                paid: !unpaid,
                status: row.get(3)?,
                flag_reasons: serde_json::from_str(&row.get::<String>(4)?).unwrap_or_default(),
                seats: Vec::new(),
                created_at: row.get(5)?,
            })
        })
        .optional()?;
    let Some(mut member) = member else {
        return Ok(None);
    };
    member.seats = db
        .prepare_cached(
            "SELECT id, is_owner, created_at FROM seats
             WHERE member_id = ?1 AND removed_at IS NULL ORDER BY is_owner DESC, created_at, id",
        )?
        .query_map(params![id], |row| {
            Ok(Seat {
                id: row.get(0)?,
                owner: row.get(1)?,
                created_at: row.get(2)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(Some(member))
}
