//! Profit-sharing statistics: an author's counted downloads per month and their share of
//! all counted downloads that month (re-downloads under an existing licence do not count).

use serde::Serialize;

use crate::SqlCatalog;
use crate::db::{Engine, params};
use crate::error::Result;

/// One calendar month (UTC) of an author's downloads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonthStats {
    /// `YYYY-MM`.
    pub month: String,
    /// Counted downloads of the author's assets.
    pub downloads: u64,
    /// Counted downloads of every asset.
    pub all_downloads: u64,
    /// `downloads / all_downloads`.
    pub share: f64,
}

impl SqlCatalog {
    /// Every month with any counted download, oldest first, with this author's part.
    pub fn author_stats(&self, author_id: &str) -> Result<Vec<MonthStats>> {
        let db = self.read()?;
        // The calendar month (UTC) of a Unix time, as `YYYY-MM`.
        let month = match db.engine() {
            Engine::Sqlite => "strftime('%Y-%m', at, 'unixepoch')",
            Engine::Postgres => "to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM')",
        };
        let rows = db
            .prepare_cached(&format!(
                "SELECT {month} AS month,
                        SUM(CASE WHEN author_id = ?1 THEN 1 ELSE 0 END), COUNT(*)
                 FROM downloads WHERE counted = 1 GROUP BY month ORDER BY month"
            ))?
            .query_map(params![author_id], |row| {
                let (downloads, all): (u64, u64) = (row.get(1)?, row.get(2)?);
                Ok(MonthStats {
                    month: row.get(0)?,
                    downloads,
                    all_downloads: all,
                    share: downloads as f64 / all.max(1) as f64,
                })
            })?
            .collect::<Result<_>>()?;
        Ok(rows)
    }
}
