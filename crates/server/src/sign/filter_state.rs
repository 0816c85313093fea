//! The engine's stateful inputs backed by the store (shared between instances) and the protocol crate.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use palisade_matrix::{
    RoomVersion, canonical_json,
    signing::{VerifyKeys, signed_with_key},
};
use palisade_policy::handles::{
    BoxFuture, Clock, CounterKey, FrequencyCounter, HellbanStore, SignatureVerifier, StateError,
};
use palisade_store::Store;
use serde_json::Value;

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
            .try_into()
            .unwrap_or(u64::MAX)
    }
}

fn state_error(error: palisade_store::StoreError) -> StateError {
    StateError(error.to_string())
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Hellbans in the store, so every instance sees them.
#[derive(Clone)]
pub(super) struct StoreHellbans(pub(super) Arc<dyn Store>);

impl std::fmt::Debug for StoreHellbans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHellbans")
    }
}

impl HellbanStore for StoreHellbans {
    fn active_until<'a>(
        &'a self,
        community: &'a str,
        user: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, StateError>> {
        Box::pin(async move {
            let expiry = self.0.hellban_expiry(community, user, signed(now_ms)).await.map_err(state_error)?;
            Ok(expiry.and_then(|ms| u64::try_from(ms).ok()))
        })
    }

    fn start<'a>(
        &'a self,
        community: &'a str,
        user: &'a str,
        now_ms: u64,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<u64, StateError>> {
        Box::pin(async move {
            // Repeated spam does not extend an active ban (policyserv's rule).
            if let Some(active) = self.active_until(community, user, now_ms).await? {
                return Ok(active);
            }
            self.0.hellban(community, user, signed(until_ms)).await.map_err(state_error)?;
            Ok(until_ms)
        })
    }
}

/// Sliding-window counters in the store, shared between instances.
#[derive(Clone)]
pub(super) struct StoreCounters(pub(super) Arc<dyn Store>);

impl std::fmt::Debug for StoreCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCounters")
    }
}

/// Counter windows are read with an explicit window; recording only needs the hit kept long enough for any
/// reader, so it uses the longest window a filter uses (one minute) for its own count, which it ignores.
const RECORD_WINDOW_MS: i64 = 60_000;

impl FrequencyCounter for StoreCounters {
    fn add<'a>(
        &'a self,
        key: CounterKey<'a>,
        amount: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            // The store records one hit per call; amounts are small (mentions in one event).
            for _ in 0..amount {
                self.0
                    .record_and_count(key.community, key.counter, key.user, signed(now_ms), RECORD_WINDOW_MS)
                    .await
                    .map_err(state_error)?;
            }
            Ok(())
        })
    }

    fn sum<'a>(
        &'a self,
        key: CounterKey<'a>,
        window_ms: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<u64, StateError>> {
        Box::pin(async move {
            self.0
                .count_recent(key.community, key.counter, key.user, signed(now_ms), signed(window_ms))
                .await
                .map_err(state_error)
        })
    }
}

/// Signature checks through the protocol crate, knowing which of the event's signatures were already verified and
/// with which keys.
#[derive(Debug, Clone, Copy)]
pub(super) struct MatrixSignatures<'a> {
    /// Keys every signature of the event by them verified with ([`crate::event_signatures`]).
    pub(super) verified: &'a VerifyKeys,
}

impl SignatureVerifier for MatrixSignatures<'_> {
    fn signed_with(
        &self,
        event: &Value,
        room_version: &str,
        public_key: &[u8; 32],
    ) -> Result<bool, StateError> {
        // A signature that verified with one key was not made with another (keys' private halves differ), so when
        // every signature is one that verified, only their keys need comparing: no third verification per event.
        if only_verified_signatures(event, self.verified)
            .is_some_and(|keys| keys.iter().all(|k| k != public_key))
        {
            return Ok(false);
        }
        let version = RoomVersion::parse(room_version).map_err(|e| StateError(e.to_string()))?;
        let object = canonical_json::from_value(event.clone()).map_err(|e| StateError(e.to_string()))?;
        signed_with_key(&object, &version, public_key).map_err(|e| StateError(e.to_string()))
    }
}

/// The keys of all of `event`'s signatures, if every one is by a key in `verified`; `None` if any is not.
fn only_verified_signatures(event: &Value, verified: &VerifyKeys) -> Option<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    for (server, signatures) in event.get("signatures")?.as_object()? {
        for key_id in signatures.as_object()?.keys() {
            keys.push(verified.public_key(server, key_id)?);
        }
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use palisade_matrix::{SigningKey, signing::hash_and_sign_event};
    use serde_json::json;

    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32], "k").unwrap()
    }

    fn signed_by(signers: &[(&str, &SigningKey)]) -> Value {
        let event = json!({
            "type": "m.room.message", "room_id": "!r:origin.example", "sender": "@a:origin.example",
            "origin_server_ts": 1, "depth": 2, "prev_events": [], "auth_events": [], "content": {"body": "hi"},
        });
        let mut object = canonical_json::from_value(event).unwrap();
        for (server, key) in signers {
            hash_and_sign_event(&mut object, server, key, &RoomVersion::parse("10").unwrap()).unwrap();
        }
        serde_json::to_value(&object).unwrap()
    }

    #[test]
    fn only_an_unverified_signature_is_checked_against_another_key() {
        let (origin, other) = (key(1), key(2));
        let mut verified = VerifyKeys::new();
        verified.insert("origin.example", &origin.key_id(), &origin.public_key());
        let signatures = MatrixSignatures { verified: &verified };

        let event = signed_by(&[("origin.example", &origin)]);
        assert!(!signatures.signed_with(&event, "10", &other.public_key()).unwrap());
        assert!(signatures.signed_with(&event, "10", &origin.public_key()).unwrap());

        // A further signature nobody verified may be by any key: it is checked.
        let event = signed_by(&[("origin.example", &origin), ("elsewhere.example", &other)]);
        assert!(signatures.signed_with(&event, "10", &other.public_key()).unwrap());
        assert!(!signatures.signed_with(&event, "10", &key(3).public_key()).unwrap());
    }
}
