//! Checking the PDUs of a `send_join` response: parsed for the room version and signed by every server that must
//! have signed them. PDUs that fail are dropped, not fatal: one bad event should not keep us out of a room.

use std::collections::BTreeSet;

use palisade_matrix::{
    Pdu, RoomVersion, canonical_json,
    signing::{VerifyKeys, required_signers, signing_key_ids, verify_event_signatures},
};
use serde_json::Value;

use crate::Keyring;

/// Verified PDUs and how many were dropped.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    pub(crate) pdus: Vec<Pdu>,
    pub(crate) dropped: usize,
}

/// Keys gathered while verifying one response, so each server key is asked of the keyring once.
#[derive(Default)]
pub(crate) struct KeyCollector {
    keys: VerifyKeys,
    unavailable: BTreeSet<(String, String)>,
}

impl KeyCollector {
    /// A collector that knows our own federation key already, so events we signed (our join, in a resync's state)
    /// verify without asking the network for our own key.
    pub(crate) fn with_own_key(server: &str, key: &palisade_matrix::SigningKey) -> Self {
        let mut collector = Self::default();
        collector.keys.insert(server, &key.key_id(), &key.public_key());
        collector
    }

    /// Makes sure every key the required signers of `pdu` used is present, where the keyring can supply it.
    async fn gather(&mut self, keyring: &Keyring, pdu: &Pdu) -> Result<(), String> {
        let signers = required_signers(pdu).map_err(|e| e.to_string())?;
        let used = signing_key_ids(pdu);
        for server in signers {
            for key_id in used.get(server.as_str()).into_iter().flatten() {
                let wanted = (server.to_string(), key_id.clone());
                if self.keys.has_key(server.as_str(), key_id) || self.unavailable.contains(&wanted) {
                    continue;
                }
                match keyring.verify_key(&server, key_id).await {
                    Ok(key) => self.keys.insert(server.as_str(), key_id, &key),
                    Err(e) => {
                        tracing::debug!(server = server.as_str(), key_id, error = %e, "signing key unavailable");
                        self.unavailable.insert(wanted);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses and verifies each value as a PDU of `version`.
pub(crate) async fn verify_pdus(
    keyring: &Keyring,
    keys: &mut KeyCollector,
    values: &[Value],
    version: &RoomVersion,
) -> Verified {
    let mut verified = Verified::default();
    for value in values {
        match verify_one(keyring, keys, value, version).await {
            Ok(pdu) => verified.pdus.push(pdu),
            Err(reason) => {
                tracing::debug!(reason, "dropping PDU from send_join response");
                verified.dropped += 1;
            }
        }
    }
    verified
}

async fn verify_one(
    keyring: &Keyring,
    keys: &mut KeyCollector,
    value: &Value,
    version: &RoomVersion,
) -> Result<Pdu, String> {
    let object = canonical_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let pdu = Pdu::from_object(object, version).map_err(|e| e.to_string())?;
    keys.gather(keyring, &pdu).await?;
    verify_event_signatures(&pdu, &keys.keys).map_err(|e| e.to_string())?;
    Ok(pdu)
}
