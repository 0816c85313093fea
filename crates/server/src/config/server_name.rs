//! Matrix server names as they appear in settings: `host[:port]`, where the host is a DNS name, an IPv4 literal or
//! a bracketed IPv6 literal (Matrix spec, appendix "Server names").

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A syntactically valid Matrix server name, kept exactly as written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerName(String);

impl ServerName {
    /// A built-in default, known to be valid (the `defaults_are_valid` test parses every default).
    pub(crate) fn trusted(value: &'static str) -> Self {
        Self(value.to_owned())
    }

    /// The server name as written, e.g. `example.org:8448`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ServerName {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        if is_server_name(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "{value:?} is not a valid server name (expected host[:port], e.g. example.org or example.org:8448)"
            ))
        }
    }
}

impl TryFrom<String> for ServerName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<ServerName> for String {
    fn from(name: ServerName) -> Self {
        name.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `value` follows the server-name grammar. Also used for `host[:port]` parts of URLs.
pub(crate) fn is_server_name(value: &str) -> bool {
    if value.is_empty() || value.len() > 255 {
        return false;
    }
    let Some((host, port)) = split_port(value) else {
        return false;
    };
    is_valid_port(port) && is_valid_host(host)
}

/// Splits `host[:port]`, keeping the brackets of an IPv6 literal on the host. `None` if the brackets are broken.
fn split_port(value: &str) -> Option<(&str, Option<&str>)> {
    if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    Some(match value.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    })
}

/// A port is 1 to 5 digits; zero is refused because nothing can be reached there.
fn is_valid_port(port: Option<&str>) -> bool {
    match port {
        None => true,
        Some(digits) => {
            (1..=5).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok_and(|p| p != 0)
        }
    }
}

/// A host is a bracketed IPv6 literal, an IPv4 literal, or a DNS name of letters, digits, `-` and `.`.
fn is_valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    if host.is_empty() {
        return false;
    }
    // Something made only of digits and dots is meant as an IPv4 address, so it must be a real one
    // (`300.1.1.1` is a typo, not a host name).
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.')
        && !host.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_server_names() {
        for name in [
            "matrix.org",
            "localhost",
            "example.org:8448",
            "1.2.3.4",
            "1.2.3.4:80",
            "[::1]",
            "[2001:db8::1]:8448",
            "a-b.example",
            "element.ems.host",
        ] {
            assert!(name.parse::<ServerName>().is_ok(), "{name} should be valid");
        }
    }

    #[test]
    fn rejects_invalid_server_names() {
        for name in [
            "",
            "exa mple.org",
            "example.org:",
            "example.org:0",
            "example.org:123456",
            "example.org:http",
            "::1",
            "[::1",
            "[not-ip]",
            "[::1]x",
            "300.1.1.1",
            "user@example.org",
            "https://example.org",
            ".example.org",
            "a..b",
            &"a".repeat(256),
        ] {
            assert!(name.parse::<ServerName>().is_err(), "{name:?} should be invalid");
        }
    }

    #[test]
    fn error_quotes_the_value() {
        let err = "bad name".parse::<ServerName>().unwrap_err();
        assert!(err.starts_with("\"bad name\" is not a valid server name"), "{err}");
    }
}
