//! One way of speaking SQL to either engine. The catalogue's queries are written once, in
//! the SQL both SQLite and PostgreSQL accept (`?N` placeholders, `RETURNING`, `COALESCE`,
//! comparisons written out, never a bare integer as a truth value); the few places where
//! the engines differ ask [`Db::engine`]. Parameters are rusqlite's `ToSql` values (the
//! vocabulary's types already speak it) and rows are read through rusqlite's `FromSql`,
//! so a row maps onto a struct the same way whichever engine answered.
//!
//! On PostgreSQL a statement's `?N` become `$N`, statements are prepared once per
//! connection, and a value is sent as the type the server asks for (an integer for a
//! `bigint`, `integer` or `boolean` column, text for `text`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};
use rusqlite::types::{FromSql, FromSqlError, ToSql, Value, ValueRef};

use crate::error::{CatalogError, Result};

pub(crate) use rusqlite::params;

/// Which engine a connection speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// A row as read: its values in column order.
#[derive(Debug)]
pub(crate) struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Column `index` as a `T` (rusqlite's conversions, whichever engine answered).
    pub(crate) fn get<T: FromSql>(&self, index: usize) -> rusqlite::Result<T> {
        let value = self
            .values
            .get(index)
            .ok_or(rusqlite::Error::InvalidColumnIndex(index))?;
        T::column_result(ValueRef::from(value)).map_err(|error| match error {
            FromSqlError::InvalidType => {
                rusqlite::Error::InvalidColumnType(index, String::new(), value.data_type())
            }
            FromSqlError::OutOfRange(found) => {
                rusqlite::Error::IntegralValueOutOfRange(index, found)
            }
            other => {
                rusqlite::Error::FromSqlConversionFailure(index, value.data_type(), Box::new(other))
            }
        })
    }

    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let values = (0..row.as_ref().column_count())
            .map(|index| row.get_ref(index).map(Value::from))
            .collect::<rusqlite::Result<_>>()?;
        Ok(Row { values })
    }

    fn from_postgres(row: &postgres::Row) -> Result<Row> {
        let values = row
            .columns()
            .iter()
            .enumerate()
            .map(|(index, column)| pg_value(row, index, column.type_()))
            .collect::<Result<_>>()?;
        Ok(Row { values })
    }
}

/// A PostgreSQL column's value as the SQLite value rusqlite's conversions read.
fn pg_value(row: &postgres::Row, index: usize, ty: &Type) -> Result<Value> {
    let value = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)?
            .map(|v| Value::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)?
            .map(|v| Value::Integer(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)?
            .map(|v| Value::Integer(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.map(Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)?
            .map(|v| Value::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Blob),
        _ => row.try_get::<_, Option<String>>(index)?.map(Value::Text),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// A parameter on its way to PostgreSQL: sent as whatever type the statement asks for.
#[derive(Debug)]
struct PgValue(Value);

impl PgToSql for PgValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(value) => match *ty {
                Type::INT8 => PgToSql::to_sql(&value, ty, out),
                Type::INT4 => PgToSql::to_sql(&i32::try_from(*value)?, ty, out),
                Type::INT2 => PgToSql::to_sql(&i16::try_from(*value)?, ty, out),
                Type::BOOL => PgToSql::to_sql(&(*value != 0), ty, out),
                Type::FLOAT8 => PgToSql::to_sql(&(*value as f64), ty, out),
                _ => Err(format!("an integer where the statement wants {ty}").into()),
            },
            Value::Real(value) => PgToSql::to_sql(&value, ty, out),
            Value::Text(text) => PgToSql::to_sql(&text.as_str(), ty, out),
            Value::Blob(bytes) => PgToSql::to_sql(&bytes.as_slice(), ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The values of `params`, for PostgreSQL.
fn pg_params(params: &[&dyn ToSql]) -> Result<Vec<PgValue>> {
    params
        .iter()
        .map(|param| {
            let output = param.to_sql()?;
            let value = match output {
                rusqlite::types::ToSqlOutput::Borrowed(value) => Value::from(value),
                rusqlite::types::ToSqlOutput::Owned(value) => value,
                _ => {
                    return Err(CatalogError::BadInput(
                        "a parameter PostgreSQL cannot take".into(),
                    ));
                }
            };
            Ok(PgValue(value))
        })
        .collect()
}

/// `sql` with SQLite's `?N` (and bare `?`) placeholders as PostgreSQL's `$N`; quoted text
/// is left alone.
pub(crate) fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let number = if digits.is_empty() {
                    next
                } else {
                    digits.parse().unwrap_or(next)
                };
                next = next.max(number + 1);
                out.push('$');
                out.push_str(&number.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// One PostgreSQL connection with its prepared statements. Used by one thread at a time
/// (the writer's, or a reader's while it holds it from the pool).
pub(crate) struct PgSession {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession").finish_non_exhaustive()
    }
}

impl PgSession {
    pub(crate) fn new(client: postgres::Client) -> PgSession {
        PgSession {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        }
    }

    /// Whether the server hung up (the session is then dropped and another made).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    fn prepare(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.borrow_mut().prepare(&postgres_sql(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    fn query(&self, statement: &postgres::Statement, params: &[&dyn ToSql]) -> Result<Vec<Row>> {
        let values = pg_params(params)?;
        let refs: Vec<&(dyn PgToSql + Sync)> =
            values.iter().map(|v| v as &(dyn PgToSql + Sync)).collect();
        let rows = self.client.borrow_mut().query(statement, &refs)?;
        rows.iter().map(Row::from_postgres).collect()
    }

    fn execute(&self, statement: &postgres::Statement, params: &[&dyn ToSql]) -> Result<usize> {
        let values = pg_params(params)?;
        let refs: Vec<&(dyn PgToSql + Sync)> =
            values.iter().map(|v| v as &(dyn PgToSql + Sync)).collect();
        let changed = self.client.borrow_mut().execute(statement, &refs)?;
        Ok(changed as usize)
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        self.client.borrow_mut().batch_execute(sql)?;
        Ok(())
    }
}

/// A connection of either engine, as the catalogue's queries use it: the writer's, or a
/// reader's held for the length of a read.
#[derive(Debug)]
pub(crate) enum Db<'a> {
    Sqlite(&'a rusqlite::Connection),
    SqliteRead(std::sync::MutexGuard<'a, rusqlite::Connection>),
    Postgres(&'a PgSession),
    PostgresRead(crate::pg::Lease<'a>),
}

/// The connection under a [`Db`].
#[derive(Clone, Copy)]
enum Conn<'s> {
    Sqlite(&'s rusqlite::Connection),
    Postgres(&'s PgSession),
}

impl Db<'_> {
    fn conn(&self) -> Conn<'_> {
        match self {
            Db::Sqlite(connection) => Conn::Sqlite(connection),
            Db::SqliteRead(connection) => Conn::Sqlite(connection),
            Db::Postgres(session) => Conn::Postgres(session),
            Db::PostgresRead(lease) => Conn::Postgres(lease.session()),
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self.conn() {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// A statement, prepared once per connection.
    pub(crate) fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(match self.conn() {
            Conn::Sqlite(connection) => Statement::Sqlite(connection.prepare_cached(sql)?),
            Conn::Postgres(session) => Statement::Postgres(session, session.prepare(sql)?),
        })
    }

    /// Runs one statement; the rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// The one row a query answers (`QueryReturnedNoRows` if none: see [`Optional`]).
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs statements without parameters (transaction control, schema).
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        match self.conn() {
            Conn::Sqlite(connection) => connection.execute_batch(sql)?,
            Conn::Postgres(session) => session.batch(sql)?,
        }
        Ok(())
    }
}

/// A prepared statement of either engine.
pub(crate) enum Statement<'a> {
    Sqlite(rusqlite::CachedStatement<'a>),
    Postgres(&'a PgSession, postgres::Statement),
}

impl Statement<'_> {
    pub(crate) fn execute(&mut self, params: &[&dyn ToSql]) -> Result<usize> {
        match self {
            Statement::Sqlite(statement) => Ok(statement.execute(params)?),
            Statement::Postgres(session, statement) => session.execute(statement, params),
        }
    }

    pub(crate) fn query_row<T>(
        &mut self,
        params: &[&dyn ToSql],
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> Result<T> {
        match self {
            Statement::Sqlite(statement) => {
                Ok(statement.query_row(params, |row| f(&Row::from_sqlite(row)?))?)
            }
            Statement::Postgres(session, statement) => {
                let rows = session.query(statement, params)?;
                let row = rows
                    .first()
                    .ok_or(CatalogError::Database(rusqlite::Error::QueryReturnedNoRows))?;
                Ok(f(row)?)
            }
        }
    }

    /// Whether the query answers any row.
    pub(crate) fn exists(&mut self, params: &[&dyn ToSql]) -> Result<bool> {
        match self {
            Statement::Sqlite(statement) => Ok(statement.exists(params)?),
            Statement::Postgres(session, statement) => {
                Ok(!session.query(statement, params)?.is_empty())
            }
        }
    }

    pub(crate) fn query_map<T>(
        &mut self,
        params: &[&dyn ToSql],
        mut f: impl FnMut(&Row) -> rusqlite::Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mapped: Vec<Result<T>> = match self {
            Statement::Sqlite(statement) => statement
                .query_map(params, |row| f(&Row::from_sqlite(row)?))?
                .map(|item| item.map_err(CatalogError::from))
                .collect(),
            Statement::Postgres(session, statement) => session
                .query(statement, params)?
                .iter()
                .map(|row| f(row).map_err(CatalogError::from))
                .collect(),
        };
        Ok(mapped.into_iter())
    }
}

/// `.optional()` for the catalogue's results: no row is `None`.
pub(crate) trait Optional<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> Optional<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(CatalogError::Database(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::postgres_sql;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT '?' , ?2, ?1 WHERE a = ? AND b = '?3'"),
            "SELECT '?' , $2, $1 WHERE a = $3 AND b = '?3'"
        );
        assert_eq!(postgres_sql("VALUES (?, ?)"), "VALUES ($1, $2)");
    }
}
