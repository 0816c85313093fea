//! Checking one ed25519 signature on a signed JSON object (spec appendix "Signing JSON"): the signature covers
//! the canonical JSON of the object without its `signatures` and `unsigned` members.

use ed25519_dalek::{Signature, VerifyingKey};
use palisade_matrix::{
    canonical_json::{self, CanonicalJsonValue},
    keys::lenient_base64,
};

/// Verifies the signature of `signer` under `key_id` on `document` with `public_key`.
pub(crate) fn verify(
    document: &[u8],
    signer: &str,
    key_id: &str,
    public_key: &[u8; 32],
) -> Result<(), String> {
    let mut object = canonical_json::parse_object(document).map_err(|e| e.to_string())?;
    let signatures = object.remove("signatures");
    object.remove("unsigned");
    let signature = match &signatures {
        Some(CanonicalJsonValue::Object(by_signer)) => match by_signer.get(signer) {
            Some(CanonicalJsonValue::Object(by_key)) => by_key.get(key_id),
            _ => None,
        },
        _ => None,
    };
    let Some(CanonicalJsonValue::String(signature)) = signature else {
        return Err(format!("no signature by {signer} with {key_id}"));
    };
    let signature = lenient_base64::decode(signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| format!("signature by {signer} is not valid base64 ed25519"))?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|e| e.to_string())?;
    key.verify_strict(canonical_json::to_canonical_string(&object).as_bytes(), &signature)
        .map_err(|_| format!("signature by {signer} with {key_id} does not verify"))
}

#[cfg(test)]
mod tests {
    use palisade_matrix::SigningKey;

    use super::*;
    use crate::test_support::countersign;

    #[test]
    fn verifies_exactly_the_signed_content() {
        let key = SigningKey::from_seed(&[9; 32], "k").unwrap();
        let document = countersign(serde_json::json!({"a": 1, "unsigned": {"x": 1}}), "s.test", &key);
        let bytes = serde_json::to_vec(&document).unwrap();
        assert_eq!(verify(&bytes, "s.test", "ed25519:k", &key.public_key()), Ok(()));
        // `unsigned` may change freely.
        let mut changed_unsigned = document.clone();
        changed_unsigned["unsigned"] = serde_json::json!({"y": 2});
        assert!(
            verify(&serde_json::to_vec(&changed_unsigned).unwrap(), "s.test", "ed25519:k", &key.public_key())
                .is_ok()
        );
        // Content may not.
        let mut tampered = document.clone();
        tampered["a"] = serde_json::json!(2);
        assert!(
            verify(&serde_json::to_vec(&tampered).unwrap(), "s.test", "ed25519:k", &key.public_key())
                .is_err()
        );
        assert!(verify(&bytes, "other.test", "ed25519:k", &key.public_key()).is_err());
        assert!(verify(&bytes, "s.test", "ed25519:other", &key.public_key()).is_err());
        assert!(verify(&bytes, "s.test", "ed25519:k", &[1; 32]).is_err());
    }
}
