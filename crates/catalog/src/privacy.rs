//! What the platform's data-protection rules ask of the catalogue: networks instead of
//! addresses, a member's data exported on request, and erasure (licence records kept for
//! tax and warranty under a pseudonym, everything else deleted).

use crate::db::params;
use serde::Serialize;
use stockroom_vocab::AssetId;

use crate::assets::{self, AssetRecord};
use crate::changes::{self, ChangeKind};
use crate::error::Result;
use crate::licences::{Licence, licence_where};
use crate::members::{self, Member};
use crate::{BUSY_TIMEOUT, SqlCatalog, hex};

/// Everything the catalogue holds on a member (DESIGN §2, privacy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Export {
    /// The member's own record.
    pub profile: Member,
    /// Every licence they hold.
    pub licences: Vec<Licence>,
    /// Every download they made.
    pub downloads: Vec<ExportedDownload>,
    /// Every asset credited to them (uploads and ingested work), in any status, oldest
    /// first.
    pub uploads: Vec<AssetRecord>,
}

/// One download in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedDownload {
    /// The asset downloaded.
    pub asset_id: AssetId,
    /// The licence it was under.
    pub licence_id: Option<String>,
    /// When, Unix seconds.
    pub at: i64,
    /// Whether it counted (a first download), or re-used a licence.
    pub counted: bool,
}

/// What an erasure took off the public.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The erased author's assets that were pending or active: gone from the public now.
    pub withdrawn: Vec<AssetId>,
    /// The pseudonym their assets credit from now on.
    pub credit: String,
    /// Every asset that credited them, in any status (their stored records and previews
    /// name them too).
    pub credited: Vec<AssetId>,
    /// Whether the write-ahead log was emptied afterwards, so that it no longer holds the
    /// pages that named them (`false` if readers kept it busy; the next erasure retries).
    pub log_truncated: bool,
}

impl SqlCatalog {
    /// A member's data, for them to take away.
    pub fn export(&self, member_id: &str) -> Result<Export> {
        let db = self.read()?;
        let profile = members::member(&db, member_id, self.now())?
            .ok_or_else(|| members::not_found(member_id))?;
        let licences = licence_where(&db, "member_id = ?1", params![member_id])?;
        let downloads = db
            .prepare_cached(
                "SELECT asset_id, licence_id, at, counted FROM downloads WHERE member_id = ?1
                 ORDER BY seq",
            )?
            .query_map(params![member_id], |row| {
                Ok(ExportedDownload {
                    asset_id: row.get(0)?,
                    licence_id: row.get(1)?,
                    at: row.get(2)?,
                    counted: row.get(3)?,
                })
            })?
            .collect::<Result<_>>()?;
        let ids: Vec<String> = db
            .prepare_cached("SELECT id FROM assets WHERE author_id = ?1 ORDER BY created_at, id")?
            .query_map(params![member_id], |row| row.get(0))?
            .collect::<Result<_>>()?;
        let uploads = ids
            .iter()
            .filter_map(|id| assets::asset(&db, id).transpose())
            .collect::<Result<_>>()?;
        Ok(Export {
            profile,
            licences,
            downloads,
            uploads,
        })
    }

    /// Erases a member: profile, seats and keys go; licences and downloads stay under a
    /// pseudonym that the member's id cannot be recovered from (a keyed hash), so licences
    /// can still be verified and authors' statistics still add up. Old keys stop working.
    /// An author's content leaves the public with them, as if withdrawn (`inactive` where
    /// licensed, so its licensees keep it; else `withdrawn`, purged after 28 days), and
    /// every asset of theirs credits the pseudonym from now on. (Licences already issued
    /// keep the attribution text they were issued with: the licensee owes that credit.)
    /// Returns what the caller must take off the public (index, previews, CDN).
    pub fn erase(&self, member_id: &str) -> Result<Erasure> {
        let pseudonym = format!(
            "erased-{}",
            hex(
                &blake3::keyed_hash(&self.secret, format!("erase:{member_id}").as_bytes())
                    .as_bytes()[..8]
            )
        );
        let now = self.now();
        let mut erasure = self.change_member(member_id.to_string(), move |db, id| {
            let public: Vec<AssetId> = db
                .prepare_cached(
                    "SELECT id FROM assets WHERE author_id = ?1 AND status IN ('pending', 'active')
                     ORDER BY id",
                )?
                .query_map(params![id], |row| row.get(0))?
                .collect::<Result<_>>()?;
            for asset in &public {
                assets::withdraw_row(db, &asset.to_string(), now)?;
            }
            let credited: Vec<AssetId> = db
                .prepare_cached("SELECT id FROM assets WHERE author_id = ?1 ORDER BY id")?
                .query_map(params![id], |row| row.get(0))?
                .collect::<Result<_>>()?;
            db.execute(
                "UPDATE assets SET author_id = ?2, author_name = ?2 WHERE author_id = ?1",
                params![id, &pseudonym],
            )?;
            for asset in &credited {
                changes::record(db, &asset.to_string(), ChangeKind::Credit, now)?;
            }
            for table in ["licences", "downloads"] {
                db.execute(
                    &format!("UPDATE {table} SET member_id = ?2 WHERE member_id = ?1"),
                    params![id, &pseudonym],
                )?;
            }
            db.execute(
                "UPDATE downloads SET author_id = ?2 WHERE author_id = ?1",
                params![id, &pseudonym],
            )?;
            db.execute("DELETE FROM seats WHERE member_id = ?1", params![id])?;
            db.execute("DELETE FROM members WHERE id = ?1", params![id])?;
            Ok(Erasure {
                withdrawn: public,
                credit: pseudonym,
                credited,
                log_truncated: false,
            })
        })?;
        erasure.log_truncated = self.truncate_log()?;
        Ok(erasure)
    }

    /// Copies the write-ahead log into the database and empties it (`wal_checkpoint
    /// (TRUNCATE)`), on a connection of its own (the writer's is inside its transactions);
    /// whether it could, or readers kept it busy past the busy timeout.
    /// PostgreSQL keeps its write-ahead log to itself (and its archive, if any): `false`.
    fn truncate_log(&self) -> Result<bool> {
        let crate::Readers::Sqlite { path, .. } = &self.readers else {
            return Ok(false);
        };
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let busy: i64 =
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        Ok(busy == 0)
    }
}
