//! Assets' terms and lifecycle: `pending` → `active` → `withdrawn` (purged after 28 days)
//! or `inactive` (when it was ever licensed: its licensees may still re-download it), and
//! `removed` on an infringement notice. Every change that takes previews off the public
//! records a purge event, which the CDN feed (`GET /v1/purges?since=`) reads in order.

use crate::db::{Db, Optional, params};
use serde::Serialize;
use stockroom_vocab::AssetId;

use crate::SqlCatalog;
use crate::changes::{self, ChangeKind};
use crate::error::{CatalogError, Result};
use crate::members::Principal;
use crate::terms::{AssetStatus, Collection, Role};

/// How long a withdrawn, never-licensed original is kept before the purge job deletes it.
pub const PURGE_AFTER_SECONDS: i64 = 28 * 24 * 60 * 60;

/// An asset to enter into the catalogue (its bytes are the store's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAsset {
    /// Its id, fresh from admission.
    pub id: AssetId,
    /// The credited author's id.
    pub author_id: String,
    /// As credited in attributions.
    pub author_name: String,
    /// Its title (erased on takedown).
    pub title: String,
    /// Who may download it.
    pub collection: Collection,
    /// Licensed for editorial use only.
    pub editorial_only: bool,
    /// The people shown signed a release.
    pub model_release: bool,
    /// The property shown has a release.
    pub property_release: bool,
    /// Held for a moderator (a near duplicate was found).
    pub pending: bool,
    /// What another node needs to index it (opaque here; the platform's encoding), kept
    /// beside the row; empty for none.
    pub document: Vec<u8>,
    /// Its original's blake3 (hex): refused while another asset still kept has the same.
    pub blake3: Option<String>,
}

/// An asset's catalogue row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssetRecord {
    /// Its id.
    pub id: AssetId,
    /// The credited author's id (a pseudonym once they are erased).
    pub author_id: String,
    /// As credited in attributions.
    pub author_name: String,
    /// Its title (empty once removed).
    pub title: String,
    /// Who may download it.
    pub collection: Collection,
    /// Licensed for editorial use only.
    pub editorial_only: bool,
    /// The people shown signed a release.
    pub model_release: bool,
    /// The property shown has a release.
    pub property_release: bool,
    /// Where it is in its lifecycle.
    pub status: AssetStatus,
    /// When it was admitted, Unix seconds.
    pub created_at: i64,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<i64>,
    /// When its bytes were purged (or removed), if they were.
    pub purged_at: Option<i64>,
    /// Counted downloads (first downloads by each seat, and anonymous ones).
    pub downloads: u64,
    /// Why a moderator rejected it, for its author (a rejected upload only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<String>,
}

impl AssetRecord {
    /// Whether the public may see it (search, previews, new licences).
    pub fn is_public(&self) -> bool {
        self.status == AssetStatus::Active
    }
}

/// What a withdrawal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Withdrawal {
    /// `withdrawn` (purged after 28 days) or `inactive` (it was licensed: kept for its
    /// licensees).
    pub status: AssetStatus,
}

/// One entry of the CDN purge feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurgeEvent {
    /// The event's place in the feed (pass the last as `since`).
    pub seq: i64,
    /// The asset whose previews must go.
    pub asset_id: AssetId,
    /// When, Unix seconds.
    pub at: i64,
    /// `withdrawn`, `removed`, `purged`, or `restyled` (the watermark changed).
    pub reason: String,
}

impl SqlCatalog {
    /// Enters a new asset (active, or held when `pending`).
    pub fn add_asset(&self, asset: &NewAsset) -> Result<()> {
        if asset.author_id.is_empty() || asset.author_name.trim().is_empty() {
            return Err(CatalogError::BadInput("an asset needs an author".into()));
        }
        let asset = asset.clone();
        let now = self.now();
        self.write(move |db| {
            let id = asset.id.to_string();
            if asset_status(db, &id)?.is_some() {
                return Err(CatalogError::Exists(id));
            }
            // Under the write lock (the catalogue's, exclusively): no other node's
            // admission of the same bytes can commit between this look and the insert.
            if let Some(hash) = &asset.blake3 {
                let existing: Option<AssetId> = db
                    .prepare_cached(
                        "SELECT id FROM assets WHERE blake3 = ?1 AND status <> 'removed'
                         AND purged_at IS NULL LIMIT 1",
                    )?
                    .query_row(params![hash], |row| row.get(0))
                    .optional()?;
                if let Some(existing) = existing {
                    return Err(CatalogError::SameBytes { existing });
                }
            }
            let status = if asset.pending {
                AssetStatus::Pending
            } else {
                AssetStatus::Active
            };
            db.execute(
                "INSERT INTO assets (id, author_id, author_name, title, collection, editorial_only,
                     model_release, property_release, status, created_at, blake3)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    asset.author_id,
                    asset.author_name.trim(),
                    asset.title,
                    asset.collection.as_str(),
                    asset.editorial_only,
                    asset.model_release,
                    asset.property_release,
                    status.as_str(),
                    now,
                    asset.blake3
                ],
            )?;
            changes::keep_document(db, &id, &asset.document)?;
            changes::record(db, &id, ChangeKind::Added, now)?;
            Ok(())
        })
    }

    /// The asset's catalogue row.
    pub fn asset(&self, id: AssetId) -> Result<AssetRecord> {
        let id = &id.to_string();
        asset(&self.read()?, id)?.ok_or_else(|| not_found(id))
    }

    /// A moderator releases a held asset to the public.
    pub fn approve(&self, id: AssetId, moderator: &Principal) -> Result<()> {
        let id = &id.to_string();
        require_moderator(moderator)?;
        let (now, by) = (self.now(), moderator.member_id.clone());
        self.transition(id, &[AssetStatus::Pending], move |db, id, _| {
            db.execute(
                "UPDATE assets SET status = 'active' WHERE id = ?1",
                params![id],
            )?;
            crate::moderation::record(db, now, &by, "approve", id, "")?;
            changes::record(db, id, ChangeKind::Status, now)?;
            Ok(())
        })
    }

    /// A moderator turns a held upload down (no infringement, so no takedown and no purge
    /// event): it leaves the queue, its author can read `reason`, and its original is
    /// purged after 28 days as a withdrawn one is.
    pub fn reject(&self, id: AssetId, moderator: &Principal, reason: &str) -> Result<()> {
        let id = &id.to_string();
        require_moderator(moderator)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(CatalogError::BadInput(
                "a rejection needs a reason (its author reads it)".into(),
            ));
        }
        let (now, by) = (self.now(), moderator.member_id.clone());
        self.transition(id, &[AssetStatus::Pending], move |db, id, _| {
            db.execute(
                "UPDATE assets SET status = 'rejected', rejection = ?2, withdrawn_at = ?3
                 WHERE id = ?1",
                params![id, reason, now],
            )?;
            crate::moderation::record(db, now, &by, "reject", id, &reason)?;
            changes::record(db, id, ChangeKind::Status, now)?;
            Ok(())
        })
    }

    /// Its author (or an admin) withdraws an asset: it leaves the public at once. If it
    /// was ever licensed it becomes `inactive`, kept for its licensees; otherwise it is
    /// `withdrawn`, and its original is purged after 28 days.
    pub fn withdraw(&self, asset: AssetId, by: &Principal) -> Result<Withdrawal> {
        let id = &asset.to_string();
        let now = self.now();
        let from = [AssetStatus::Pending, AssetStatus::Active];
        let record = self.asset(asset)?;
        if record.author_id != by.member_id && !by.has_role(Role::Admin) {
            return Err(CatalogError::Forbidden(
                "only its author may withdraw an asset",
            ));
        }
        self.transition(id, &from, move |db, id, _| withdraw_row(db, id, now))
            .map(|status| Withdrawal { status })
    }

    /// A moderator removes an asset on an infringement notice: it leaves search, previews
    /// and downloads at once, its metadata is erased, and only an audit record (who, why,
    /// when) stays. The image's hashes (`blocks`) go on the blocklist in the same write, so
    /// that it cannot come back. The caller deletes its bytes from the store.
    pub fn takedown(
        &self,
        id: AssetId,
        moderator: &Principal,
        reason: &str,
        blocks: &[crate::BlockHashes],
    ) -> Result<()> {
        let id = &id.to_string();
        require_moderator(moderator)?;
        if reason.trim().is_empty() {
            return Err(CatalogError::BadInput("a takedown needs a reason".into()));
        }
        let now = self.now();
        let detail =
            serde_json::json!({ "moderator": moderator.member_id, "reason": reason.trim() })
                .to_string();
        let from = [
            AssetStatus::Pending,
            AssetStatus::Active,
            AssetStatus::Withdrawn,
            AssetStatus::Inactive,
        ];
        let (by, why, blocks) = (
            moderator.member_id.clone(),
            reason.trim().to_string(),
            blocks.to_vec(),
        );
        self.transition(id, &from, move |db, id, _| {
            db.execute(
                "UPDATE assets SET status = 'removed', title = '', author_name = '',
                     purged_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            crate::moderation::add_blocks(db, now, &blocks, "takedown", Some(id), &why, &by)?;
            crate::moderation::record(db, now, &by, "takedown", id, &why)?;
            event(db, now, "takedown", id, &detail)?;
            event(db, now, "purge", id, "removed")?;
            changes::drop_document(db, id)?;
            changes::record(db, id, ChangeKind::Removed, now)?;
            Ok(())
        })
    }

    /// The moderation queue: assets held for review (near duplicates), oldest first, at
    /// most `limit`, starting after `after` (the last id of the previous page) if given.
    pub fn held(&self, after: Option<AssetId>, limit: u32) -> Result<Vec<AssetRecord>> {
        let db = self.read()?;
        let after = after.map(|id| id.to_string());
        let start = match after.as_deref() {
            None => (i64::MIN, String::new()),
            Some(id) => match asset(&db, id)? {
                Some(record) => (record.created_at, record.id.to_string()),
                None => return Err(not_found(id)),
            },
        };
        let ids: Vec<String> = db
            .prepare_cached(
                "SELECT id FROM assets WHERE status = 'pending' AND (created_at, id) > (?1, ?2)
                 ORDER BY created_at, id LIMIT ?3",
            )?
            .query_map(params![start.0, start.1, limit], |row| row.get(0))?
            .collect::<Result<_>>()?;
        ids.iter()
            .map(|id| asset(&db, id)?.ok_or_else(|| not_found(id)))
            .collect()
    }

    /// Every asset the catalogue holds, whatever its status (reconciling the store with it
    /// at start).
    pub fn asset_ids(&self) -> Result<Vec<AssetId>> {
        let ids = self
            .read()?
            .prepare_cached("SELECT id FROM assets")?
            .query_map(params![], |row| row.get(0))?
            .collect::<Result<_>>()?;
        Ok(ids)
    }

    /// [`SqlCatalog::asset_ids`] a page at a time: at most `limit` ids after `after`, in
    /// id order (a pass over every asset that need not hold them all).
    pub fn asset_ids_after(&self, after: Option<AssetId>, limit: u32) -> Result<Vec<AssetId>> {
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        self.read()?
            .prepare_cached("SELECT id FROM assets WHERE id > ?1 ORDER BY id LIMIT ?2")?
            .query_map(params![after, limit], |row| row.get(0))?
            .collect()
    }

    /// Withdrawn assets whose 28 days are up and whose originals are not yet purged.
    pub fn due_for_purge(&self) -> Result<Vec<AssetId>> {
        let cutoff = self.now() - PURGE_AFTER_SECONDS;
        let ids = self
            .read()?
            .prepare_cached(
                "SELECT id FROM assets WHERE status IN ('withdrawn', 'rejected')
                     AND purged_at IS NULL AND withdrawn_at <= ?1 ORDER BY withdrawn_at, id",
            )?
            .query_map(params![cutoff], |row| row.get(0))?
            .collect::<Result<_>>()?;
        Ok(ids)
    }

    /// Records that a withdrawn asset's original is gone (the caller deleted it and moved
    /// its thumbnail to the archive).
    pub fn mark_purged(&self, id: AssetId) -> Result<()> {
        let id = &id.to_string();
        let now = self.now();
        let from = [AssetStatus::Withdrawn, AssetStatus::Rejected];
        self.transition(id, &from, move |db, id, status| {
            // Purged already (by another node's purge job): one purge event, not two.
            let purged = db.execute(
                "UPDATE assets SET purged_at = ?2 WHERE id = ?1 AND purged_at IS NULL",
                params![id, now],
            )?;
            if purged == 0 {
                return Ok(());
            }
            // A rejected upload was never public: no cache holds it, no CDN purge is owed.
            if status == AssetStatus::Withdrawn {
                event(db, now, "purge", id, "purged")?;
            }
            changes::drop_document(db, id)?;
            changes::record(db, id, ChangeKind::Purged, now)?;
            Ok(())
        })
    }

    /// Records a `restyled` purge event for each asset: its previews were drawn again with
    /// another watermark, and a CDN holding the old ones (cached as immutable) must drop
    /// them. One transaction.
    pub fn mark_restyled(&self, ids: &[AssetId]) -> Result<()> {
        let ids: Vec<String> = ids.iter().map(AssetId::to_string).collect();
        let now = self.now();
        self.write(move |db| {
            for id in &ids {
                event(db, now, "purge", id, "restyled")?;
            }
            Ok(())
        })
    }

    /// The CDN purge feed: events after `since`, oldest first, at most `limit`.
    pub fn purges_since(&self, since: i64, limit: u32) -> Result<Vec<PurgeEvent>> {
        let events = self
            .read()?
            .prepare_cached(
                "SELECT seq, asset_id, at, detail FROM events
                 WHERE kind = 'purge' AND seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![since, limit], |row| {
                Ok(PurgeEvent {
                    seq: row.get(0)?,
                    asset_id: row.get(1)?,
                    at: row.get(2)?,
                    reason: row.get(3)?,
                })
            })?
            .collect::<Result<_>>()?;
        Ok(events)
    }

    /// The audit records of an asset (takedowns), oldest first, as `(at, kind, detail)`.
    pub fn audit(&self, id: AssetId) -> Result<Vec<(i64, String, String)>> {
        let id = id.to_string();
        let rows = self
            .read()?
            .prepare_cached(
                "SELECT at, kind, detail FROM events WHERE asset_id = ?1 AND kind != 'purge'
                 ORDER BY seq",
            )?
            .query_map(params![id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_>>()?;
        Ok(rows)
    }

    /// Runs `change` on asset `id` if its status is one of `from`, in one write.
    fn transition<R: Send + 'static>(
        &self,
        id: &str,
        from: &[AssetStatus],
        change: impl FnOnce(&Db<'_>, &str, AssetStatus) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (id, from) = (id.to_string(), from.to_vec());
        self.write(move |db| {
            let status = asset_status(db, &id)?.ok_or_else(|| not_found(&id))?;
            if !from.contains(&status) {
                return Err(match status {
                    AssetStatus::Removed => CatalogError::Gone {
                        id,
                        why: "removed on an infringement notice",
                    },
                    _ => CatalogError::BadInput(format!("asset {id} is {status}")),
                });
            }
            change(db, &id, status)
        })
    }
}

fn require_moderator(who: &Principal) -> Result<()> {
    crate::terms::may_moderate(&who.roles, who.status)
}

fn not_found(id: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "asset",
        id: id.to_string(),
    }
}

/// Takes asset `id` off the public in `db`: `inactive` if it was ever licensed (kept for
/// its licensees), else `withdrawn`; records the purge event. Returns the new status.
pub(crate) fn withdraw_row(db: &Db<'_>, id: &str, now: i64) -> Result<AssetStatus> {
    let licensed: bool = db.query_row(
        "SELECT EXISTS (SELECT 1 FROM licences WHERE asset_id = ?1)",
        params![id],
        |row| row.get(0),
    )?;
    let status = if licensed {
        AssetStatus::Inactive
    } else {
        AssetStatus::Withdrawn
    };
    db.execute(
        "UPDATE assets SET status = ?2, withdrawn_at = ?3 WHERE id = ?1",
        params![id, status.as_str(), now],
    )?;
    event(db, now, "purge", id, "withdrawn")?;
    changes::record(db, id, ChangeKind::Status, now)?;
    Ok(status)
}

fn event(db: &Db<'_>, at: i64, kind: &str, asset_id: &str, detail: &str) -> Result<()> {
    db.prepare_cached("INSERT INTO events (at, kind, asset_id, detail) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![at, kind, asset_id, detail])?;
    Ok(())
}

fn asset_status(db: &Db<'_>, id: &str) -> Result<Option<AssetStatus>> {
    let status = db
        .prepare_cached("SELECT status FROM assets WHERE id = ?1")?
        .query_row(params![id], |row| row.get(0))
        .optional()?;
    Ok(status)
}

pub(crate) fn asset(db: &Db<'_>, id: &str) -> Result<Option<AssetRecord>> {
    let record = db
        .prepare_cached(
            "SELECT author_id, author_name, title, collection, editorial_only, model_release,
                 property_release, status, created_at, withdrawn_at, purged_at,
                 (SELECT COUNT(*) FROM downloads WHERE asset_id = ?1 AND counted = 1),
                 rejection
             FROM assets WHERE id = ?1",
        )?
        .query_row(params![id], |row| {
            Ok(AssetRecord {
                id: id.parse().map_err(|error| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        Box::new(error),
                    )
                })?,
                author_id: row.get(0)?,
                author_name: row.get(1)?,
                title: row.get(2)?,
                collection: row.get(3)?,
                editorial_only: row.get(4)?,
                model_release: row.get(5)?,
                property_release: row.get(6)?,
                status: row.get(7)?,
                created_at: row.get(8)?,
                withdrawn_at: row.get(9)?,
                purged_at: row.get(10)?,
                downloads: row.get(11)?,
                rejection: row.get(12)?,
            })
        })
        .optional()?;
    Ok(record)
}
