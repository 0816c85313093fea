//! Listener bind addresses.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The address a listener binds to.
///
/// Besides `ip:port` (`0.0.0.0:8080`, `[::]:8080`) it accepts two forms Go's `net.Listen` takes, so policyserv
/// values keep working: `:8080` (all IPv4 interfaces) and `localhost:8080` (loopback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BindAddress(SocketAddr);

impl BindAddress {
    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.0
    }
}

impl From<SocketAddr> for BindAddress {
    fn from(addr: SocketAddr) -> Self {
        Self(addr)
    }
}

impl FromStr for BindAddress {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let error = || {
            format!(
                "{value:?} is not a valid bind address (expected ip:port, e.g. 0.0.0.0:8080 or [::]:8080)"
            )
        };
        let port_only = value.strip_prefix(':').or_else(|| value.strip_prefix("localhost:"));
        if let Some(port) = port_only {
            let port: u16 = port.parse().map_err(|_| error())?;
            let ip = if value.starts_with(':') { Ipv4Addr::UNSPECIFIED } else { Ipv4Addr::LOCALHOST };
            return Ok(Self(SocketAddr::from((ip, port))));
        }
        value.parse().map(Self).map_err(|_| error())
    }
}

impl TryFrom<String> for BindAddress {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<BindAddress> for String {
    fn from(bind: BindAddress) -> Self {
        bind.0.to_string()
    }
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bind_forms() {
        let cases = [
            ("0.0.0.0:8080", "0.0.0.0:8080"),
            ("[::]:8448", "[::]:8448"),
            (":9000", "0.0.0.0:9000"),
            ("localhost:8081", "127.0.0.1:8081"),
            ("127.0.0.1:1", "127.0.0.1:1"),
        ];
        for (input, expected) in cases {
            let bind: BindAddress = input.parse().unwrap();
            assert_eq!(bind.to_string(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_bad_binds() {
        for bad in ["", "8080", "0.0.0.0", "0.0.0.0:99999", "example.org:80", ":x"] {
            let err = bad.parse::<BindAddress>().unwrap_err();
            assert!(err.contains("is not a valid bind address"), "{err}");
        }
    }
}
