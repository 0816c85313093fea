//! The SSRF guard: which IP addresses outbound federation may connect to.
//!
//! Server names come from untrusted events and well-known documents, so without a guard anyone could make us
//! connect to our own loopback, the cloud metadata service or the private network. Every address is checked after
//! resolution and before any connection, including the addresses behind IP literals, delegations and SRV targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// An allow list and a deny list of networks. An address is permitted iff it is in some allowed network and in no
/// denied network; the deny list wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Networks outbound connections may go to.
    pub allowed: Vec<IpNet>,
    /// Networks outbound connections must never go to, even when allowed.
    pub denied: Vec<IpNet>,
}

/// Why an address was refused; its `Display` is policyserv's "… is denied" wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("address {address} is denied ({reason})")]
pub struct AddressDenied {
    /// The refused address as resolved (before unwrapping an embedded IPv4 address).
    pub address: IpAddr,
    /// `in denied network <net>` or `not in any allowed network`.
    pub reason: String,
}

/// The networks denied by default: everything that is not the public internet.
pub const DEFAULT_DENIED: &[&str] = &[
    // IPv4
    "0.0.0.0/8",       // "this network", includes the unspecified address
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // carrier-grade NAT
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local, includes cloud metadata at 169.254.169.254
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, includes broadcast 255.255.255.255
    // IPv6
    "::/128",        // unspecified
    "::1/128",       // loopback
    "100::/64",      // discard-only
    "2001:db8::/32", // documentation
    "fc00::/7",      // unique local (private)
    "fe80::/10",     // link-local
    "ff00::/8",      // multicast
];

/// The networks allowed by default: all of IPv4 and IPv6 (policyserv allowed only IPv4, see catalogue §11.4).
pub const DEFAULT_ALLOWED: &[&str] = &["0.0.0.0/0", "::/0"];

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self { allowed: parse_static(DEFAULT_ALLOWED), denied: parse_static(DEFAULT_DENIED) }
    }
}

/// Parses the built-in network lists; they are constants, so an unparsable entry would be caught by the tests.
fn parse_static(nets: &[&str]) -> Vec<IpNet> {
    nets.iter().filter_map(|net| net.parse().ok()).collect()
}

impl NetworkPolicy {
    /// A policy from configured CIDR lists. Every entry must parse: a bad entry is an error, never skipped, because
    /// policyserv's silent skip of one typo disabled its whole deny list (catalogue §11.4).
    pub fn from_cidrs<A, D>(allowed: A, denied: D) -> Result<Self, ipnet::AddrParseError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        D: IntoIterator,
        D::Item: AsRef<str>,
    {
        let parse = |s: &str| s.trim().parse::<IpNet>();
        Ok(Self {
            allowed: allowed.into_iter().map(|s| parse(s.as_ref())).collect::<Result<_, _>>()?,
            denied: denied.into_iter().map(|s| parse(s.as_ref())).collect::<Result<_, _>>()?,
        })
    }

    /// Checks one address.
    ///
    /// An IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address reaches the embedded IPv4
    /// address, so it must pass as that IPv4 address too; otherwise `::ffff:127.0.0.1` would bypass a deny of
    /// `127.0.0.0/8`.
    pub fn check(&self, address: IpAddr) -> Result<(), AddressDenied> {
        self.check_one(address, address)?;
        if let IpAddr::V6(v6) = address
            && let Some(v4) = embedded_ipv4(v6)
        {
            self.check_one(address, IpAddr::V4(v4))?;
        }
        Ok(())
    }

    /// Whether `address` is permitted.
    pub fn permits(&self, address: IpAddr) -> bool {
        self.check(address).is_ok()
    }

    /// Checks `judged` against the lists, reporting `original` as the refused address.
    fn check_one(&self, original: IpAddr, judged: IpAddr) -> Result<(), AddressDenied> {
        if let Some(net) = self.denied.iter().find(|net| net.contains(&judged)) {
            return Err(AddressDenied { address: original, reason: format!("in denied network {net}") });
        }
        if !self.allowed.iter().any(|net| net.contains(&judged)) {
            return Err(AddressDenied { address: original, reason: "not in any allowed network".to_owned() });
        }
        Ok(())
    }
}

/// The IPv4 address an IPv6 address stands for, if it is IPv4-mapped (`::ffff:0:0/96`) or uses the well-known
/// NAT64 prefix (`64:ff9b::/96`).
fn embedded_ipv4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = address.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = address.octets();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn built_in_lists_all_parse() {
        assert_eq!(parse_static(DEFAULT_DENIED).len(), DEFAULT_DENIED.len());
        assert_eq!(parse_static(DEFAULT_ALLOWED).len(), DEFAULT_ALLOWED.len());
    }

    #[test]
    fn default_policy_refuses_every_non_public_range() {
        let policy = NetworkPolicy::default();
        let refused = [
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "169.254.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "2001:db8::1",
            // IPv4-mapped and NAT64 forms of denied IPv4 addresses
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
        ];
        for address in refused {
            assert!(!policy.permits(ip(address)), "{address} should be refused");
        }
    }

    #[test]
    fn default_policy_allows_public_v4_and_v6() {
        let policy = NetworkPolicy::default();
        for address in
            ["1.1.1.1", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "2a00:1450::1", "::ffff:1.1.1.1"]
        {
            assert!(policy.permits(ip(address)), "{address} should be allowed");
        }
    }

    /// Catalogue vector 62: allow 127.0.0.1/32, deny 127.0.0.2/32.
    #[test]
    fn explicit_lists_reproduce_vector_62() {
        let policy = NetworkPolicy::from_cidrs(["127.0.0.1/32"], ["127.0.0.2/32"]).unwrap();
        assert!(policy.permits(ip("127.0.0.1")));
        let denied = policy.check(ip("127.0.0.2")).unwrap_err();
        assert!(denied.to_string().starts_with("address 127.0.0.2 is denied"), "{denied}");
        let not_allowed = policy.check(ip("127.0.0.3")).unwrap_err();
        assert!(not_allowed.to_string().contains("127.0.0.3 is denied"), "{not_allowed}");
    }

    #[test]
    fn deny_wins_over_allow() {
        let policy = NetworkPolicy::from_cidrs(["10.0.0.0/8"], ["10.0.0.0/24"]).unwrap();
        assert!(policy.permits(ip("10.0.1.1")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("11.0.0.1")));
    }

    #[test]
    fn mapped_addresses_are_judged_by_their_ipv4_address() {
        let policy = NetworkPolicy::from_cidrs(["::/0"], Vec::<&str>::new()).unwrap();
        // The IPv6 form is allowed, but the embedded IPv4 address is in no allowed network.
        assert!(!policy.permits(ip("::ffff:8.8.8.8")));
        assert!(policy.permits(ip("2606:4700::1111")));
    }

    #[test]
    fn bad_cidrs_are_an_error_not_skipped() {
        // policyserv's default deny list contained this typo.
        assert!(NetworkPolicy::from_cidrs(["0.0.0.0/0"], ["10.0.0.0/8", "172.16.0.0./12"]).is_err());
        assert!(NetworkPolicy::from_cidrs(["nonsense"], Vec::<&str>::new()).is_err());
    }
}
