//! Checking a key document's self-signature when it also carries other servers' signatures.
//!
//! The matrix crate's `parse_and_verify` demands a key for every signer listed in `signatures`. A document
//! relayed by a notary is also signed by the notary (checked separately), so only the target server's own
//! signatures are kept before that check.
//!
//! `parse_and_verify` also accepts a document whose `signatures` object is empty (it verifies the signatures
//! present, and requires none), so the self-signature is additionally checked here: at least one signature by
//! the server with one of the document's own current keys must verify.

use palisade_matrix::{
    canonical_json::{self, CanonicalJsonValue},
    server_keys::{self, ServerKeys},
};

use super::signed_json;

/// Verifies `document` as `server`'s self-signed key document, ignoring signatures by anyone else.
pub(crate) fn verify_self_signed(document: &[u8], server: &str) -> Result<ServerKeys, String> {
    let mut object = canonical_json::parse_object(document).map_err(|e| e.to_string())?;
    if let Some(CanonicalJsonValue::Object(signatures)) = object.get_mut("signatures") {
        signatures.retain(|signer, _| signer == server);
    }
    let own_only = canonical_json::to_canonical_string(&object);
    let keys = server_keys::parse_and_verify(own_only.as_bytes(), server).map_err(|e| e.to_string())?;
    let self_signed = keys
        .verify_keys
        .iter()
        .any(|(key_id, public_key)| signed_json::verify(document, server, key_id, public_key).is_ok());
    if !self_signed {
        return Err(format!("key document is not signed by {server} with any of its keys"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use palisade_matrix::{SigningKey, server_keys::signed_document};

    use super::*;
    use crate::test_support::countersign;

    #[test]
    fn other_signatures_are_ignored_but_the_own_one_is_required() {
        let origin = SigningKey::from_seed(&[5; 32], "o1").unwrap();
        let other = SigningKey::from_seed(&[6; 32], "n1").unwrap();
        let document = countersign(signed_document("origin.test", &origin, &[], 1000), "notary.test", &other);
        let bytes = serde_json::to_vec(&document).unwrap();
        assert_eq!(verify_self_signed(&bytes, "origin.test").unwrap().valid_until_ts, 1000);

        // Only someone else's signature: refused.
        let mut unsigned = document.clone();
        unsigned["signatures"].as_object_mut().unwrap().remove("origin.test");
        assert!(verify_self_signed(&serde_json::to_vec(&unsigned).unwrap(), "origin.test").is_err());
        // An empty signatures object.
        let mut empty = document.clone();
        empty["signatures"] = serde_json::json!({});
        assert!(verify_self_signed(&serde_json::to_vec(&empty).unwrap(), "origin.test").is_err());
        // Wrong server.
        assert!(verify_self_signed(&bytes, "notary.test").is_err());
    }
}
