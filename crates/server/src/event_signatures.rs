//! Server keys for inbound checks, and verifying the signatures a PDU must carry.

use std::collections::HashMap;

use palisade_matrix::{
    Pdu, ServerName,
    signing::{VerifyKeys, event_signatures, required_signers, signing_key_ids},
};

use crate::{http::AppState, signature_batch};

/// The public key `key_id` of `server`. Our own keys come from memory: asking the keyring would make a network
/// request to ourselves.
pub(crate) async fn server_key(
    state: &AppState,
    server: &ServerName,
    key_id: &str,
) -> Result<[u8; 32], String> {
    if server == state.server_name {
        let ours = &state.keys.federation;
        return if ours.key_id() == key_id {
            Ok(ours.public_key())
        } else {
            Err(format!("{server} (this server) has no key {key_id}"))
        };
    }
    state
        .federation
        .keyring
        .verify_key(server, key_id)
        .await
        .map_err(|e| format!("cannot get key {key_id} of {server}: {e}"))
}

/// Keys looked up while handling one request, failures included, so a transaction of many events from one
/// server costs one lookup per key and a key that cannot be fetched is not asked for again and again.
#[derive(Debug, Default)]
pub(crate) struct KeyMemo {
    keys: HashMap<(String, String), Result<[u8; 32], String>>,
}

impl KeyMemo {
    async fn get(&mut self, state: &AppState, server: &ServerName, key_id: &str) -> Result<[u8; 32], String> {
        let slot = (server.as_str().to_owned(), key_id.to_owned());
        if let Some(known) = self.keys.get(&slot) {
            return known.clone();
        }
        let found = server_key(state, server, key_id).await;
        self.keys.insert(slot, found.clone());
        found
    }
}

/// Checks that every server that must have signed `pdu` did, with a key we can obtain. The content hash was
/// checked when the PDU was parsed. Every signature of `pdu` by a key in the returned set verified.
pub(crate) async fn check_event_signatures(
    state: &AppState,
    pdu: &Pdu,
    memo: &mut KeyMemo,
) -> Result<VerifyKeys, String> {
    let signers = required_signers(pdu).map_err(|e| e.to_string())?;
    let used = signing_key_ids(pdu);
    let mut keys = VerifyKeys::new();
    for server in &signers {
        let key_ids = used.get(server.as_str()).map(Vec::as_slice).unwrap_or_default();
        let mut last_error = format!("no signature from {server}");
        // One verifiable key per server is enough; signatures by keys we do not hold are skipped by the check.
        for key_id in key_ids.iter().filter(|id| id.starts_with("ed25519:")) {
            match memo.get(state, server, key_id).await {
                Ok(public_key) => {
                    keys.insert(server.as_str(), key_id, &public_key);
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        if !keys.has_server(server.as_str()) {
            return Err(last_error);
        }
    }
    for signature in event_signatures(pdu, &keys).map_err(|e| e.to_string())? {
        let message = pdu.signing_input().as_bytes();
        if !signature_batch::verify_remembered(&signature.public_key, message, &signature.bytes).await {
            return Err(signature.does_not_verify().to_string());
        }
    }
    Ok(keys)
}
