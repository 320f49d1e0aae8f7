//! The peers: SQLite FTS5 (in process, like our index) and PostgreSQL full-text search
//! with a GIN index (over its Unix socket, as applications use it). Both run the same
//! workload as SQL a competent developer would write: one statement for the page (with
//! the total as a window count) and, when facets are asked for, one more that counts all
//! four facet fields in a single pass.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use stockroom_index::{Color, Kind, Orientation, Sort};

use crate::workload::{BenchQuery, Filter, PER_PAGE, Record};
use stockroom_vocab::Collection;

/// A value's position in its vocabulary: the small integer the SQL tables store.
fn code<T: PartialEq>(all: &[T], value: &T) -> usize {
    all.iter().position(|item| item == value).unwrap_or(0)
}

fn color_bits(colors: &[Color]) -> i64 {
    colors
        .iter()
        .fold(0, |bits, color| bits | 1 << code(Color::ALL, color))
}

/// The filter as a SQL condition on table alias `a` (`author` is bound as parameter
/// `author_param`); `None` without a filter.
fn filter_sql(filter: &Option<Filter>, author_param: &str) -> Option<String> {
    Some(match filter.as_ref()? {
        Filter::Orientation(value) => format!("a.orientation = {}", code(Orientation::ALL, value)),
        Filter::Collection(value) => format!("a.collection = {}", code(Collection::ALL, value)),
        Filter::Editorial(value) => format!("a.editorial = {}", i32::from(*value)),
        Filter::MinWidth(value) => format!("a.width >= {value}"),
        Filter::Kind(value) => format!("a.kind = {}", code(Kind::ALL, value)),
        Filter::Color(value) => format!("(a.colors & {}) <> 0", 1 << code(Color::ALL, value)),
        Filter::Author(_) => format!("a.author = {author_param}"),
        Filter::CreatedFrom(value) => format!("a.created_at >= {value}"),
    })
}

fn order_sql(sort: Sort, rank: &str) -> String {
    match sort {
        Sort::Relevance => format!("{rank}, a.id"),
        Sort::Newest => "a.created_at DESC, a.id".into(),
        Sort::Popular => "a.downloads DESC, a.created_at DESC, a.id".into(),
    }
}

const FACET_COLUMNS: [(&str, usize); 4] = [
    ("orientation", 3),
    ("collection", 2),
    ("kind", 3),
    ("editorial", 2),
];

/// `count(*) FILTER (...)`-style aggregates, one per facet value, via `aggregate`.
fn facet_aggregates(aggregate: impl Fn(&str, usize) -> String) -> String {
    let mut parts = Vec::new();
    for (column, values) in FACET_COLUMNS {
        for value in 0..values {
            parts.push(aggregate(column, value));
        }
    }
    parts.join(", ")
}

fn author(query: &BenchQuery) -> Option<&str> {
    match &query.filter {
        Some(Filter::Author(author)) => Some(author),
        _ => None,
    }
}

/// SQLite with an FTS5 index (porter stemming: SQLite has no German stemmer), tuned for
/// reading: a 1 GB page cache and the file memory-mapped.
pub struct Sqlite {
    connection: rusqlite::Connection,
}

impl Sqlite {
    pub fn build(path: &Path, records: &[Record]) -> Result<Sqlite> {
        let _ = std::fs::remove_file(path);
        let mut connection = rusqlite::Connection::open(path)?;
        connection.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE assets (id TEXT NOT NULL, title TEXT NOT NULL, author TEXT NOT NULL,
               collection INTEGER, kind INTEGER, orientation INTEGER, editorial INTEGER,
               width INTEGER, height INTEGER, colors INTEGER, created_at INTEGER,
               downloads INTEGER);
             CREATE VIRTUAL TABLE fts USING fts5(title, keywords, description, content='',
               tokenize = 'porter unicode61 remove_diacritics 2');",
        )?;
        let transaction = connection.transaction()?;
        {
            let mut asset = transaction.prepare(
                "INSERT INTO assets (rowid, id, title, author, collection, kind, orientation,
                   editorial, width, height, colors, created_at, downloads)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let mut text = transaction.prepare(
                "INSERT INTO fts (rowid, title, keywords, description) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (row, record) in records.iter().enumerate() {
                let row = row as i64 + 1;
                let orientation = Orientation::of(record.width, record.height);
                asset.execute(rusqlite::params![
                    row,
                    record.id,
                    record.title,
                    record.author_id(),
                    code(Collection::ALL, &record.collection),
                    code(Kind::ALL, &record.kind),
                    code(Orientation::ALL, &orientation),
                    record.editorial_only,
                    record.width,
                    record.height,
                    color_bits(&record.colors),
                    record.created_at,
                    record.downloads as i64,
                ])?;
                text.execute(rusqlite::params![
                    row,
                    record.title,
                    record.keywords.join(" "),
                    record.description
                ])?;
            }
        }
        transaction.commit()?;
        connection.execute_batch(
            "INSERT INTO fts (fts) VALUES ('optimize');
             CREATE INDEX assets_author ON assets (author);
             ANALYZE;",
        )?;
        connection.execute_batch("PRAGMA cache_size = -1000000; PRAGMA mmap_size = 4000000000;")?;
        Ok(Sqlite { connection })
    }

    /// Runs one query; returns the total.
    pub fn run(&mut self, query: &BenchQuery) -> Result<u64> {
        let matched: Vec<String> = query
            .words
            .iter()
            .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
            .collect();
        let matched = matched.join(" AND ");
        let filter = filter_sql(&query.filter, "?3")
            .map(|condition| format!(" AND {condition}"))
            .unwrap_or_default();
        // bm25() is only allowed where FTS5 drives the query: rank in a materialised CTE,
        // then join, filter, count and page.
        let sql = format!(
            "WITH m AS MATERIALIZED (SELECT rowid, bm25(fts, 3.0, 2.0, 1.0) AS rank FROM fts
               WHERE fts MATCH ?1)
             SELECT a.id, a.title, count(*) OVER () FROM m JOIN assets a ON a.rowid = m.rowid
             WHERE 1{filter} ORDER BY {} LIMIT {PER_PAGE} OFFSET ?2",
            order_sql(query.sort, "m.rank")
        );
        let offset = i64::from((query.page - 1) * PER_PAGE);
        let mut statement = self.connection.prepare_cached(&sql)?;
        let mut total = 0u64;
        let mut rows = match author(query) {
            Some(author) => statement.query(rusqlite::params![matched, offset, author])?,
            None => statement.query(rusqlite::params![matched, offset])?,
        };
        while let Some(row) = rows.next()? {
            let _id: String = row.get(0)?;
            let _title: String = row.get(1)?;
            total = row.get::<_, i64>(2)? as u64;
        }
        drop(rows);
        drop(statement);
        if query.facets {
            let filter = filter_sql(&query.filter, "?2")
                .map(|condition| format!(" AND {condition}"))
                .unwrap_or_default();
            let sql = format!(
                "SELECT {} FROM fts JOIN assets a ON a.rowid = fts.rowid WHERE fts MATCH ?1{filter}",
                facet_aggregates(|column, value| format!("sum(a.{column} = {value})"))
            );
            let mut statement = self.connection.prepare_cached(&sql)?;
            match author(query) {
                Some(author) => {
                    statement.query_row(rusqlite::params![matched, author], |_| Ok(()))?
                }
                None => statement.query_row(rusqlite::params![matched], |_| Ok(()))?,
            }
        }
        Ok(total)
    }

    pub fn size_bytes(&self) -> Result<u64> {
        let pages: i64 = self
            .connection
            .query_row("PRAGMA page_count", [], |row| row.get(0))?;
        let size: i64 = self
            .connection
            .query_row("PRAGMA page_size", [], |row| row.get(0))?;
        Ok((pages * size) as u64)
    }
}

/// PostgreSQL full-text search: a stored, weighted `tsvector` (title A, keywords B,
/// description C) built with each asset's own language's configuration, a GIN index on it,
/// and queries that match each word stemmed as English or as German (as our index does).
pub struct Postgres {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl Postgres {
    pub fn build(connection: &str, records: &[Record]) -> Result<Postgres> {
        let mut client = postgres::Client::connect(connection, postgres::NoTls)
            .with_context(|| format!("connecting to PostgreSQL at {connection}"))?;
        client.batch_execute(
            "DROP TABLE IF EXISTS assets;
             CREATE TABLE assets (id text NOT NULL, title text NOT NULL, keywords text NOT NULL,
               description text NOT NULL, language regconfig NOT NULL, author text NOT NULL,
               collection smallint, kind smallint, orientation smallint, editorial smallint,
               width integer, height integer, colors integer, created_at bigint,
               downloads bigint,
               tsv tsvector GENERATED ALWAYS AS (
                 setweight(to_tsvector(language, title), 'A') ||
                 setweight(to_tsvector(language, keywords), 'B') ||
                 setweight(to_tsvector(language, description), 'C')) STORED);",
        )?;
        let mut copy = client.copy_in(
            "COPY assets (id, title, keywords, description, language, author, collection, kind,
               orientation, editorial, width, height, colors, created_at, downloads) FROM STDIN",
        )?;
        let mut line = String::new();
        for record in records {
            line.clear();
            let orientation = Orientation::of(record.width, record.height);
            let language = match record.language {
                stockroom_vocab::Language::En => "english",
                stockroom_vocab::Language::De => "german",
            };
            let fields = [
                escape(&record.id),
                escape(&record.title),
                escape(&record.keywords.join(" ")),
                escape(&record.description),
                language.to_string(),
                escape(&record.author_id()),
                code(Collection::ALL, &record.collection).to_string(),
                code(Kind::ALL, &record.kind).to_string(),
                code(Orientation::ALL, &orientation).to_string(),
                u8::from(record.editorial_only).to_string(),
                record.width.to_string(),
                record.height.to_string(),
                color_bits(&record.colors).to_string(),
                record.created_at.to_string(),
                record.downloads.to_string(),
            ];
            line.push_str(&fields.join("\t"));
            line.push('\n');
            copy.write_all(line.as_bytes())?;
        }
        copy.finish()?;
        client.batch_execute(
            "CREATE INDEX assets_tsv ON assets USING gin (tsv);
             CREATE INDEX assets_author ON assets (author);",
        )?;
        // Not in the batch above: VACUUM refuses to run inside its implicit transaction.
        client.batch_execute("VACUUM ANALYZE assets")?;
        Ok(Postgres {
            client,
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: String) -> Result<postgres::Statement> {
        if let Some(statement) = self.statements.get(&sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    pub fn run(&mut self, query: &BenchQuery) -> Result<u64> {
        // Each word: its English stem or its German one; every word must match.
        let tsquery: Vec<String> = (1..=query.words.len())
            .map(|n| {
                format!("(plainto_tsquery('english', ${n}) || plainto_tsquery('german', ${n}))")
            })
            .collect();
        let tsquery = tsquery.join(" && ");
        let author_param = format!("${}", query.words.len() + 1);
        let filter = filter_sql(&query.filter, &author_param)
            .map(|condition| format!(" AND {condition}"))
            .unwrap_or_default();
        let offset = (query.page - 1) * PER_PAGE;
        let sql = format!(
            "SELECT a.id, a.title, count(*) OVER () FROM assets a WHERE a.tsv @@ ({tsquery}){filter}
             ORDER BY {} LIMIT {PER_PAGE} OFFSET {offset}",
            order_sql(query.sort, &format!("ts_rank(a.tsv, {tsquery}) DESC"))
        );
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            query.words.iter().map(|word| word as _).collect();
        let author_value = author(query).map(str::to_string);
        if let Some(author) = &author_value {
            params.push(author);
        }
        let statement = self.statement(sql)?;
        let rows = self.client.query(&statement, &params)?;
        let mut total = 0u64;
        for row in &rows {
            let _id: &str = row.get(0);
            let _title: &str = row.get(1);
            total = row.get::<_, i64>(2) as u64;
        }
        if query.facets {
            let sql = format!(
                "SELECT {} FROM assets a WHERE a.tsv @@ ({tsquery}){filter}",
                facet_aggregates(|column, value| format!(
                    "count(*) FILTER (WHERE a.{column} = {value})"
                ))
            );
            let statement = self.statement(sql)?;
            self.client.query_one(&statement, &params)?;
        }
        Ok(total)
    }

    pub fn size_bytes(&mut self) -> Result<u64> {
        let row = self
            .client
            .query_one("SELECT pg_total_relation_size('assets')", &[])?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}

/// A value for COPY's text format.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}
