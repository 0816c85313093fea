//! ed25519 signature checks with decompressed public keys kept in memory.
//!
//! Decompressing a public key costs about a third of a verification, and every `/sign` checks two signatures by
//! keys it has seen thousands of times, so each key is decompressed once. An event's signature is also checked once
//! for all the servers that ask about the event ([`verify_remembered`]). Signatures checked at the same moment can be
//! verified together ([`verify_batch`]), at about half the cost of each.

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
    let fingerprint = Fingerprint::of(public_key, message, signature);
    if fingerprint.is_remembered() {
        return true;
    }
    if !verify(public_key, message, signature) {
        return false;
    }
    fingerprint.remember();
    true
}

/// What a verified signature is remembered by: `SHA-256(public key ‖ signature ‖ SHA-256(message))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `public_key`'s `signature` of `message`.
    pub fn of(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(public_key);
        hasher.update(signature);
        hasher.update(Sha256::digest(message));
        Self(hasher.finalize().into())
    }

    /// Whether the signature verified lately.
    pub fn is_remembered(&self) -> bool {
        VERIFIED.read().is_ok_and(|verified| verified.contains(&self.0))
    }

    /// Remembers the signature as verified; call only after it did.
    pub fn remember(self) {
        if let Ok(mut verified) = VERIFIED.write() {
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(self.0);
        }
    }
}

/// One signature ready to be checked: the decompressed key, the parsed signature and the signed bytes.
#[derive(Clone, Debug)]
pub struct SignatureCheck {
    key: VerifyingKey,
    signature: Signature,
    message: Vec<u8>,
}

impl SignatureCheck {
    /// `None` when the key is not a curve point or the signature is not 64 bytes: such a signature never verifies.
    pub fn new(public_key: &[u8; 32], message: Vec<u8>, signature: &[u8]) -> Option<Self> {
        Some(Self {
            key: verifying_key(public_key)?,
            signature: Signature::from_slice(signature).ok()?,
            message,
        })
    }

    /// Whether this one signature verifies, as [`verify`] decides.
    pub fn verify(&self) -> bool {
        self.key.verify(&self.message, &self.signature).is_ok()
    }
}

/// Whether every one of `checks` verifies, in one multi-scalar equation (about half the cost of checking each).
///
/// `false` says only that at least one does not; [`SignatureCheck::verify`] tells which. A batch accepts every set
/// of signatures that single checks accept. It can differ from single checks only on signatures built by a key's
/// owner around points of small order (the batch equation weighs each signature by a derived 128-bit factor);
/// no one without the secret key can make a signature that passes either way.
pub fn verify_batch(checks: &[SignatureCheck]) -> bool {
    match checks {
        [] => true,
        [one] => one.verify(),
        _ => {
            let messages: Vec<&[u8]> = checks.iter().map(|c| c.message.as_slice()).collect();
            let signatures: Vec<Signature> = checks.iter().map(|c| c.signature).collect();
            let keys: Vec<VerifyingKey> = checks.iter().map(|c| c.key).collect();
            ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
        }
    }
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
    fn a_batch_verifies_only_when_every_signature_does() {
        let checks: Vec<SignatureCheck> = (0..8u8)
            .map(|i| {
                let key = SigningKey::from_bytes(&[20 + i; 32]);
                let message = vec![b'a' + i; 100 + usize::from(i)];
                let signature = key.sign(&message).to_bytes();
                SignatureCheck::new(&key.verifying_key().to_bytes(), message, &signature).unwrap()
            })
            .collect();
        assert!(verify_batch(&[]));
        assert!(verify_batch(&checks[..1]));
        assert!(verify_batch(&checks));
        for bad in [0, 3, 7] {
            let mut tampered = checks.clone();
            tampered[bad].message.push(b'!');
            assert!(!verify_batch(&tampered), "a changed message at {bad} must fail the batch");
            assert!(!tampered[bad].verify());
            assert!(tampered.iter().enumerate().all(|(i, c)| i == bad || c.verify()));
            let mut swapped = checks.clone();
            swapped[bad].signature = checks[(bad + 1) % checks.len()].signature;
            assert!(!verify_batch(&swapped), "another's signature at {bad} must fail the batch");
        }
    }

    #[test]
    fn a_check_cannot_be_built_from_a_bad_key_or_signature() {
        let key = SigningKey::from_bytes(&[30; 32]);
        let public = key.verifying_key().to_bytes();
        let signature = key.sign(b"m").to_bytes();
        assert!(SignatureCheck::new(&public, b"m".to_vec(), &signature).is_some_and(|c| c.verify()));
        assert!(SignatureCheck::new(&public, b"m".to_vec(), &signature[..63]).is_none());
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(SignatureCheck::new(&not_a_point, b"m".to_vec(), &signature).is_none());
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
