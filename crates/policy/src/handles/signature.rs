//! Signature checks, provided by the protocol crate (redaction and canonical JSON live there, not here).

use serde_json::Value;

use super::StateError;

/// Checks event signatures against a given public key.
pub trait SignatureVerifier: Send + Sync + std::fmt::Debug {
    /// Whether any signature on `event` (a PDU of `room_version`) verifies under the Ed25519 `public_key`. Because
    /// Ed25519 signatures are deterministic, this is equivalent to policyserv's "re-sign with the unsafe key and
    /// compare bytes". A malformed signature is an error.
    fn signed_with(
        &self,
        event: &Value,
        room_version: &str,
        public_key: &[u8; 32],
    ) -> Result<bool, StateError>;
}
