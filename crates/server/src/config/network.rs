//! CIDR networks for the outbound federation allow and deny lists.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fc00::/7`).
///
/// A newtype rather than a bare [`IpNet`] so that a typo fails with a message naming the value: policyserv's
/// default deny list shipped with `172.16.0.0./12`, which its HTTP client silently treated as the end of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Network(IpNet);

impl Network {
    /// The parsed network.
    pub fn net(&self) -> IpNet {
        self.0
    }

    /// Whether `addr` lies inside this network.
    pub fn contains(&self, addr: std::net::IpAddr) -> bool {
        self.0.contains(&addr)
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        value.parse::<IpNet>().map(Self).map_err(|_| format!("{value:?} is not a valid CIDR network"))
    }
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<Network> for String {
    fn from(network: Network) -> Self {
        network.0.to_string()
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses a list of CIDR strings; used for the built-in defaults, which are tested to be valid.
pub(crate) fn networks(values: &[&str]) -> Vec<Network> {
    values.iter().filter_map(|v| v.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_and_ipv6() {
        let v4: Network = "172.16.0.0/12".parse().unwrap();
        assert!(v4.contains("172.31.255.255".parse().unwrap()));
        assert!(!v4.contains("172.32.0.0".parse().unwrap()));
        let v6: Network = "fc00::/7".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
    }

    #[test]
    fn rejects_policyserv_typo_with_clear_message() {
        let err = "172.16.0.0./12".parse::<Network>().unwrap_err();
        assert_eq!(err, "\"172.16.0.0./12\" is not a valid CIDR network");
    }

    #[test]
    fn rejects_bare_addresses_and_bad_prefixes() {
        for bad in ["10.0.0.1", "10.0.0.0/33", "::/129", "", "example.org/8"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
    }
}
