//! Strictly validated `mxc://` URIs. policyserv panicked on `mxc://host` (empty media ID) and crashed on non-mxc
//! URLs (catalogue §11.6); here every malformed URI is an error value.

use serde::{Deserialize, Serialize};

/// A content URI `mxc://<server-name>/<media-id>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MxcUri {
    /// The origin server name (may include a port).
    pub server_name: String,
    /// The media ID: `[A-Za-z0-9_-]+`.
    pub media_id: String,
}

/// Why a string is not an `mxc://` URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MxcError {
    /// Another scheme, or no scheme at all.
    #[error("not an mxc:// URI")]
    NotMxc,
    /// `mxc://` with no server name.
    #[error("mxc URI has no server name")]
    NoServerName,
    /// A server name with characters a server name cannot have.
    #[error("mxc URI has an invalid server name")]
    BadServerName,
    /// `mxc://server` or `mxc://server/`.
    #[error("mxc URI has no media ID")]
    NoMediaId,
    /// A media ID outside `[A-Za-z0-9_-]`.
    #[error("mxc URI has an invalid media ID")]
    BadMediaId,
}

impl MxcUri {
    /// Parses and validates `uri`.
    pub fn parse(uri: &str) -> Result<Self, MxcError> {
        let rest = uri.strip_prefix("mxc://").ok_or(MxcError::NotMxc)?;
        let (server_name, media_id) = rest.split_once('/').unwrap_or((rest, ""));
        if server_name.is_empty() {
            return Err(MxcError::NoServerName);
        }
        let server_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
        if !server_name.chars().all(server_char) {
            return Err(MxcError::BadServerName);
        }
        if media_id.is_empty() {
            return Err(MxcError::NoMediaId);
        }
        if !media_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(MxcError::BadMediaId);
        }
        Ok(Self { server_name: server_name.to_owned(), media_id: media_id.to_owned() })
    }
}

impl std::fmt::Display for MxcUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mxc://{}/{}", self.server_name, self.media_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        type Case = (&'static str, Result<(&'static str, &'static str), MxcError>);
        let cases: &[Case] = &[
            ("mxc://one.example.org/abc", Ok(("one.example.org", "abc"))),
            ("mxc://example.org:8448/a_b-C9", Ok(("example.org:8448", "a_b-C9"))),
            ("mxc://example.org", Err(MxcError::NoMediaId)),
            ("mxc://example.org/", Err(MxcError::NoMediaId)),
            ("mxc:///abc", Err(MxcError::NoServerName)),
            ("mxc://ex ample.org/abc", Err(MxcError::BadServerName)),
            ("mxc://example.org/a/b", Err(MxcError::BadMediaId)),
            ("mxc://example.org/../x", Err(MxcError::BadMediaId)),
            ("https://example.org/abc", Err(MxcError::NotMxc)),
            ("", Err(MxcError::NotMxc)),
        ];
        for (input, want) in cases {
            let got = MxcUri::parse(input);
            let got =
                got.as_ref().map(|m| (m.server_name.as_str(), m.media_id.as_str())).map_err(Clone::clone);
            assert_eq!(got, *want, "{input}");
        }
        assert_eq!(MxcUri::parse("mxc://a.org/x").unwrap().to_string(), "mxc://a.org/x");
    }
}
