//! ed25519 signature checks with decompressed public keys kept in memory.
//!
//! Decompressing a public key costs about a third of a verification, and every `/sign` checks two signatures by
//! keys it has seen thousands of times, so each key is decompressed once. An event's signature is also checked once
//! for all the servers that ask about the event ([`verify_remembered`]).

use std::{
    collections::{HashMap, HashSet},
    sync::{LazyLock, RwLock},
};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

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

/// Signatures that verified lately, as `SHA-256(public key ‖ signature ‖ SHA-256(message))`: every server of a
/// room asks about the same event, with the same sender's signature, within seconds.
static VERIFIED: LazyLock<RwLock<HashSet<[u8; 32]>>> = LazyLock::new(RwLock::default);

/// Verified signatures remembered at most; past this the memory starts again from empty (about 2 MB).
const MAX_VERIFIED: usize = 65_536;

/// [`verify`] for signatures likely to be checked again (an event's signatures, asked about by many servers):
/// one that verified before is known by its fingerprint, so repeats cost two hashes instead of a verification.
/// Only successes are remembered, and the fingerprint covers key, signature and message, so no other
/// combination can match one.
pub fn verify_remembered(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let fingerprint: [u8; 32] = {
        let mut hasher = Sha256::new();
        hasher.update(public_key);
        hasher.update(signature);
        hasher.update(Sha256::digest(message));
        hasher.finalize().into()
    };
    if VERIFIED.read().is_ok_and(|verified| verified.contains(&fingerprint)) {
        return true;
    }
    if !verify(public_key, message, signature) {
        return false;
    }
    if let Ok(mut verified) = VERIFIED.write() {
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(fingerprint);
    }
    true
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
    fn a_remembered_signature_matches_only_its_own_key_message_and_signature() {
        let key = SigningKey::from_bytes(&[11; 32]);
        let public = key.verifying_key().to_bytes();
        let signature = key.sign(b"event").to_bytes();
        assert!(verify_remembered(&public, b"event", &signature));
        // Remembered now: the same triple still verifies, and no variation of it does.
        assert!(verify_remembered(&public, b"event", &signature));
        assert!(!verify_remembered(&public, b"other event", &signature));
        let mut forged = signature;
        forged[0] ^= 1;
        assert!(!verify_remembered(&public, b"event", &forged));
        let other = SigningKey::from_bytes(&[12; 32]).verifying_key().to_bytes();
        assert!(!verify_remembered(&other, b"event", &signature));
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
