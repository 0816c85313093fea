//! Notary servers (`POST /_matrix/key/v2/query`): their configuration and the checks on what they return.
//!
//! A notary vouches for another server's keys by adding its own signature to that server's self-signed document.
//! We accept a document only if both signatures verify: the notary's with the key we were configured with, and the
//! target server's with the keys inside the document.

use std::str::FromStr;

use palisade_matrix::{keys::lenient_base64, server_keys::ServerKeys};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A trusted notary, as policyserv's `PS_KEY_QUERY_SERVER` names it: `name,ed25519:keyid,base64key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotaryServer {
    /// The notary's server name.
    pub server_name: String,
    /// The key ID it signs with, `ed25519:<version>`.
    pub key_id: String,
    /// Its public key.
    pub public_key: [u8; 32],
}

/// Why a notary setting or response was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotaryError {
    /// The `name,keyId,key` setting is malformed.
    #[error("invalid notary setting {0:?}: expected name,ed25519:keyid,base64key")]
    InvalidSetting(String),
    /// The response is not a `{"server_keys": [...]}` object.
    #[error("malformed notary response: {0}")]
    Malformed(String),
    /// No document in the response is for the server asked about and carries valid signatures.
    #[error("notary {notary} returned no valid keys for {server}: {reasons}")]
    NoValidDocument {
        /// The notary.
        notary: String,
        /// The server asked about.
        server: String,
        /// Why each candidate document was refused.
        reasons: String,
    },
}

impl FromStr for NotaryServer {
    type Err = NotaryError;

    fn from_str(setting: &str) -> Result<Self, Self::Err> {
        let invalid = || NotaryError::InvalidSetting(setting.to_owned());
        let parts: Vec<&str> = setting.split(',').map(str::trim).collect();
        let [server_name, key_id, key] = parts[..] else { return Err(invalid()) };
        if server_name.is_empty() || !key_id.starts_with("ed25519:") || key_id.len() <= "ed25519:".len() {
            return Err(invalid());
        }
        let public_key =
            lenient_base64::decode(key).ok().and_then(|b| b.try_into().ok()).ok_or_else(invalid)?;
        Ok(Self { server_name: server_name.to_owned(), key_id: key_id.to_owned(), public_key })
    }
}

/// The body of a `/_matrix/key/v2/query` response; documents stay raw so their signatures can be checked.
#[derive(Deserialize)]
struct QueryResponse<'a> {
    #[serde(borrow)]
    server_keys: Vec<&'a RawValue>,
}

/// The request body asking for all current keys of `server`.
pub(crate) fn query_body(server: &str) -> serde_json::Value {
    serde_json::json!({ "server_keys": { server: {} } })
}

impl NotaryServer {
    /// Picks the document for `server` out of a notary response: it must be signed by this notary and self-signed
    /// by `server`. Among several valid documents the one valid longest wins.
    pub fn verify_response(&self, body: &[u8], server: &str) -> Result<ServerKeys, NotaryError> {
        let response: QueryResponse<'_> =
            serde_json::from_slice(body).map_err(|e| NotaryError::Malformed(e.to_string()))?;
        let mut reasons = Vec::new();
        let mut best: Option<ServerKeys> = None;
        for document in response.server_keys {
            let bytes = document.get().as_bytes();
            match self
                .check_signature(bytes)
                .and_then(|()| super::self_signed::verify_self_signed(bytes, server))
            {
                Ok(keys) if best.as_ref().is_none_or(|b| keys.valid_until_ts > b.valid_until_ts) => {
                    best = Some(keys)
                }
                Ok(_) => {}
                Err(reason) => reasons.push(reason),
            }
        }
        best.ok_or_else(|| NotaryError::NoValidDocument {
            notary: self.server_name.clone(),
            server: server.to_owned(),
            reasons: if reasons.is_empty() { "no documents".to_owned() } else { reasons.join("; ") },
        })
    }

    /// Checks this notary's signature on one JSON object.
    pub fn check_signature(&self, document: &[u8]) -> Result<(), String> {
        super::signed_json::verify(document, &self.server_name, &self.key_id, &self.public_key)
    }
}

#[cfg(test)]
mod tests {
    use palisade_matrix::{SigningKey, server_keys::signed_document};

    use super::*;
    use crate::test_support::countersign;

    fn notary_key() -> SigningKey {
        SigningKey::from_seed(&[3; 32], "notary").unwrap()
    }

    fn notary() -> NotaryServer {
        let key = notary_key();
        NotaryServer { server_name: "notary.test".into(), key_id: key.key_id(), public_key: key.public_key() }
    }

    #[test]
    fn parses_policyserv_setting() {
        let parsed: NotaryServer =
            "matrix.org,ed25519:a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ".parse().unwrap();
        assert_eq!(parsed.server_name, "matrix.org");
        assert_eq!(parsed.key_id, "ed25519:a_RXGa");
        for bad in [
            "matrix.org",
            "matrix.org,a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ",
            "a,ed25519:x,short",
            "a,ed25519:x,k,extra",
            ",ed25519:x,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ",
        ] {
            assert!(bad.parse::<NotaryServer>().is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_only_documents_signed_by_both() {
        let origin = SigningKey::from_seed(&[5; 32], "o1").unwrap();
        let self_signed = signed_document("origin.test", &origin, &[], 1000);
        let both = countersign(self_signed.clone(), "notary.test", &notary_key());
        let body = serde_json::to_vec(&serde_json::json!({ "server_keys": [both] })).unwrap();
        let keys = notary().verify_response(&body, "origin.test").unwrap();
        assert_eq!(keys.verify_keys.get("ed25519:o1"), Some(&origin.public_key()));

        // Missing notary signature.
        let body = serde_json::to_vec(&serde_json::json!({ "server_keys": [self_signed] })).unwrap();
        assert!(notary().verify_response(&body, "origin.test").is_err());

        // Signed by the notary but not by the origin (a notary inventing keys).
        let fake = SigningKey::from_seed(&[6; 32], "o1").unwrap();
        let forged = signed_document("origin.test", &fake, &[], 1000);
        let mut forged = countersign(forged, "notary.test", &notary_key());
        forged["verify_keys"]["ed25519:o1"]["key"] = serde_json::json!(origin.public_key_base64());
        let forged = countersign(forged, "notary.test", &notary_key());
        let body = serde_json::to_vec(&serde_json::json!({ "server_keys": [forged] })).unwrap();
        assert!(notary().verify_response(&body, "origin.test").is_err());

        // Signed by the notary, but the origin's own signature was stripped.
        let mut stripped =
            countersign(signed_document("origin.test", &origin, &[], 1000), "notary.test", &notary_key());
        stripped["signatures"].as_object_mut().unwrap().remove("origin.test");
        let stripped = countersign(stripped, "notary.test", &notary_key());
        let body = serde_json::to_vec(&serde_json::json!({ "server_keys": [stripped] })).unwrap();
        assert!(notary().verify_response(&body, "origin.test").is_err());

        // Another notary key.
        let other = SigningKey::from_seed(&[8; 32], "notary").unwrap();
        let wrong = countersign(signed_document("origin.test", &origin, &[], 1000), "notary.test", &other);
        let body = serde_json::to_vec(&serde_json::json!({ "server_keys": [wrong] })).unwrap();
        assert!(notary().verify_response(&body, "origin.test").is_err());

        assert!(notary().verify_response(b"{}", "origin.test").is_err());
    }

    #[test]
    fn picks_the_longest_valid_document() {
        let origin = SigningKey::from_seed(&[5; 32], "o1").unwrap();
        let short =
            countersign(signed_document("origin.test", &origin, &[], 1000), "notary.test", &notary_key());
        let long =
            countersign(signed_document("origin.test", &origin, &[], 9000), "notary.test", &notary_key());
        let body = serde_json::to_vec(&serde_json::json!({ "server_keys": [short, long] })).unwrap();
        assert_eq!(notary().verify_response(&body, "origin.test").unwrap().valid_until_ts, 9000);
    }
}
