//! The closed sets of names the platform's terms use, each with its lowercase wire name.
//! Every conversion to and from text goes through [`std::str::FromStr`] and
//! [`std::fmt::Display`] here (serde and, with the `sqlite` feature, the catalogue's
//! columns use the same names), so no crate writes its own.

/// A name that is not one of its set's: what was given and what would have been taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a {noun}; expected one of: {}", .expected.join(", "))]
pub struct UnknownName {
    /// What kind of name was expected (`collection`, `tier`, …).
    pub noun: &'static str,
    /// The text given.
    pub given: String,
    /// Every name the set has.
    pub expected: &'static [&'static str],
}

/// Declares a closed set of names: a `Copy` enum, its wire names, `ALL` in a fixed order
/// (stored positions depend on it: append, never reorder), parsing, display and serde.
macro_rules! names {
    (
        $(#[$meta:meta])* $name:ident ($noun:literal)
        { $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$variant_meta])* #[doc = concat!("Written `", $text, "`.")] $variant),+ }

        impl $name {
            /// Every value, in declaration order (the order positions are stored in).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const NAMES: &'static [&'static str] = &[$($text),+];

            /// The lowercase wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Its position in [`Self::ALL`], for compact stored codes.
            pub const fn position(self) -> usize {
                self as usize
            }

            /// The value at `position` in [`Self::ALL`], if any.
            pub fn from_position(position: usize) -> Option<$name> {
                $name::ALL.get(position).copied()
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;

            fn from_str(text: &str) -> Result<$name, UnknownName> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownName {
                        noun: $noun,
                        given: other.to_string(),
                        expected: $name::NAMES,
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "sqlite")]
        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        /// A stored name this build does not know (a damaged or newer database) is a
        /// conversion error of the database, not bad input.
        #[cfg(feature = "sqlite")]
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<$name> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|error| rusqlite::types::FromSqlError::Other(Box::new(error)))
            }
        }
    };
}

names!(
    /// Which members may download an asset: `free` content anyone, `unlimited` content
    /// unlimited members only.
    #[derive(Default)]
    Collection ("collection") { #[default] Free = "free", Unlimited = "unlimited" }
);
names!(
    /// The language of an asset's text, which decides how its words are stemmed.
    #[derive(Default)]
    Language ("language") { #[default] En = "en", De = "de" }
);
names!(
    /// An asset's place in its lifecycle (DESIGN §2).
    AssetStatus ("asset status") {
        /// Held for a moderator: near duplicates were found.
        Pending = "pending",
        /// Public: searchable, previewable, licensable.
        Active = "active",
        /// Withdrawn by its author before anyone licensed it.
        Withdrawn = "withdrawn",
        /// Withdrawn after it was licensed: never public again, re-downloadable by its
        /// licensees.
        Inactive = "inactive",
        /// Taken down by a moderator on a notice.
        Removed = "removed",
        /// A held upload a moderator turned down (not an infringement): never public.
        Rejected = "rejected",
    }
);
names!(
    /// `flagged` members are throttled; `blocked` ones may not download or upload.
    MemberStatus ("member status") { Active = "active", Flagged = "flagged", Blocked = "blocked" }
);
names!(
    /// What a member pays for. Anonymous users have no account (no key).
    Tier ("tier") { Anonymous = "anonymous", Registered = "registered", Unlimited = "unlimited" }
);
names!(
    /// What a member may do; a member can hold several.
    Role ("role") { Customer = "customer", Author = "author", Moderator = "moderator", Admin = "admin" }
);
names!(
    /// A licence's use: `editorial` for editorial-only content.
    LicenceType ("licence type") { Standard = "standard", Editorial = "editorial" }
);

names!(
    /// The preview sizes a stock site shows, smallest first.
    PreviewSize ("preview size") {
        /// 240 px on the long side: search results.
        Thumb = "thumb",
        /// 500 px: the asset page on small screens.
        Small = "small",
        /// 1000 px: the asset page.
        Large = "large",
    }
);

impl PreviewSize {
    /// Pixels on the long side.
    pub const fn long_side(self) -> u32 {
        match self {
            PreviewSize::Thumb => 240,
            PreviewSize::Small => 500,
            PreviewSize::Large => 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_set() {
        for collection in Collection::ALL {
            assert_eq!(collection.as_str().parse::<Collection>(), Ok(*collection));
            assert_eq!(
                Collection::from_position(collection.position()),
                Some(*collection)
            );
        }
        let error = "premium".parse::<Tier>().expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "\"premium\" is not a tier; expected one of: anonymous, registered, unlimited"
        );
        assert_eq!(
            serde_json::to_string(&AssetStatus::Inactive).expect("json"),
            "\"inactive\""
        );
        assert_eq!(
            serde_json::from_str::<Language>("\"de\"").expect("de"),
            Language::De
        );
        assert!(serde_json::from_str::<Language>("\"fr\"").is_err());
        assert_eq!(Collection::default(), Collection::Free);
    }
}
