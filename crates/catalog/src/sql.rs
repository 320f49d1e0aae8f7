//! How the terms' names are read from SQLite columns, so that a row maps straight onto a
//! struct inside rusqlite's row closure. A stored value this build does not know (a
//! damaged or newer database) is a conversion error of the database, not bad input.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

use crate::terms::{AssetStatus, Collection, LicenceType, MemberStatus, Role, Tier};

macro_rules! from_sql_by_name {
    ($($name:ident),+) => {$(
        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                $name::parse(value.as_str()?).map_err(|error| FromSqlError::Other(Box::new(error)))
            }
        }
    )+};
}

from_sql_by_name!(Tier, MemberStatus, Collection, AssetStatus, LicenceType);

/// A member's roles as stored: comma-separated names.
pub(crate) struct Roles(pub Vec<Role>);

impl FromSql for Roles {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .split(',')
            .filter(|part| !part.is_empty())
            .map(Role::parse)
            .collect::<Result<_, _>>()
            .map(Roles)
            .map_err(|error| FromSqlError::Other(Box::new(error)))
    }
}
