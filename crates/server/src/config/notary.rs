//! The key query (notary) server, in policyserv's `server_name,key_id,base64_public_key` form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::server_name::ServerName;

/// A notary server whose `/_matrix/key/v2/query` answers we trust because we know its signing key in advance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NotaryServer {
    /// The notary's server name.
    pub server_name: ServerName,
    /// Its key ID, `ed25519:<version>`.
    pub key_id: String,
    /// Its ed25519 public key in unpadded standard base64 (43 characters).
    pub public_key: String,
}

impl FromStr for NotaryServer {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split(',').collect();
        let [name, key_id, key] = parts[..] else {
            return Err(format!(
                "{value:?} is not a valid key query server (expected \"server_name,ed25519:version,base64_key\")"
            ));
        };
        let server_name = name.parse::<ServerName>()?;
        let version = key_id.strip_prefix("ed25519:").ok_or_else(|| {
            format!("key ID {key_id:?} of the key query server must start with \"ed25519:\"")
        })?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("key ID {key_id:?} of the key query server has an invalid version"));
        }
        if !is_base64_ed25519_key(key) {
            return Err(format!("{key:?} is not a base64 ed25519 public key (32 bytes)"));
        }
        Ok(Self { server_name, key_id: key_id.to_owned(), public_key: key.trim_end_matches('=').to_owned() })
    }
}

/// Whether `key` is the standard base64 encoding of exactly 32 bytes, unpadded (43 characters) or padded (44).
///
/// Checked without decoding: 32 bytes are 256 bits, the 43rd character carries 4 of them, so its 2 low bits must
/// be zero for the encoding to be canonical.
fn is_base64_ed25519_key(key: &str) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digits = key.strip_suffix('=').unwrap_or(key).as_bytes();
    if digits.len() != 43 {
        return false;
    }
    let mut last = 0;
    for byte in digits {
        match ALPHABET.iter().position(|a| a == byte) {
            Some(index) => last = index,
            None => return false,
        }
    }
    last % 4 == 0
}

impl TryFrom<String> for NotaryServer {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<NotaryServer> for String {
    fn from(notary: NotaryServer) -> Self {
        notary.to_string()
    }
}

impl fmt::Display for NotaryServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.server_name, self.key_id, self.public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIX_ORG: &str = "matrix.org,ed25519:a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ";

    #[test]
    fn parses_policyserv_default() {
        let notary: NotaryServer = MATRIX_ORG.parse().unwrap();
        assert_eq!(notary.server_name.as_str(), "matrix.org");
        assert_eq!(notary.key_id, "ed25519:a_RXGa");
        assert_eq!(notary.to_string(), MATRIX_ORG);
        let padded: NotaryServer = format!("{MATRIX_ORG}=").parse().unwrap();
        assert_eq!(padded, notary);
    }

    #[test]
    fn rejects_bad_specs() {
        let cases = [
            ("matrix.org", "expected \"server_name,ed25519:version,base64_key\""),
            ("matrix.org,ed25519:a,b,c", "expected"),
            (
                "matrix.org,curve25519:a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ",
                "must start with \"ed25519:\"",
            ),
            ("matrix.org,ed25519:,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ", "invalid version"),
            ("matrix.org,ed25519:a_RXGa,notbase64!", "is not a base64 ed25519 public key"),
            ("matrix.org,ed25519:a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sR", "is not a base64"),
            (
                "bad host,ed25519:a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ",
                "not a valid server name",
            ),
        ];
        for (spec, why) in cases {
            let err = spec.parse::<NotaryServer>().unwrap_err();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }
}
