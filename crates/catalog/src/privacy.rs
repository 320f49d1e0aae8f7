//! What the platform's data-protection rules ask of the catalogue: networks instead of
//! addresses, a member's data exported on request, and erasure (licence records kept for
//! tax and warranty under a pseudonym, everything else deleted).

use std::net::IpAddr;

use rusqlite::params;
use serde::Serialize;

use crate::error::Result;
use crate::licences::{Licence, licence_where};
use crate::members::{self, Member};
use crate::{Catalog, hex};

/// An anonymised network: an IPv4 address cut to its /24, an IPv6 address to its /48.
/// The only way to make one is [`anonymise`], so a full address cannot be stored by
/// mistake.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Network(String);

impl Network {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The network an address belongs to, as logs and the ledger may keep it.
pub fn anonymise(address: IpAddr) -> Network {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    Network(match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{network}/48")
        }
    })
}

/// Everything the catalogue holds on a member (DESIGN §2, privacy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Export {
    pub profile: Member,
    pub licences: Vec<Licence>,
    pub downloads: Vec<ExportedDownload>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedDownload {
    pub asset_id: String,
    pub licence_id: Option<String>,
    pub at: i64,
    /// Whether it counted (a first download), or re-used a licence.
    pub counted: bool,
}

impl Catalog {
    /// A member's data, for them to take away.
    pub fn export(&self, member_id: &str) -> Result<Export> {
        let db = self.read();
        let profile =
            members::member(&db, member_id)?.ok_or_else(|| members::not_found(member_id))?;
        let licences = licence_where(&db, "member_id = ?1", params![member_id])?;
        let downloads = db
            .prepare_cached(
                "SELECT asset_id, licence_id, at, counted FROM downloads WHERE member_id = ?1
                 ORDER BY seq",
            )?
            .query_map([member_id], |row| {
                Ok(ExportedDownload {
                    asset_id: row.get(0)?,
                    licence_id: row.get(1)?,
                    at: row.get(2)?,
                    counted: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Export {
            profile,
            licences,
            downloads,
        })
    }

    /// Erases a member: profile, seats and keys go; licences and downloads stay under a
    /// pseudonym that the member's id cannot be recovered from (a keyed hash), so licences
    /// can still be verified and authors' statistics still add up. Old keys stop working.
    pub fn erase(&self, member_id: &str) -> Result<()> {
        let pseudonym = format!(
            "erased-{}",
            hex(
                &blake3::keyed_hash(&self.secret, format!("erase:{member_id}").as_bytes())
                    .as_bytes()[..8]
            )
        );
        self.change_member(member_id.to_string(), move |db, id| {
            db.execute(
                "UPDATE licences SET member_id = ?2 WHERE member_id = ?1",
                params![id, pseudonym],
            )?;
            db.execute(
                "UPDATE downloads SET member_id = ?2 WHERE member_id = ?1",
                params![id, pseudonym],
            )?;
            db.execute("DELETE FROM seats WHERE member_id = ?1", [id])?;
            db.execute("DELETE FROM members WHERE id = ?1", [id])?;
            Ok(())
        })
    }
}
