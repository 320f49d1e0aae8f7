//! What moderators keep: the blocklist (a removed image's hashes, and hash lists imported
//! from other platforms), against which every upload is checked until an entry is lifted,
//! and the audit history of every moderator action (who, when, what, why).

use crate::db::{Db, Optional, Row, params};
use serde::Serialize;
use stockroom_vocab::AssetId;

use crate::SqlCatalog;
use crate::error::{CatalogError, Result};
use crate::members::Principal;

/// Most entries one import may add (a larger list is split by the caller).
pub const MAX_IMPORT: usize = 100_000;

/// Hashes of an image to refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHashes {
    /// blake3 of the file, lower-case hex, for an exact match; `None` for a PDQ-only entry
    /// (an imported list).
    pub blake3: Option<String>,
    /// The PDQ hash, 64 lower-case hex digits; `None` when the image could not be hashed
    /// (then only its exact bytes are refused).
    pub pdq: Option<String>,
}

/// One blocklist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockEntry {
    /// The entry's number.
    pub id: i64,
    /// blake3 of the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// The PDQ hash, hex, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdq: Option<String>,
    /// `takedown`, or the label an imported list was given.
    pub source: String,
    /// The removed asset, for a takedown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    /// Why it is blocked.
    pub reason: String,
    /// The moderator who added it.
    pub added_by: String,
    /// When, Unix seconds.
    pub added_at: i64,
    /// When it was lifted, if it was (a lifted entry no longer refuses anything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<i64>,
    /// Who lifted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift_reason: Option<String>,
}

/// One moderator action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Its place in the history (the cursor pages by it).
    pub seq: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// The moderator's member id.
    pub moderator: String,
    /// `approve`, `reject`, `takedown`, `block`, `clear`, `lift` or `import`.
    pub action: String,
    /// What it acted on: an asset id, a member id, a blocklist entry, a list's label.
    pub target: String,
    /// Why, as the moderator gave it.
    pub reason: String,
}

/// Which actions to list: newest first, before `before` (a previous page's last `seq`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this moderator's.
    pub moderator: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only actions on this target (an asset or a member).
    pub target: Option<String>,
    /// Only entries older than this `seq`.
    pub before: Option<i64>,
}

fn entry(row: &Row) -> rusqlite::Result<BlockEntry> {
    Ok(BlockEntry {
        id: row.get(0)?,
        blake3: row.get(1)?,
        pdq: row.get(2)?,
        source: row.get(3)?,
        asset_id: row.get(4)?,
        reason: row.get(5)?,
        added_by: row.get(6)?,
        added_at: row.get(7)?,
        lifted_at: row.get(8)?,
        lifted_by: row.get(9)?,
        lift_reason: row.get(10)?,
    })
}

const ENTRY_COLUMNS: &str = "id, blake3, pdq, source, asset_id, reason, added_by, added_at, \
                             lifted_at, lifted_by, lift_reason";

/// Records a moderator action in `db` (inside the caller's write).
pub(crate) fn record(
    db: &Db<'_>,
    at: i64,
    moderator: &str,
    action: &str,
    target: &str,
    reason: &str,
) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO audit (at, moderator, action, target, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![at, moderator, action, target, reason])?;
    Ok(())
}

/// Adds blocklist entries in `db` (inside the caller's write); their ids.
pub(crate) fn add_blocks(
    db: &Db<'_>,
    at: i64,
    blocks: &[BlockHashes],
    source: &str,
    asset: Option<&str>,
    reason: &str,
    moderator: &str,
) -> Result<Vec<i64>> {
    let mut insert = db.prepare_cached(
        "INSERT INTO blocklist (blake3, pdq, source, asset_id, reason, added_by, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
    )?;
    let mut ids = Vec::with_capacity(blocks.len());
    for block in blocks {
        ids.push(insert.query_row(
            params![
                block.blake3,
                block.pdq,
                source,
                asset,
                reason,
                moderator,
                at
            ],
            |row| row.get(0),
        )?);
    }
    Ok(ids)
}

/// A PDQ hash as the blocklist keeps it: 64 hex digits, lower case.
pub fn valid_pdq(text: &str) -> Option<String> {
    let text = text.trim();
    (text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

impl SqlCatalog {
    /// Every entry not lifted (what uploads are checked against).
    pub fn active_blocks(&self) -> Result<Vec<BlockEntry>> {
        let db = self.read()?;
        let rows = db
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM blocklist WHERE lifted_at IS NULL ORDER BY id"
            ))?
            .query_map(params![], entry)?
            .collect::<Result<_>>()?;
        Ok(rows)
    }

    /// Entries, newest first, lifted ones included, after entry `before`, at most `limit`.
    pub fn blocklist(&self, before: Option<i64>, limit: u32) -> Result<Vec<BlockEntry>> {
        let db = self.read()?;
        let rows = db
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM blocklist WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
            ))?
            .query_map(params![before.unwrap_or(i64::MAX), limit], entry)?
            .collect::<Result<_>>()?;
        Ok(rows)
    }

    /// A moderator imports a hash list (PDQ only): one entry per hash, and one `import`
    /// action; the new entries' ids.
    pub fn import_blocks(
        &self,
        moderator: &Principal,
        source: &str,
        hashes: Vec<String>,
    ) -> Result<Vec<i64>> {
        crate::terms::may_moderate(&moderator.roles, moderator.status)?;
        let source = source.trim().to_string();
        if source.is_empty() {
            return Err(CatalogError::BadInput(
                "an imported list needs a source label".into(),
            ));
        }
        if hashes.len() > MAX_IMPORT {
            return Err(CatalogError::BadInput(format!(
                "at most {MAX_IMPORT} hashes per import; split the list"
            )));
        }
        let blocks: Vec<BlockHashes> = hashes
            .into_iter()
            .map(|pdq| BlockHashes {
                blake3: None,
                pdq: Some(pdq),
            })
            .collect();
        let (now, by) = (self.now(), moderator.member_id.clone());
        self.write(move |db| {
            let reason = format!("imported list {source:?}, {} hashes", blocks.len());
            let ids = add_blocks(db, now, &blocks, &source, None, &reason, &by)?;
            record(db, now, &by, "import", &source, &reason)?;
            Ok(ids)
        })
    }

    /// A moderator lifts an entry: it refuses nothing from now on, and stays listed.
    pub fn lift_block(&self, id: i64, moderator: &Principal, reason: &str) -> Result<BlockEntry> {
        crate::terms::may_moderate(&moderator.roles, moderator.status)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(CatalogError::BadInput(
                "lifting an entry needs a reason".into(),
            ));
        }
        let (now, by) = (self.now(), moderator.member_id.clone());
        self.write(move |db| {
            let found: Option<Option<i64>> = db
                .query_row(
                    "SELECT lifted_at FROM blocklist WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()?;
            match found {
                None => {
                    return Err(CatalogError::NotFound {
                        what: "blocklist entry",
                        id: id.to_string(),
                    });
                }
                Some(Some(_)) => {
                    return Err(CatalogError::BadInput(format!(
                        "blocklist entry {id} is already lifted"
                    )));
                }
                Some(None) => {}
            }
            db.execute(
                "UPDATE blocklist SET lifted_at = ?2, lifted_by = ?3, lift_reason = ?4
                 WHERE id = ?1",
                params![id, now, by, reason],
            )?;
            record(db, now, &by, "lift", &format!("blocklist:{id}"), &reason)?;
            let lifted = db.query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM blocklist WHERE id = ?1"),
                params![id],
                entry,
            )?;
            Ok(lifted)
        })
    }

    /// Records a moderator action taken elsewhere (a block or a clear, an approval).
    pub fn record_action(
        &self,
        moderator: &Principal,
        action: &str,
        target: &str,
        reason: &str,
    ) -> Result<()> {
        let (now, by) = (self.now(), moderator.member_id.clone());
        let (action, target, reason) = (action.to_string(), target.to_string(), reason.to_string());
        self.write(move |db| record(db, now, &by, &action, &target, &reason))
    }

    /// The newest audit entry's number (0 for none): it moves with every takedown, lift
    /// and import, so another process can tell that the blocklist changed.
    pub fn last_action_seq(&self) -> Result<i64> {
        let seq: Option<i64> =
            self.read()?
                .query_row("SELECT MAX(seq) FROM audit", params![], |row| row.get(0))?;
        Ok(seq.unwrap_or(0))
    }

    /// The audit history, newest first, filtered, at most `limit`.
    pub fn actions(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
        let db = self.read()?;
        let rows = db
            .prepare_cached(
                "SELECT seq, at, moderator, action, target, reason FROM audit
                 WHERE seq < ?1 AND (CAST(?2 AS TEXT) IS NULL OR moderator = ?2)
                   AND (CAST(?3 AS TEXT) IS NULL OR action = ?3)
                   AND (CAST(?4 AS TEXT) IS NULL OR target = ?4)
                 ORDER BY seq DESC LIMIT ?5",
            )?
            .query_map(
                params![
                    filter.before.unwrap_or(i64::MAX),
                    filter.moderator,
                    filter.action,
                    filter.target,
                    limit
                ],
                |row| {
                    Ok(AuditEntry {
                        seq: row.get(0)?,
                        at: row.get(1)?,
                        moderator: row.get(2)?,
                        action: row.get(3)?,
                        target: row.get(4)?,
                        reason: row.get(5)?,
                    })
                },
            )?
            .collect::<Result<_>>()?;
        Ok(rows)
    }
}
