//! The server-key document of `GET /_matrix/key/v2/server`: built and signed for ourselves, parsed and verified
//! for others.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    SigningKey,
    canonical_json::{self, CanonicalJsonValue},
    keys::lenient_base64,
    signing::VerifyKeys,
};

/// A key a server no longer signs with, kept so old signatures still verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldVerifyKey {
    /// `ed25519:<version>`.
    pub key_id: String,
    /// The raw public key.
    pub public_key: [u8; 32],
    /// When the server stopped using it (ms since the epoch).
    pub expired_ts: i64,
}

/// The verified contents of a server-key document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKeys {
    /// The server the keys belong to.
    pub server_name: String,
    /// Current keys by key ID.
    pub verify_keys: BTreeMap<String, [u8; 32]>,
    /// Former keys.
    pub old_verify_keys: Vec<OldVerifyKey>,
    /// Until when the document may be cached (ms since the epoch).
    pub valid_until_ts: i64,
}

/// Why another server's key document was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid server key document: {0}")]
pub struct ServerKeysError(String);

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_ts: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Document {
    server_name: String,
    valid_until_ts: i64,
    verify_keys: BTreeMap<String, KeyEntry>,
    #[serde(default)]
    old_verify_keys: BTreeMap<String, KeyEntry>,
}

/// Builds our signed key document. Only the federation key is published here, never the policy key.
pub fn signed_document(
    server_name: &str,
    key: &SigningKey,
    old_keys: &[OldVerifyKey],
    valid_until_ts: i64,
) -> serde_json::Value {
    let document = Document {
        server_name: server_name.to_owned(),
        valid_until_ts,
        verify_keys: BTreeMap::from([(
            key.key_id(),
            KeyEntry { key: key.public_key_base64(), expired_ts: None },
        )]),
        old_verify_keys: old_keys
            .iter()
            .map(|old| {
                let entry = KeyEntry {
                    key: lenient_base64::encode(&old.public_key),
                    expired_ts: Some(old.expired_ts),
                };
                (old.key_id.clone(), entry)
            })
            .collect(),
    };
    let value = serde_json::to_value(&document).unwrap_or_default();
    let Ok(mut object) = canonical_json::from_value(value) else { return serde_json::Value::Null };
    let signature = key.sign_base64(canonical_json::to_canonical_string(&object).as_bytes());
    let entity =
        canonical_json::CanonicalObject::from([(key.key_id(), CanonicalJsonValue::String(signature))]);
    let signatures =
        canonical_json::CanonicalObject::from([(server_name.to_owned(), CanonicalJsonValue::Object(entity))]);
    object.insert("signatures".to_owned(), CanonicalJsonValue::Object(signatures));
    canonical_json::to_json_value(&object)
}

/// Parses another server's key document and checks it is self-signed by one of its current keys and names the
/// expected server.
pub fn parse_and_verify(bytes: &[u8], expected_server: &str) -> Result<ServerKeys, ServerKeysError> {
    let object = canonical_json::parse_object(bytes).map_err(|e| ServerKeysError(e.to_string()))?;
    let document: Document = serde_json::from_value(canonical_json::to_json_value(&object))
        .map_err(|e| ServerKeysError(e.to_string()))?;
    if document.server_name != expected_server {
        return Err(ServerKeysError(format!(
            "document is for {}, not {expected_server}",
            document.server_name
        )));
    }
    let decode = |entry: &KeyEntry| -> Result<[u8; 32], ServerKeysError> {
        lenient_base64::decode(&entry.key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| ServerKeysError("a key is not 32 bytes of base64".to_owned()))
    };
    let mut verify_keys = BTreeMap::new();
    let mut keys = VerifyKeys::new();
    for (key_id, entry) in &document.verify_keys {
        let public_key = decode(entry)?;
        keys.insert(expected_server, key_id, &public_key);
        verify_keys.insert(key_id.clone(), public_key);
    }
    verify_self_signature(&object, expected_server, &keys)?;
    let old_verify_keys = document
        .old_verify_keys
        .iter()
        .map(|(key_id, entry)| {
            Ok(OldVerifyKey {
                key_id: key_id.clone(),
                public_key: decode(entry)?,
                expired_ts: entry.expired_ts.unwrap_or(0),
            })
        })
        .collect::<Result<_, ServerKeysError>>()?;
    Ok(ServerKeys {
        server_name: document.server_name,
        verify_keys,
        old_verify_keys,
        valid_until_ts: document.valid_until_ts,
    })
}

/// Requires at least one signature by `server` under one of its own current keys, and checks those signatures only:
/// ruma verifies whatever signatures are present, so an empty `signatures` object would otherwise pass, and a
/// notary's countersignature would fail for want of the notary's key.
fn verify_self_signature(
    object: &canonical_json::CanonicalObject,
    server: &str,
    keys: &VerifyKeys,
) -> Result<(), ServerKeysError> {
    let own: canonical_json::CanonicalObject = object
        .get("signatures")
        .and_then(CanonicalJsonValue::as_object)
        .and_then(|signatures| signatures.get(server))
        .and_then(CanonicalJsonValue::as_object)
        .map(|by_key| {
            by_key
                .iter()
                .filter(|(key_id, _)| keys.has_key(server, key_id))
                .map(|(key_id, signature)| (key_id.clone(), signature.clone()))
                .collect()
        })
        .unwrap_or_default();
    if own.is_empty() {
        return Err(ServerKeysError(format!("not signed by {server} with any of its current keys")));
    }
    let mut checked = object.clone();
    checked.insert(
        "signatures".to_owned(),
        CanonicalJsonValue::Object(canonical_json::CanonicalObject::from([(
            server.to_owned(),
            CanonicalJsonValue::Object(own),
        )])),
    );
    ruma::signatures::verify_json(keys.as_map(), &checked).map_err(|e| ServerKeysError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_document_round_trips_and_is_self_signed() {
        let key = SigningKey::from_seed(&[7; 32], "a_new").unwrap();
        let old = OldVerifyKey { key_id: "ed25519:a_old".into(), public_key: [9; 32], expired_ts: 1000 };
        let document = signed_document("palisade.example.org", &key, std::slice::from_ref(&old), 5000);
        let bytes = serde_json::to_vec(&document).unwrap();
        let parsed = parse_and_verify(&bytes, "palisade.example.org").unwrap();
        assert_eq!(parsed.verify_keys, BTreeMap::from([("ed25519:a_new".to_owned(), key.public_key())]));
        assert_eq!(parsed.old_verify_keys, vec![old]);
        assert_eq!(parsed.valid_until_ts, 5000);
        assert!(parse_and_verify(&bytes, "other.example.org").is_err());
    }

    #[test]
    fn a_notary_countersignature_does_not_get_in_the_way() {
        let key = SigningKey::from_seed(&[7; 32], "a_new").unwrap();
        let mut document = signed_document("palisade.example.org", &key, &[], 5000);
        document["signatures"]["notary.example.org"] = serde_json::json!({"ed25519:n": "c2lnbmF0dXJl"});
        assert!(parse_and_verify(&serde_json::to_vec(&document).unwrap(), "palisade.example.org").is_ok());
    }

    #[test]
    fn tampered_documents_are_refused() {
        let key = SigningKey::from_seed(&[7; 32], "a_new").unwrap();
        let mut document = signed_document("palisade.example.org", &key, &[], 5000);
        document["valid_until_ts"] = serde_json::json!(9_999_999);
        assert!(parse_and_verify(&serde_json::to_vec(&document).unwrap(), "palisade.example.org").is_err());
        assert!(parse_and_verify(b"{}", "palisade.example.org").is_err());

        // A document with no signature at all, or only someone else's, is refused.
        let mut unsigned = signed_document("palisade.example.org", &key, &[], 5000);
        unsigned["signatures"] = serde_json::json!({});
        assert!(parse_and_verify(&serde_json::to_vec(&unsigned).unwrap(), "palisade.example.org").is_err());
        let mut foreign = signed_document("palisade.example.org", &key, &[], 5000);
        let theirs = foreign["signatures"]["palisade.example.org"].clone();
        foreign["signatures"] = serde_json::json!({"notary.example.org": theirs});
        assert!(parse_and_verify(&serde_json::to_vec(&foreign).unwrap(), "palisade.example.org").is_err());
        assert!(parse_and_verify(b"nope", "palisade.example.org").is_err());
    }
}
