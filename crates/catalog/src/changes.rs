//! The change feed's outbox (DESIGN §7): every write that changes an asset appends a row
//! to `changes` inside its own transaction, so a change is in the feed exactly when it is
//! committed. Nodes follow the feed by sequence number to keep what they derive from the
//! catalogue (search and duplicate replicas, preview caches); a node that was away reads
//! on from the last number it applied. `asset_documents` holds, per asset, what a node
//! needs to index it without having admitted it.
//!
//! Every write that adds a change runs alone with every other write (`Lock::All`: on
//! PostgreSQL the catalogue's exclusive advisory lock, held to commit), so changes commit
//! in the order of their numbers: a follower that has read up to `n` never later finds a
//! smaller number committed.

use std::time::{Duration, Instant};

use serde::Serialize;
use stockroom_vocab::AssetId;

use crate::db::{Db, Optional, params};
use crate::error::Result;
use crate::{Readers, SqlCatalog};

/// Why an asset's row changed: what a follower must do besides reading its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Admitted (active or held); its document is in the catalogue.
    Added,
    /// Its status changed (approved, rejected, withdrawn, made inactive).
    Status,
    /// Taken down: its bytes, previews and document are gone.
    Removed,
    /// Purged after its withdrawal: its bytes and document are gone.
    Purged,
    /// It credits someone else now (its author was erased): no preview may keep the name.
    Credit,
}

impl ChangeKind {
    /// Its name in the `changes` table.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Status => "status",
            ChangeKind::Removed => "removed",
            ChangeKind::Purged => "purged",
            ChangeKind::Credit => "credit",
        }
    }

    fn parse(text: &str) -> Option<ChangeKind> {
        [
            ChangeKind::Added,
            ChangeKind::Status,
            ChangeKind::Removed,
            ChangeKind::Purged,
            ChangeKind::Credit,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One row of the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssetChange {
    /// Its place in the feed (increasing; gaps are possible).
    pub seq: i64,
    /// The asset that changed.
    pub asset_id: AssetId,
    /// Why (a kind this build does not know reads as [`ChangeKind::Status`]: re-read it).
    pub kind: ChangeKind,
    /// When, Unix seconds.
    pub at: i64,
}

/// Records a change of `asset` in the writing transaction `db`.
pub(crate) fn record(db: &Db<'_>, asset: &str, kind: ChangeKind, at: i64) -> Result<()> {
    db.prepare_cached("INSERT INTO changes (asset_id, what, at) VALUES (?1, ?2, ?3)")?
        .execute(params![asset, kind.as_str(), at])?;
    Ok(())
}

/// Keeps `asset`'s document, in the writing transaction `db`.
pub(crate) fn keep_document(db: &Db<'_>, asset: &str, document: &[u8]) -> Result<()> {
    if document.is_empty() {
        return Ok(());
    }
    db.prepare_cached(
        "INSERT INTO asset_documents (asset_id, document) VALUES (?1, ?2)
         ON CONFLICT (asset_id) DO UPDATE SET document = excluded.document",
    )?
    .execute(params![asset, document])?;
    Ok(())
}

/// Drops `asset`'s document (taken down or purged: nothing of it may stay).
pub(crate) fn drop_document(db: &Db<'_>, asset: &str) -> Result<()> {
    db.prepare_cached("DELETE FROM asset_documents WHERE asset_id = ?1")?
        .execute(params![asset])?;
    Ok(())
}

/// Most changes one write of [`SqlCatalog::prune_changes`] deletes.
pub const PRUNE_BATCH: u32 = 10_000;

/// How often a follower on SQLite looks for changes while it waits (another process, the
/// CLI, may write them; SQLite cannot say so).
const SQLITE_POLL: Duration = Duration::from_millis(100);

impl SqlCatalog {
    /// Changes after `after` (a sequence number; 0 for the first), oldest first, at most
    /// `limit`.
    pub fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<AssetChange>> {
        self.read()?
            .prepare_cached(
                "SELECT seq, asset_id, what, at FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![after, limit], |row| {
                let what: String = row.get(2)?;
                Ok(AssetChange {
                    seq: row.get(0)?,
                    asset_id: row.get(1)?,
                    kind: ChangeKind::parse(&what).unwrap_or(ChangeKind::Status),
                    at: row.get(3)?,
                })
            })?
            .collect()
    }

    /// The newest change's sequence number (0 when there is none).
    pub fn last_change(&self) -> Result<i64> {
        let last: Option<i64> =
            self.read()?
                .query_row("SELECT MAX(seq) FROM changes", params![], |row| row.get(0))?;
        Ok(last.unwrap_or(0))
    }

    /// The newest sequence number pruned from the feed (0 when none was): a follower
    /// whose position is behind it missed changes and must rebuild from the catalogue.
    pub fn feed_horizon(&self) -> Result<i64> {
        self.read()?.query_row(
            "SELECT pruned_through FROM feed_horizon WHERE id = 1",
            params![],
            |row| row.get(0),
        )
    }

    /// Deletes the changes made before `before` (Unix seconds), but never the newest (the
    /// feed's position stays readable), and moves the horizon to the newest one deleted;
    /// returns how many went. In writes of at most [`PRUNE_BATCH`] rows, so that no other
    /// write waits long behind it. Several nodes may prune at once: each deletes what is
    /// left.
    pub fn prune_changes(&self, before: i64) -> Result<u64> {
        let mut pruned = 0;
        loop {
            let deleted = self.write(move |db| {
                let through: Option<i64> = db
                    .prepare_cached(
                        "SELECT MAX(seq) FROM (SELECT seq FROM changes
                             WHERE at < ?1 AND seq < (SELECT MAX(seq) FROM changes)
                             ORDER BY seq LIMIT ?2) oldest",
                    )?
                    .query_row(params![before, PRUNE_BATCH], |row| row.get(0))?;
                let Some(through) = through else {
                    return Ok(0);
                };
                let deleted = db
                    .prepare_cached("DELETE FROM changes WHERE seq <= ?1")?
                    .execute(params![through])?;
                db.prepare_cached(
                    "UPDATE feed_horizon SET pruned_through = ?1
                     WHERE id = 1 AND pruned_through < ?1",
                )?
                .execute(params![through])?;
                Ok(deleted as u64)
            })?;
            pruned += deleted;
            if deleted < PRUNE_BATCH as u64 {
                return Ok(pruned);
            }
        }
    }

    /// `asset`'s document as admission left it, if the catalogue has one (assets admitted
    /// before the feed existed have none: their node's own record is the only one).
    pub fn asset_document(&self, asset: AssetId) -> Result<Option<Vec<u8>>> {
        self.read()?
            .prepare_cached("SELECT document FROM asset_documents WHERE asset_id = ?1")?
            .query_row(params![asset.to_string()], |row| row.get(0))
            .optional()
    }

    /// How many documents the catalogue keeps (a new node's progress bar).
    pub fn count_documents(&self) -> Result<u64> {
        let count: i64 =
            self.read()?
                .query_row("SELECT COUNT(*) FROM asset_documents", params![], |row| {
                    row.get(0)
                })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Documents in id order after `after`, at most `limit` (a new node builds its
    /// replicas from these).
    pub fn documents_after(
        &self,
        after: Option<AssetId>,
        limit: u32,
    ) -> Result<Vec<(AssetId, Vec<u8>)>> {
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        self.read()?
            .prepare_cached(
                "SELECT asset_id, document FROM asset_documents WHERE asset_id > ?1
                 ORDER BY asset_id LIMIT ?2",
            )?
            .query_map(params![after, limit], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect()
    }

    /// Assets whose original is kept but that have no document (admitted before the
    /// catalogue kept them), in id order: what [`SqlCatalog::keep_document`] fills in.
    pub fn assets_lacking_documents(&self) -> Result<Vec<AssetId>> {
        self.read()?
            .prepare_cached(
                "SELECT id FROM assets a WHERE status <> 'removed' AND purged_at IS NULL
                 AND (blake3 IS NULL OR NOT EXISTS
                     (SELECT 1 FROM asset_documents d WHERE d.asset_id = a.id))
                 ORDER BY id",
            )?
            .query_map(params![], |row| row.get(0))?
            .collect()
    }

    /// Keeps an existing asset's document and, where none is kept, its original's blake3
    /// (hex): for an asset admitted before the catalogue kept them. Announced on the feed,
    /// so that following nodes take it in.
    pub fn keep_document(&self, asset: AssetId, document: &[u8], blake3: &str) -> Result<()> {
        let (id, document, blake3) = (asset.to_string(), document.to_vec(), blake3.to_string());
        let now = self.now();
        self.write(move |db| {
            keep_document(db, &id, &document)?;
            db.execute(
                "UPDATE assets SET blake3 = ?2 WHERE id = ?1 AND blake3 IS NULL",
                params![&id, &blake3],
            )?;
            record(db, &id, ChangeKind::Added, now)
        })
    }

    /// Whether the catalogue keeps the blake3 of every kept original (none admitted before
    /// it kept them is left): then a node knows what object storage holds from the
    /// catalogue, without listing the bucket. One index probe (`assets_lacking_blake3`).
    pub fn keeps_every_hash(&self) -> Result<bool> {
        let lacking = self
            .read()?
            .prepare_cached(
                "SELECT 1 FROM assets WHERE blake3 IS NULL AND status <> 'removed'
                 AND purged_at IS NULL LIMIT 1",
            )?
            .exists(params![])?;
        Ok(!lacking)
    }

    /// Waits until a change after `after` is committed, or `timeout` passed; returns the
    /// newest sequence number then. PostgreSQL wakes the waiter (`LISTEN`); on SQLite it
    /// looks every 100 ms.
    pub fn wait_for_change(&self, after: i64, timeout: Duration) -> Result<i64> {
        let deadline = Instant::now() + timeout;
        match &self.readers {
            Readers::Postgres(pool) => {
                let mut listener = self
                    .listener
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                if listener.as_ref().is_none_or(postgres::Client::is_closed) {
                    let mut client = pool.connect_client()?;
                    client.batch_execute("LISTEN stockroom_changes")?;
                    *listener = Some(client);
                }
                // Read after listening: a change committed in between is seen here.
                let last = self.last_change()?;
                if last > after {
                    return Ok(last);
                }
                let client = listener.as_mut().expect("connected above");
                let waited = {
                    use postgres::fallible_iterator::FallibleIterator;
                    let mut notifications = client.notifications();
                    let mut waiting = notifications.timeout_iter(timeout);
                    waiting.next().map(|_| ())
                };
                if let Err(error) = waited {
                    *listener = None;
                    return Err(error.into());
                }
                {
                    // Several commits may have notified: one read covers them all.
                    use postgres::fallible_iterator::FallibleIterator;
                    let mut notifications = client.notifications();
                    let mut pending = notifications.iter();
                    while let Ok(Some(_)) = pending.next() {}
                }
                drop(listener);
                self.last_change()
            }
            Readers::Sqlite { .. } => loop {
                let last = self.last_change()?;
                let now = Instant::now();
                if last > after || now >= deadline {
                    return Ok(last);
                }
                std::thread::sleep(SQLITE_POLL.min(deadline - now));
            },
        }
    }
}
