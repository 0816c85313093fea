//! Splitting a server name into host and optional port, as the discovery steps need it.

use std::net::IpAddr;

/// The host part of a server name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 literal, or an IPv6 literal written in brackets.
    Ip(IpAddr),
    /// A DNS name, lower-cased for lookups.
    Name(String),
}

/// A parsed server name: `host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedServerName {
    /// The host.
    pub host: Host,
    /// The explicit port, if any.
    pub port: Option<u16>,
}

/// Why a string is not a server name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid server name {0:?}")]
pub struct InvalidServerName(pub String);

/// The longest server name the spec allows.
const MAX_SERVER_NAME_LEN: usize = 255;

impl ParsedServerName {
    /// Parses a server name following the spec grammar (`hostname [":" port]`, IPv6 literals in brackets).
    pub fn parse(name: &str) -> Result<Self, InvalidServerName> {
        let invalid = || InvalidServerName(name.to_owned());
        if name.is_empty() || name.len() > MAX_SERVER_NAME_LEN {
            return Err(invalid());
        }
        let (host, port) = if let Some(rest) = name.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or_else(invalid)?;
            let ip: std::net::Ipv6Addr = v6.parse().map_err(|_| invalid())?;
            (Host::Ip(IpAddr::V6(ip)), after)
        } else {
            let end = name.find(':').unwrap_or(name.len());
            let (host, after) = name.split_at(end);
            let host = match host.parse::<std::net::Ipv4Addr>() {
                Ok(v4) => Host::Ip(IpAddr::V4(v4)),
                Err(_) if is_dns_name(host) => Host::Name(host.to_ascii_lowercase()),
                Err(_) => return Err(invalid()),
            };
            (host, after)
        };
        let port = match port {
            "" => None,
            text => {
                let digits = text.strip_prefix(':').ok_or_else(invalid)?;
                if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                Some(digits.parse::<u16>().map_err(|_| invalid())?)
            }
        };
        Ok(Self { host, port })
    }

    /// The host as it appears in a URL and a TLS name (`[v6]` in brackets).
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => v4.to_string(),
            Host::Name(name) => name.clone(),
        }
    }
}

/// The spec's `dns-name` grammar: letters, digits, `-` and `.`, not empty.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_forms() {
        let cases: &[(&str, Host, Option<u16>)] = &[
            ("matrix.org", Host::Name("matrix.org".into()), None),
            ("Matrix.Org:8448", Host::Name("matrix.org".into()), Some(8448)),
            ("1.2.3.4", Host::Ip("1.2.3.4".parse().unwrap()), None),
            ("1.2.3.4:1234", Host::Ip("1.2.3.4".parse().unwrap()), Some(1234)),
            ("[1234:5678::abcd]", Host::Ip("1234:5678::abcd".parse().unwrap()), None),
            ("[1234:5678::abcd]:5678", Host::Ip("1234:5678::abcd".parse().unwrap()), Some(5678)),
            ("localhost", Host::Name("localhost".into()), None),
        ];
        for (text, host, port) in cases {
            let parsed = ParsedServerName::parse(text).unwrap();
            assert_eq!((&parsed.host, parsed.port), (host, *port), "{text}");
        }
    }

    #[test]
    fn refuses_malformed_names() {
        for text in [
            "",
            ":8448",
            "a.org:",
            "a.org:99999",
            "a.org:80a",
            "a_b.org",
            "[::1",
            "[not-ip]",
            "::1",
            "a.org/path",
            "a.org:80:80",
        ] {
            assert!(ParsedServerName::parse(text).is_err(), "{text:?} should be refused");
        }
        assert!(ParsedServerName::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn host_text_brackets_ipv6() {
        assert_eq!(ParsedServerName::parse("[::2]:1").unwrap().host_text(), "[::2]");
        assert_eq!(ParsedServerName::parse("1.2.3.4").unwrap().host_text(), "1.2.3.4");
    }
}
