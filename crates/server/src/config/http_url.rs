//! `http(s)://` URLs of outside services (media homeserver, HMA, Muninn Hall, OpenAI, support page).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::server_name::is_server_name;

/// An absolute `http://` or `https://` URL with a valid `host[:port]` and no credentials in it.
///
/// Credentials are refused because every service that needs one has its own secret setting, and secrets in
/// URLs end up in logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(String);

impl HttpUrl {
    /// A built-in default, known to be valid (the `defaults_are_valid` test parses every default).
    pub(crate) fn trusted(value: &'static str) -> Self {
        Self(value.to_owned())
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HttpUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        check_http_url(value)
            .map(|()| Self(value.to_owned()))
            .map_err(|why| format!("{value:?} is not a valid URL: {why}"))
    }
}

/// Checks the scheme and the authority; the path and query are left to the HTTP client.
fn check_http_url(value: &str) -> Result<(), &'static str> {
    if value.chars().any(char::is_whitespace) {
        return Err("it contains whitespace");
    }
    let lower = value.to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err("the scheme must be http or https");
    };
    let rest = value.get(scheme_len..).unwrap_or_default();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("credentials do not belong in the URL; use the matching key setting");
    }
    if !is_server_name(authority) {
        return Err("the host is missing or invalid");
    }
    Ok(())
}

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<HttpUrl> for String {
    fn from(url: HttpUrl) -> Self {
        url.0
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https() {
        for url in [
            "https://matrix-client.matrix.org",
            "http://localhost:5000/",
            "https://mau.bot/_matrix/maubot/plugin/muninnbot/member_directory",
            "HTTPS://example.org?x=1",
            "http://[::1]:8080/path",
        ] {
            assert!(url.parse::<HttpUrl>().is_ok(), "{url}");
        }
    }

    #[test]
    fn rejects_other_schemes_and_bad_hosts() {
        let cases = [
            ("ftp://example.org", "the scheme must be http or https"),
            ("example.org", "the scheme must be http or https"),
            ("https://", "the host is missing or invalid"),
            ("https://exa_mple.org/", "the host is missing or invalid"),
            ("https://user:pw@example.org", "credentials do not belong"),
            ("https://example.org/a b", "whitespace"),
        ];
        for (url, why) in cases {
            let err = url.parse::<HttpUrl>().unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
            assert!(err.starts_with(&format!("{url:?} is not a valid URL")), "{err}");
        }
    }
}
