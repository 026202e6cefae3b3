//! Which addresses an outbound call may reach, and the name resolver that enforces it.
//!
//! The check runs on the addresses a connection is actually made to (the resolver hands
//! reqwest only checked addresses), so a name that resolves to a metadata endpoint is
//! refused as surely as the literal address, and DNS cannot be rebound between the check
//! and the connect.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Link-local or a cloud metadata service: never reachable from a plugin.
    Metadata,
    /// Loopback or a private network, reached through a name not marked `private`.
    Private,
    /// Unspecified, multicast or broadcast: never a server.
    NotAServer,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Metadata => "a link-local or cloud metadata address",
            Refusal::Private => "a loopback or private address, through a name not marked `private: true`",
            Refusal::NotAServer => "an unspecified, multicast or broadcast address",
        })
    }
}

/// Checks an address a call would connect to. `private_ok` says whether loopback and
/// private networks are acceptable (an IP-literal destination, or a name marked private).
pub fn check(ip: IpAddr, private_ok: bool) -> Result<(), Refusal> {
    // `::ffff:169.254.169.254` is the IPv4 address, whatever its spelling; so are the IPv6
    // forms that carry one (see `embedded_v4`), checked as both.
    match ip.to_canonical() {
        IpAddr::V4(v4) => check_v4(v4, private_ok),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => check_v4(v4, private_ok).and(check_v6(v6, private_ok)),
            None => check_v6(v6, private_ok),
        },
    }
}

/// The IPv4 address an IPv6 one carries where a host may route it to that IPv4 address:
/// IPv4-compatible `::a.b.c.d` (deprecated, still parsed), NAT64's `64:ff9b::/96` and
/// 6to4's `2002:AABB:CCDD::/48`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8);
    match s {
        [0, 0, 0, 0, 0, 0, high, low] if (high, low) > (0, 1) => Some(v4(high, low)),
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
    }
}

fn check_v4(ip: Ipv4Addr, private_ok: bool) -> Result<(), Refusal> {
    // 100.100.100.200: Alibaba Cloud's metadata service (inside the shared range below);
    // 168.63.129.16: Azure's WireServer, which hands a VM its configuration.
    if ip.is_link_local() || ip == Ipv4Addr::new(100, 100, 100, 200) || ip == Ipv4Addr::new(168, 63, 129, 16) {
        return Err(Refusal::Metadata);
    }
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.octets()[0] == 0 {
        return Err(Refusal::NotAServer);
    }
    let shared = ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64; // 100.64.0.0/10
    if !private_ok && (ip.is_loopback() || ip.is_private() || shared) {
        return Err(Refusal::Private);
    }
    Ok(())
}

fn check_v6(ip: Ipv6Addr, private_ok: bool) -> Result<(), Refusal> {
    let segments = ip.segments();
    // fe80::/10 link-local; fd00:ec2::254 is AWS's IPv6 metadata service.
    if (segments[0] & 0xffc0) == 0xfe80 || ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        return Err(Refusal::Metadata);
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(Refusal::NotAServer);
    }
    let unique_local = (segments[0] & 0xfe00) == 0xfc00;
    if !private_ok && (ip.is_loopback() || unique_local) {
        return Err(Refusal::Private);
    }
    Ok(())
}

/// The error a refused resolution carries, found again in reqwest's error chain.
#[derive(Debug)]
pub struct RefusedAddress {
    /// The name resolved.
    pub name: String,
    /// The refused address.
    pub ip: IpAddr,
    /// Why.
    pub why: Refusal,
}

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to {}, {}", self.name, self.ip, self.why)
    }
}

impl std::error::Error for RefusedAddress {}

/// The resolver of one grant's client: its `resolve` overrides, then DNS; every address
/// checked, and the whole name refused if any of its addresses is.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    /// Fixed addresses by lower-case name.
    pub overrides: Arc<BTreeMap<String, IpAddr>>,
    /// Lower-case names whose destinations are marked `private: true`.
    pub private_names: Arc<Vec<String>>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let name = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = match this.overrides.get(&name) {
                Some(ip) => vec![SocketAddr::new(*ip, 0)],
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let private_ok = this.private_names.contains(&name);
            // Refuse the name if any address is refused: a connect to the others could
            // still be steered by whoever answers its DNS.
            for address in &addresses {
                if let Err(why) = check(address.ip(), private_ok) {
                    return Err(Box::new(RefusedAddress { name: name.clone(), ip: address.ip(), why }) as _);
                }
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_refused_whatever_the_spelling() {
        for refused in [
            "169.254.169.254",
            "169.254.170.2",
            "100.100.100.200",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "168.63.129.16",
        ] {
            assert_eq!(check(ip(refused), true), Err(Refusal::Metadata), "{refused}");
        }
        for refused in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "0.1.2.3"] {
            assert_eq!(check(ip(refused), true), Err(Refusal::NotAServer), "{refused}");
        }
    }

    #[test]
    fn private_networks_only_when_allowed() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "100.64.0.1",
            "::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:1::1",
        ] {
            assert_eq!(check(ip(private), false), Err(Refusal::Private), "{private}");
            assert_eq!(check(ip(private), true), Ok(()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "100.128.0.1"] {
            assert_eq!(check(ip(public), false), Ok(()), "{public}");
        }
    }
}
