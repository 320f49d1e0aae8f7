//! The words every Stockroom crate shares, defined once: the asset id ([`AssetId`]), the
//! closed sets of names the platform's terms use ([`Collection`], [`Language`],
//! [`AssetStatus`], [`MemberStatus`], [`Tier`], [`Role`], [`LicenceType`],
//! [`PreviewSize`]), the one
//! [`Clock`] everything that reads time is handed, and the one durable file write
//! ([`durable::write_file`]).
//!
//! Names convert to and from their lowercase wire form in one place ([`std::str::FromStr`],
//! [`std::fmt::Display`], serde), so a crate at the edge (the server, the CLI, the
//! catalogue's SQL) parses once and passes typed values inward.
//!
//! ```
//! use stockroom_vocab::{AssetId, Collection};
//! let id: AssetId = "00000000000000ff".parse().unwrap();
//! assert_eq!(id.as_u64(), 255);
//! assert_eq!("unlimited".parse::<Collection>().unwrap(), Collection::Unlimited);
//! assert!("premium".parse::<Collection>().is_err());
//! ```

#![warn(missing_docs)]

mod clock;
pub mod durable;
mod id;
mod names;

pub use clock::{Clock, ManualClock, SystemClock};
pub use id::{AssetId, ParseAssetIdError};
pub use names::{
    AssetStatus, Collection, Language, LicenceType, MemberStatus, PreviewSize, Role, Tier,
    UnknownName,
};
