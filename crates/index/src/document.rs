//! What the index holds per asset (`AssetDoc`, also the card a search result shows) and the
//! closed vocabularies its filters and facets use.

use serde::{Deserialize, Serialize};
use stockroom_vocab::{Collection, Language};

/// Declares a closed vocabulary: a `Copy` enum with its wire names, a dense code for the
/// index's fast fields, and parsing from the wire name (an unknown one is a bad request
/// naming `$noun` and the known names).
macro_rules! vocabulary {
    (
        $(#[$meta:meta])* $name:ident ($noun:literal)
        { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$variant_meta])* #[doc = concat!("Written `", $text, "`.")] #[serde(rename = $text)] $variant),+ }

        impl $name {
            /// Every value, in the order of their stored codes.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Its position in `ALL`: what the index stores. (Not every vocabulary is
            /// stored as a code: the language decides fields instead.)
            #[allow(dead_code)]
            pub(crate) fn code(self) -> u64 {
                self as u64
            }

            #[allow(dead_code)]
            pub(crate) fn from_code(code: u64) -> Option<$name> {
                $name::ALL.get(usize::try_from(code).ok()?).copied()
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::IndexError;

            fn from_str(text: &str) -> crate::Result<$name> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| {
                        let known: Vec<&str> = $name::ALL.iter().map(|value| value.as_str()).collect();
                        crate::IndexError::BadRequest(format!(
                            "unknown {} {text:?}; one of: {}",
                            $noun,
                            known.join(", ")
                        ))
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// What an asset is: a photograph, an illustration or a vector graphic.
    Kind ("kind") { Photo => "photo", Illustration => "illustration", Vector => "vector" }
);
vocabulary!(
    /// Landscape, portrait or (within 10%) square.
    Orientation ("orientation") { Landscape => "landscape", Portrait => "portrait", Square => "square" }
);
vocabulary!(
    /// The twelve colour names of the automatic keywords (`stockroom_render::auto_keywords`).
    Color ("color") {
        Red => "red", Orange => "orange", Yellow => "yellow", Green => "green",
        Turquoise => "turquoise", Blue => "blue", Purple => "purple", Pink => "pink",
        Brown => "brown", Black => "black", White => "white", Gray => "gray",
    }
);

impl Orientation {
    /// Square within 10%, as the automatic keywords count it.
    pub fn of(width: u32, height: u32) -> Orientation {
        let (width, height) = (u64::from(width), u64::from(height));
        if width * 10 > height * 11 {
            Orientation::Landscape
        } else if height * 10 > width * 11 {
            Orientation::Portrait
        } else {
            Orientation::Square
        }
    }
}

/// Who made an asset, as a search result shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The author's id (a member id, or the slug of an ingested file's author).
    pub id: String,
    /// As credited.
    pub name: String,
}

/// An active asset as the index holds it. It is stored whole (the card a search result
/// shows is read back from it), so the index can be rebuilt from its own documents when
/// only a count changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetDoc {
    /// Opaque and URL-safe; unique in the index (adding it again replaces it).
    pub id: String,
    /// Weighed most in relevance.
    pub title: String,
    /// Free text.
    pub description: String,
    /// The author's keywords plus automatic ones (orientation, size class, colour).
    pub keywords: Vec<String>,
    /// Decides how its words are stemmed.
    pub language: Language,
    /// Who made it.
    pub author: Author,
    /// Who may download it.
    pub collection: Collection,
    /// Photo, illustration or vector.
    pub kind: Kind,
    /// Displayed width in pixels.
    pub width: u32,
    /// Displayed height in pixels.
    pub height: u32,
    /// Dominant colours, most common first.
    pub colors: Vec<Color>,
    /// Licensed for editorial use only.
    pub editorial_only: bool,
    /// The people shown signed a release.
    pub model_release: bool,
    /// The property shown has a release.
    pub property_release: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Counted downloads (the catalogue's figure), for `sort=popular`.
    pub downloads: u64,
}

impl AssetDoc {
    /// Landscape, portrait or square, from the displayed size.
    pub fn orientation(&self) -> Orientation {
        Orientation::of(self.width, self.height)
    }
}
