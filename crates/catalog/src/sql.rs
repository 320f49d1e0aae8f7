//! How a member's roles are read from their SQLite column (the single names read
//! themselves: `stockroom-vocab`'s `sqlite` feature), so that a row maps straight onto a
//! struct inside rusqlite's row closure. A stored value this build does not know (a
//! damaged or newer database) is a conversion error of the database, not bad input.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

use stockroom_vocab::Role;

/// A member's roles as stored: comma-separated names.
pub(crate) struct Roles(pub Vec<Role>);

impl FromSql for Roles {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .split(',')
            .filter(|part| !part.is_empty())
            .map(str::parse::<Role>)
            .collect::<Result<_, _>>()
            .map(Roles)
            .map_err(|error| FromSqlError::Other(Box::new(error)))
    }
}
