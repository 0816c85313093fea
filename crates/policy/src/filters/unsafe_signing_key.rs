//! Events signed with a publicly known private key (Go `ed25519.GenerateKey(math/rand.NewSource(0))`, reference
//! ELEMENTSEC-2025-1670): anyone can forge such signatures, so the events are refused.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct UnsafeSigningKey;

/// Public keys whose private halves are public: the math/rand seed-0 key
/// (`l/O9hxMVKB6Lg+3Hqf0FQQZhVESQcMzbPN1Cz2nM3og`, also in Synapse's `BANNED_SERVER_SIGNING_KEYS`). The keyring
/// also refuses these.
pub const UNSAFE_PUBLIC_KEYS: [[u8; 32]; 1] = [[
    0x97, 0xf3, 0xbd, 0x87, 0x13, 0x15, 0x28, 0x1e, 0x8b, 0x83, 0xed, 0xc7, 0xa9, 0xfd, 0x05, 0x41, 0x06,
    0x61, 0x54, 0x44, 0x90, 0x70, 0xcc, 0xdb, 0x3c, 0xdd, 0x42, 0xcf, 0x69, 0xcc, 0xde, 0x88,
]];

impl Filter for UnsafeSigningKey {
    fn id(&self) -> FilterId {
        FilterId::UnsafeSigningKey
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.unsafe_signing_key_filter_enabled
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let Some(verifier) = cx.handles.signatures else {
            return ready(Ok(Outcome::neutral("skipped: no signature verifier available")));
        };
        for key in &UNSAFE_PUBLIC_KEYS {
            match verifier.signed_with(cx.event.json(), &cx.room.room_version, key) {
                Ok(true) => {
                    return ready(Ok(Outcome::prohibited(
                        &[harms::OTHER],
                        "signed with a publicly known key",
                    )));
                }
                Ok(false) => {}
                Err(err) => return ready(Err(err.into())),
            }
        }
        ready(Ok(Outcome::neutral("no signature by a known unsafe key")))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    use serde_json::{Value, json};

    use super::*;
    use crate::handles::{SignatureVerifier, StateError};
    use crate::testing::*;

    /// The seed of the math/rand seed-0 key, from the catalogue.
    const SEED0: [u8; 32] = [
        0x01, 0x94, 0xfd, 0xc2, 0xfa, 0x2f, 0xfc, 0xc0, 0x41, 0xd3, 0xff, 0x12, 0x04, 0x5b, 0x73, 0xc8, 0x6e,
        0x4f, 0xf9, 0x5f, 0xf6, 0x62, 0xa5, 0xee, 0xe8, 0x2a, 0xbd, 0xf4, 0x4a, 0x2d, 0x0b, 0x75,
    ];

    /// A test-only verifier: "redacts" a message by emptying its content and dropping `signatures`/`unsigned`
    /// (enough for `m.room.message`), then verifies with ed25519-dalek. Production uses the protocol crate.
    #[derive(Debug)]
    struct TestVerifier;

    fn signing_bytes(event: &Value) -> Vec<u8> {
        let mut e = event.clone();
        if let Some(o) = e.as_object_mut() {
            o.remove("signatures");
            o.remove("unsigned");
            o.insert("content".into(), json!({}));
        }
        e.to_string().into_bytes()
    }

    impl SignatureVerifier for TestVerifier {
        fn signed_with(
            &self,
            event: &Value,
            _room_version: &str,
            public_key: &[u8; 32],
        ) -> Result<bool, StateError> {
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|e| StateError(e.to_string()))?;
            let message = signing_bytes(event);
            let ev = crate::Event::from_json(event.clone()).map_err(|e| StateError(e.to_string()))?;
            for (_, _, sig) in ev.signatures() {
                let sig = sig.as_str().ok_or_else(|| StateError("signature is not a string".into()))?;
                let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(sig)
                    .map_err(|e| StateError(format!("bad signature: {e}")))?;
                let sig =
                    ed25519_dalek::Signature::from_slice(&bytes).map_err(|e| StateError(e.to_string()))?;
                if key.verify(&message, &sig).is_ok() {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }

    fn signed(key: &SigningKey) -> Value {
        let mut e = message("@a:example.org", "hello");
        let sig = key.sign(&signing_bytes(&e));
        let sig = base64::engine::general_purpose::STANDARD_NO_PAD.encode(sig.to_bytes());
        e["signatures"] = json!({"example.org": {"ed25519:testing": sig}});
        e
    }

    #[test]
    fn seed_zero_public_key_matches_the_catalogue() {
        assert_eq!(SigningKey::from_bytes(&SEED0).verifying_key().to_bytes(), UNSAFE_PUBLIC_KEYS[0]);
        assert_eq!(
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(UNSAFE_PUBLIC_KEYS[0]),
            "l/O9hxMVKB6Lg+3Hqf0FQQZhVESQcMzbPN1Cz2nM3og"
        );
    }

    /// §8.4 #29.
    #[test]
    fn vectors() {
        let mut h = Harness::new(json!({}));
        h.verifier = Some(Box::new(TestVerifier));
        let unsafe_key = SigningKey::from_bytes(&SEED0);
        let random_key = SigningKey::from_bytes(&[7u8; 32]);
        assert_eq!(h.judge(FilterId::UnsafeSigningKey, signed(&unsafe_key)), prohibited(&[harms::OTHER]));
        assert_eq!(h.judge(FilterId::UnsafeSigningKey, signed(&random_key)), neutral());
        // Unlike policyserv, a community can switch it off.
        let mut off = Harness::new(json!({"unsafe_signing_key_filter_enabled": false}));
        off.verifier = Some(Box::new(TestVerifier));
        assert_eq!(off.run(FilterId::UnsafeSigningKey, signed(&unsafe_key)), None);
    }
}
