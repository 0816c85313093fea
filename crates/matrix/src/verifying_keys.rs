//! ed25519 signature checks with decompressed public keys kept in memory.
//!
//! Decompressing a public key costs about a third of a verification, and every `/sign` checks two signatures by
//! keys it has seen thousands of times, so each key is decompressed once.

use std::{
    collections::HashMap,
    sync::{LazyLock, RwLock},
};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Keys kept at most; past this the cache starts again from empty (a server has a handful of keys).
const MAX_KEYS: usize = 8192;

static KEYS: LazyLock<RwLock<HashMap<[u8; 32], VerifyingKey>>> = LazyLock::new(RwLock::default);

/// Whether `signature` is `public_key`'s signature of `message`.
///
/// Uses ed25519's standard check, as ruma and Synapse's signedjson do, so that Palisade accepts exactly the
/// signatures homeservers accept. A key that is not a curve point or a signature of the wrong length never verifies.
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = Signature::from_slice(signature) else { return false };
    let Some(key) = verifying_key(public_key) else { return false };
    key.verify(message, &signature).is_ok()
}

fn verifying_key(public_key: &[u8; 32]) -> Option<VerifyingKey> {
    if let Some(key) = KEYS.read().ok().and_then(|keys| keys.get(public_key).copied()) {
        return Some(key);
    }
    let key = VerifyingKey::from_bytes(public_key).ok()?;
    if let Ok(mut keys) = KEYS.write() {
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(*public_key, key);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_key_and_message_every_time() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let signature = key.sign(b"message").to_bytes();
        let public = key.verifying_key().to_bytes();
        for _ in 0..2 {
            // The second round is served from the cache.
            assert!(verify(&public, b"message", &signature));
            assert!(!verify(&public, b"other message", &signature));
            assert!(!verify(&other.verifying_key().to_bytes(), b"message", &signature));
            assert!(!verify(&public, b"message", &signature[..63]));
        }
    }

    #[test]
    fn a_key_that_is_not_a_curve_point_never_verifies() {
        // y = 2 has no x on the curve, so these bytes do not decompress.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(VerifyingKey::from_bytes(&not_a_point).is_err());
        assert!(!verify(&not_a_point, b"message", &[0; 64]));
    }
}
