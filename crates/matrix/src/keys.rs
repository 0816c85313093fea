//! ed25519 signing keys: generation, signing, and the key-file formats operators bring.
//!
//! Palisade writes keys in Synapse's one-line format (`ed25519 <version> <unpadded base64 seed>`). It reads that
//! format and the PEM formats of Dendrite (`MATRIX PRIVATE KEY`) and matrix-media-repo (`MMR PRIVATE KEY`, which
//! policyserv's `gen_signing_keys` writes), with lenient base64, so operators can keep the keys they have.

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ruma::signatures::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

mod key_file;
pub mod lenient_base64;

pub use key_file::{KeyFileError, parse_key_file};

/// The key ID under which the policy server signs events (MSC4284).
pub const POLICY_SERVER_KEY_ID: &str = "ed25519:policy_server";

/// The version part of [`POLICY_SERVER_KEY_ID`].
pub const POLICY_SERVER_KEY_VERSION: &str = "policy_server";

/// Public keys whose private halves are public, so anything "signed" with them proves nothing: the Go
/// `ed25519.GenerateKey(math/rand.NewSource(0))` key (`l/O9hxMVKB6Lg+3Hqf0FQQZhVESQcMzbPN1Cz2nM3og`, reference
/// ELEMENTSEC-2025-1670, also in Synapse's `BANNED_SERVER_SIGNING_KEYS`). The keyring never hands these out and the
/// policy engine refuses events signed with them.
pub const KNOWN_UNSAFE_PUBLIC_KEYS: [[u8; 32]; 1] = [[
    0x97, 0xf3, 0xbd, 0x87, 0x13, 0x15, 0x28, 0x1e, 0x8b, 0x83, 0xed, 0xc7, 0xa9, 0xfd, 0x05, 0x41, 0x06,
    0x61, 0x54, 0x44, 0x90, 0x70, 0xcc, 0xdb, 0x3c, 0xdd, 0x42, 0xcf, 0x69, 0xcc, 0xde, 0x88,
]];

/// Whether `public_key` is one of [`KNOWN_UNSAFE_PUBLIC_KEYS`].
pub fn is_known_unsafe(public_key: &[u8; 32]) -> bool {
    KNOWN_UNSAFE_PUBLIC_KEYS.contains(public_key)
}

/// An ed25519 signing key with its version (the part after `ed25519:` in its key ID).
pub struct SigningKey {
    pair: Ed25519KeyPair,
    seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .field("public_key", &self.public_key_base64())
            .finish()
    }
}

impl SigningKey {
    /// Builds a key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32], version: &str) -> Result<Self, KeyFileError> {
        check_version(version)?;
        let pair = Ed25519KeyPair::new(ed25519_dalek::pkcs8::ALGORITHM_OID, seed, None, version.to_owned())
            .map_err(|e| KeyFileError::InvalidKey(e.to_string()))?;
        Ok(Self { pair, seed: Zeroizing::new(*seed) })
    }

    /// Generates a new random key from the operating system's random source.
    pub fn generate(version: &str) -> Result<Self, KeyFileError> {
        let der = Ed25519KeyPair::generate();
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(&der)
            .map_err(|e| KeyFileError::InvalidKey(e.to_string()))?;
        Self::from_seed(&key.to_bytes(), version)
    }

    /// The version, e.g. `a_RXGa` or `policy_server`.
    pub fn version(&self) -> &str {
        self.pair.version()
    }

    /// The key ID, `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.version())
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair.public_key()
    }

    /// The public key in unpadded standard base64, as Matrix publishes keys.
    pub fn public_key_base64(&self) -> String {
        lenient_base64::encode(&self.public_key())
    }

    /// Signs bytes; returns the raw 64-byte signature.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_bytes().to_vec()
    }

    /// Signs bytes; returns the signature in unpadded standard base64.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        self.pair.sign(message).base64()
    }

    /// The same key under another version (the policy key is always used as `ed25519:policy_server`).
    pub fn with_version(&self, version: &str) -> Result<Self, KeyFileError> {
        Self::from_seed(&self.seed, version)
    }

    /// The key file line in Synapse's format.
    pub fn to_synapse_format(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("ed25519 {} {}\n", self.version(), lenient_base64::encode(&*self.seed)))
    }

    /// ruma's key pair, for the signing helpers of this crate.
    pub(crate) fn pair(&self) -> &Ed25519KeyPair {
        &self.pair
    }
}

/// Key versions must be valid key ID parts: `[a-zA-Z0-9_]`, non-empty.
fn check_version(version: &str) -> Result<(), KeyFileError> {
    let valid = !version.is_empty() && version.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid { Ok(()) } else { Err(KeyFileError::InvalidVersion(version.to_owned())) }
}

/// A fresh random key version for a federation key, like Synapse's `a_XXXX`.
pub fn random_key_version() -> String {
    let der = Ed25519KeyPair::generate();
    // Four characters of base64 from fresh random bytes; base64 of random bytes may contain `+` and `/`, so map
    // them into the allowed alphabet.
    let tail: String = lenient_base64::encode(&der[der.len() - 3..])
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("a_{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing example of the spec appendix: this seed signs `{}` to a known signature.
    const SPEC_SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

    #[test]
    fn spec_seed_gives_spec_public_key_and_signature() {
        let seed: [u8; 32] = lenient_base64::decode(SPEC_SEED).unwrap().try_into().unwrap();
        let key = SigningKey::from_seed(&seed, "1").unwrap();
        assert_eq!(key.public_key_base64(), "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI");
        assert_eq!(
            key.sign_base64(b"{}"),
            "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        );
        assert_eq!(key.key_id(), "ed25519:1");
    }

    #[test]
    fn generated_keys_round_trip_through_synapse_format() {
        let key = SigningKey::generate("a_test").unwrap();
        let text = key.to_synapse_format();
        let parsed = parse_key_file(&text).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].public_key(), key.public_key());
        assert_eq!(parsed[0].version(), "a_test");
        assert_ne!(SigningKey::generate("a_test").unwrap().public_key(), key.public_key());
    }

    #[test]
    fn versions_are_checked() {
        assert!(SigningKey::generate("bad version").is_err());
        assert!(SigningKey::generate("").is_err());
        let v = random_key_version();
        assert!(v.starts_with("a_") && v.len() == 6 && check_version(&v).is_ok(), "{v}");
    }

    #[test]
    fn debug_output_hides_the_seed() {
        let seed: [u8; 32] = lenient_base64::decode(SPEC_SEED).unwrap().try_into().unwrap();
        let printed = format!("{:?}", SigningKey::from_seed(&seed, "1").unwrap());
        assert!(!printed.contains(SPEC_SEED) && printed.contains("XGX0JRS2"));
    }
}
