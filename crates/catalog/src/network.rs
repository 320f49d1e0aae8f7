//! Networks instead of addresses: the only form in which the catalogue, the guard and the
//! logs may keep where a request came from (DESIGN §2, privacy).

use std::net::IpAddr;

use serde::Serialize;

/// An anonymised network: an IPv4 address cut to its /24, an IPv6 address to its /48.
/// The only way to make one is [`anonymise`], so a full address cannot be stored by
/// mistake.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Network(String);

impl Network {
    /// The network as text (`203.0.113.0/24`).
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
