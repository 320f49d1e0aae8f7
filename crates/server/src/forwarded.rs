//! Who the client is behind a load balancer: `server.trusted_proxies` names the addresses
//! (or CIDR ranges) of the proxies in front of the server; only from those is a
//! `Forwarded` (RFC 7239) or `X-Forwarded-For` header believed. Anonymous networks, rate
//! limits, the login-misuse detector and the access log then see the real client, and a
//! client that sends the header itself, not through a proxy, changes nothing.
//!
//! Each proxy appends the address it received the request from, so the list is read from
//! the right: the first address that is not a trusted proxy is the client's. Addresses
//! further left were written by the client (or earlier, untrusted hops) and may be forged.

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

/// An address range (`10.0.0.0/8`, `2001:db8::/32`) or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let base: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|&prefix| prefix <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Cidr { base, prefix })
    }
}

impl Cidr {
    /// Whether `address` is in the range (an IPv4 address written as IPv6, `::ffff:a.b.c.d`,
    /// is compared as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                masked(u32::from(base).into(), self.prefix, 32)
                    == masked(u32::from(address).into(), self.prefix, 32)
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                masked(u128::from(base), self.prefix, 128)
                    == masked(u128::from(address), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(value: u128, prefix: u8, bits: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        value >> (bits - u32::from(prefix))
    }
}

/// The client's address for a request from `peer`: `peer` itself unless it is a trusted
/// proxy; then, from the right of `Forwarded` (or, without it, `X-Forwarded-For`), the
/// first address that is not a trusted proxy. An entry that is no address (`unknown`, an
/// obfuscated name) stops the walk: the last trusted hop is answered, never a guess.
pub fn client(headers: &HeaderMap, peer: IpAddr, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|range| range.contains(address));
    if !is_trusted(peer) {
        return peer.to_canonical();
    }
    let hops = if headers.contains_key("forwarded") {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
    };
    let mut client = peer.to_canonical();
    for hop in hops.iter().rev() {
        match hop {
            Some(address) if is_trusted(*address) => client = address.to_canonical(),
            Some(address) => return address.to_canonical(),
            None => return client,
        }
    }
    client
}

/// The `for=` of each element of every `Forwarded` header, in order; `None` for one that
/// is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    entries(headers, "forwarded")
        .map(|element| {
            let value = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim())
            })?;
            node_address(value.trim_matches('"'))
        })
        .collect()
}

/// Every address of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    entries(headers, "x-forwarded-for")
        .map(|entry| node_address(entry.trim()))
        .collect()
}

/// The comma-separated entries of every `name` header, in order (a list header may come
/// in several lines).
fn entries<'a>(headers: &'a HeaderMap, name: &'static str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
}

/// `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::17]`, `[2001:db8::17]:4711` or a bare IPv6.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(address) = node.parse() {
        return Some(address);
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().expect("value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn trusted(ranges: &[&str]) -> Vec<Cidr> {
        ranges
            .iter()
            .map(|range| range.parse().expect("range"))
            .collect()
    }

    #[test]
    fn a_header_from_an_untrusted_peer_changes_nothing() {
        let sent = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=198.51.100.8"),
        ]);
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client(&sent, ip("203.0.113.5"), &proxies),
            ip("203.0.113.5")
        );
        assert_eq!(client(&sent, ip("203.0.113.5"), &[]), ip("203.0.113.5"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        // The client forged the leftmost entry; the proxy appended what it saw.
        let sent = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(client(&sent, ip("127.0.0.1"), &proxies), ip("198.51.100.7"));
        // An IPv4 peer written as IPv6 is still the trusted proxy.
        assert_eq!(
            client(&sent, ip("::ffff:127.0.0.1"), &proxies),
            ip("198.51.100.7")
        );
        // Forwarded wins over X-Forwarded-For, across header lines, with ports and IPv6.
        let sent = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#),
            ("forwarded", "for=10.0.0.9:80;by=10.0.0.1"),
        ]);
        assert_eq!(
            client(&sent, ip("10.0.0.1"), &proxies),
            ip("2001:db8:cafe::17")
        );
        let sent = headers(&[("forwarded", "For=192.0.2.60:1234")]);
        assert_eq!(client(&sent, ip("10.0.0.1"), &proxies), ip("192.0.2.60"));
    }

    #[test]
    fn an_unknown_hop_or_no_header_leaves_the_last_trusted_address() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let sent = headers(&[("forwarded", "for=unknown, for=10.0.0.7")]);
        assert_eq!(client(&sent, ip("10.0.0.1"), &proxies), ip("10.0.0.7"));
        assert_eq!(
            client(&HeaderMap::new(), ip("10.0.0.1"), &proxies),
            ip("10.0.0.1")
        );
        let sent = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(client(&sent, ip("10.0.0.1"), &proxies), ip("10.0.0.1"));
    }

    #[test]
    fn ranges_parse_and_match_by_prefix() {
        let range: Cidr = "192.168.4.0/22".parse().expect("range");
        assert!(range.contains(ip("192.168.7.255")));
        assert!(!range.contains(ip("192.168.8.0")));
        assert!(!range.contains(ip("2001:db8::1")));
        let v6: Cidr = "2001:db8::/32".parse().expect("range");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "::/129", "proxy.local", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
