//! The asset id: 64 opaque bits, written as 16 lowercase hex digits wherever it leaves a
//! process (URLs, JSON, the catalogue's rows, the store's headers as raw bits).

use std::fmt;
use std::str::FromStr;

/// An asset's identifier: 64 opaque bits, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetId(u64);

impl AssetId {
    /// Wraps a raw 64-bit id.
    pub const fn from_u64(raw: u64) -> Self {
        AssetId(raw)
    }

    /// The raw 64-bit id.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssetId({self})")
    }
}

/// Why a string is not an [`AssetId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("asset id must be exactly 16 lowercase hex digits")]
pub struct ParseAssetIdError;

impl FromStr for AssetId {
    type Err = ParseAssetIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let well_formed = text.len() == 16
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        if !well_formed {
            return Err(ParseAssetIdError);
        }
        u64::from_str_radix(text, 16)
            .map(AssetId)
            .map_err(|_| ParseAssetIdError)
    }
}

impl serde::Serialize for AssetId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AssetId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

    use super::AssetId;

    /// Stored as its 16 hex digits, as every row has always held it.
    impl ToSql for AssetId {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::from(self.to_string()))
        }
    }

    impl FromSql for AssetId {
        fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
            value
                .as_str()?
                .parse()
                .map_err(|error| FromSqlError::Other(Box::new(error)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_sixteen_lowercase_hex_digits() {
        let id = AssetId::from_u64(0x00ab_cdef_0123_4567);
        assert_eq!(id.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<AssetId>(), Ok(id));
        for bad in [
            "",
            "00ABCDEF01234567",
            "abc",
            "00abcdef0123456",
            "00abcdef012345678",
            "../../etc/passwd",
            "+0abcdef01234567",
            "00abcdef0123456g",
        ] {
            assert_eq!(bad.parse::<AssetId>(), Err(ParseAssetIdError), "{bad:?}");
        }
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"00abcdef01234567\"");
        assert_eq!(serde_json::from_str::<AssetId>(&json).expect("back"), id);
        assert!(serde_json::from_str::<AssetId>("\"nope\"").is_err());
    }
}
