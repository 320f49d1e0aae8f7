//! Copying a whole catalogue to another (SQLite to PostgreSQL and back): what `stockroom
//! migrate` does when two configurations keep the catalogue in different places.
//!
//! Every table is read in key order, a page at a time, and written to the destination as
//! upserts (insert, or overwrite the row with the same key), one transaction per page
//! through the destination's writer; so a copy cut off and run again goes on, and ends
//! with the destination equal to the source, row for row. The key-hashing secret goes too,
//! so every API key keeps working and erased members' pseudonyms stay the same. At the end
//! each table's rows are counted and hashed on both sides and compared.
//!
//! Meant to run while nothing writes to the source (the nodes stopped): a row written to the
//! source during the copy may or may not be in the destination.

use rusqlite::ToSql;
use rusqlite::types::Value;

use crate::db::{Engine, Row};
use crate::error::{CatalogError, Result};
use crate::{Readers, SqlCatalog};

/// A table as the copy reads and writes it.
struct Table {
    name: &'static str,
    /// The key the pages follow (unique; an integer or byte-wise ordered text).
    key: &'static str,
    /// The columns both engines' schemas have, the key first.
    columns: &'static [&'static str],
    /// PostgreSQL's identity column, moved on past the copied keys.
    identity: bool,
    /// Copied in the order the rows were added (SQLite's rowid, PostgreSQL's `seq`), which
    /// the catalogue reads as a tie-break, rather than in key order.
    insertion_order: bool,
}

/// In the order foreign keys need (members before seats).
const TABLES: &[Table] = &[
    Table {
        name: "members",
        key: "id",
        columns: &[
            "id",
            "name",
            "roles",
            "tier",
            "status",
            "flag_reasons",
            "created_at",
            "ends_at",
            "unpaid",
        ],
        identity: false,
        insertion_order: false,
    },
    Table {
        name: "seats",
        key: "id",
        columns: &[
            "id",
            "member_id",
            "is_owner",
            "key_hash",
            "created_at",
            "removed_at",
        ],
        identity: false,
        insertion_order: true,
    },
    Table {
        name: "assets",
        key: "id",
        columns: &[
            "id",
            "author_id",
            "author_name",
            "title",
            "collection",
            "editorial_only",
            "model_release",
            "property_release",
            "status",
            "created_at",
            "withdrawn_at",
            "purged_at",
            "rejection",
            "blake3",
        ],
        identity: false,
        insertion_order: false,
    },
    Table {
        name: "licences",
        key: "id",
        columns: &[
            "id",
            "asset_id",
            "member_id",
            "seat_id",
            "tier",
            "type",
            "print_run_limit",
            "attribution_required",
            "attribution_text",
            "attribution_html",
            "verification_code",
            "created_at",
            "client",
        ],
        identity: false,
        insertion_order: false,
    },
    Table {
        name: "downloads",
        key: "seq",
        columns: &[
            "seq",
            "asset_id",
            "author_id",
            "licence_id",
            "member_id",
            "network",
            "counted",
            "at",
        ],
        identity: true,
        insertion_order: false,
    },
    Table {
        name: "events",
        key: "seq",
        columns: &["seq", "at", "kind", "asset_id", "detail"],
        identity: true,
        insertion_order: false,
    },
    Table {
        name: "changes",
        key: "seq",
        columns: &["seq", "asset_id", "what", "at"],
        identity: true,
        insertion_order: false,
    },
    Table {
        name: "feed_horizon",
        key: "id",
        columns: &["id", "pruned_through"],
        identity: false,
        insertion_order: false,
    },
    Table {
        name: "asset_documents",
        key: "asset_id",
        columns: &["asset_id", "document"],
        identity: false,
        insertion_order: false,
    },
    Table {
        name: "blocklist",
        key: "id",
        columns: &[
            "id",
            "blake3",
            "pdq",
            "source",
            "asset_id",
            "reason",
            "added_by",
            "added_at",
            "lifted_at",
            "lifted_by",
            "lift_reason",
        ],
        identity: true,
        insertion_order: false,
    },
    Table {
        name: "audit",
        key: "seq",
        columns: &["seq", "at", "moderator", "action", "target", "reason"],
        identity: true,
        insertion_order: false,
    },
];

/// Rows per page (one read and one destination transaction).
const PAGE: u32 = 1_000;

/// One table's copy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    /// The table.
    pub table: &'static str,
    /// Its rows in the source.
    pub rows: u64,
    /// Whether the destination's rows equal the source's (count and content).
    pub equal: bool,
}

impl SqlCatalog {
    /// The rows [`SqlCatalog::copy_to`] copies (for a progress bar).
    pub fn rows_to_copy(&self) -> Result<u64> {
        let db = self.read()?;
        TABLES.iter().try_fold(0u64, |sum, table| {
            let rows: i64 = db.query_row(
                &format!("SELECT COUNT(*) FROM {}", table.name),
                crate::db::params![],
                |row| row.get(0),
            )?;
            Ok(sum + rows as u64)
        })
    }

    /// Copies this catalogue into `destination`, calling `progress(rows)` after each page;
    /// each table's outcome. Refuses a destination that holds members under another
    /// key-hashing secret (another platform's catalogue).
    pub fn copy_to(
        &self,
        destination: &SqlCatalog,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<TableCopy>> {
        destination.adopt_secret(&self.secret)?;
        for table in TABLES {
            self.copy_table(table, destination, progress)?;
        }
        destination.write(|db| {
            if db.engine() == Engine::Postgres {
                for table in TABLES.iter().filter(|table| table.identity) {
                    db.batch(&format!(
                        "SELECT setval(pg_get_serial_sequence('{name}', '{key}'),
                             COALESCE((SELECT MAX({key}) FROM {name}), 0) + 1, false)",
                        name = table.name,
                        key = table.key
                    ))?;
                }
            }
            // Whoever caches principals of the destination forgets them.
            db.execute(
                "UPDATE member_changes SET seq = seq + 1 WHERE id = 1",
                crate::db::params![],
            )?;
            Ok(())
        })?;
        TABLES
            .iter()
            .map(|table| {
                let (rows, digest) = self.digest(table)?;
                let (their_rows, their_digest) = destination.digest(table)?;
                Ok(TableCopy {
                    table: table.name,
                    rows,
                    equal: rows == their_rows && digest == their_digest,
                })
            })
            .collect()
    }

    /// Makes `secret` this catalogue's, unless it holds members under another one.
    fn adopt_secret(&self, secret: &[u8; 32]) -> Result<()> {
        if &self.secret == secret {
            return Ok(());
        }
        let members: i64 = self.read()?.query_row(
            "SELECT COUNT(*) FROM members",
            crate::db::params![],
            |row| row.get(0),
        )?;
        if members > 0 {
            return Err(CatalogError::BadInput(
                "the destination catalogue holds members under another key secret: it is another platform's; copy into an empty one"
                    .into(),
            ));
        }
        match &self.readers {
            Readers::Sqlite { path, .. } => {
                let file = path.with_file_name(crate::SECRET);
                let temporary = path.with_file_name("key-secret.new");
                let _ = std::fs::remove_file(&temporary);
                stockroom_vocab::durable::create_file(&temporary, secret, Some(0o600))
                    .and_then(|()| std::fs::rename(&temporary, &file))
                    .map_err(|source| CatalogError::Io {
                        what: "writing",
                        path: file.display().to_string(),
                        source,
                    })?;
            }
            Readers::Postgres(_) => {
                let secret = secret.to_vec();
                self.write(move |db| {
                    db.execute(
                        "UPDATE settings SET value = ?1 WHERE name = 'key-secret'",
                        crate::db::params![secret],
                    )?;
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn copy_table(
        &self,
        table: &Table,
        destination: &SqlCatalog,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let columns = table.columns.join(", ");
        let updates = table.columns[1..]
            .iter()
            .map(|column| format!("{column} = excluded.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let placeholders = (1..=table.columns.len())
            .map(|n| format!("?{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!(
            "INSERT INTO {name} ({columns}) VALUES ({placeholders})
             ON CONFLICT ({key}) DO UPDATE SET {updates}",
            name = table.name,
            key = table.key,
        );
        let mut after: Option<Value> = None;
        loop {
            let (rows, cursor) = self.page(table, &columns, after.as_ref())?;
            if rows.is_empty() {
                return Ok(());
            }
            after = cursor;
            let count = rows.len() as u64;
            let insert = insert.clone();
            destination.write(move |db| {
                let mut statement = db.prepare_cached(&insert)?;
                for row in &rows {
                    let params: Vec<&dyn ToSql> = row.iter().map(|v| v as &dyn ToSql).collect();
                    statement.execute(&params)?;
                }
                Ok(())
            })?;
            progress(count);
        }
    }

    /// The page of `table` after position `after`, in order, as values; and the position
    /// of its last row.
    fn page(
        &self,
        table: &Table,
        columns: &str,
        after: Option<&Value>,
    ) -> Result<(Vec<Vec<Value>>, Option<Value>)> {
        let db = self.read()?;
        let order = match (table.insertion_order, db.engine()) {
            (false, _) => table.key,
            (true, Engine::Sqlite) => "rowid",
            (true, Engine::Postgres) => "seq",
        };
        let (condition, params): (String, Vec<&dyn ToSql>) = match after {
            Some(position) => (format!("WHERE {order} > ?1"), vec![position as &dyn ToSql]),
            None => (String::new(), Vec::new()),
        };
        let sql = format!(
            "SELECT {columns}, {order} FROM {name} {condition} ORDER BY {order} LIMIT {PAGE}",
            name = table.name,
        );
        let width = table.columns.len();
        let mut rows: Vec<Vec<Value>> = db
            .prepare_cached(&sql)?
            .query_map(&params, |row| values(row, width + 1))?
            .collect::<Result<_>>()?;
        let position = rows.last().and_then(|row| row.last().cloned());
        for row in &mut rows {
            row.pop();
        }
        Ok((rows, position))
    }

    /// `table`'s row count and a hash of its rows in key order.
    fn digest(&self, table: &Table) -> Result<(u64, [u8; 32])> {
        let columns = table.columns.join(", ");
        let mut hasher = blake3::Hasher::new();
        let mut rows = 0;
        let mut after: Option<Value> = None;
        loop {
            let (page, position) = self.page(table, &columns, after.as_ref())?;
            if page.is_empty() {
                return Ok((rows, *hasher.finalize().as_bytes()));
            }
            after = position;
            for row in &page {
                hasher.update(format!("{row:?}\n").as_bytes());
            }
            rows += page.len() as u64;
        }
    }
}

fn values(row: &Row, width: usize) -> rusqlite::Result<Vec<Value>> {
    (0..width).map(|index| row.get::<Value>(index)).collect()
}
