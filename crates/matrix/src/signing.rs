//! Event signatures: verifying the servers that must have signed an event, and making or checking the policy
//! server's `ed25519:policy_server` signature.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{LazyLock, RwLock},
};

use ruma::{
    CanonicalJsonValue, OwnedServerName,
    serde::Base64,
    signatures::{PublicKeyMap, PublicKeySet},
};

use sha2::{Digest, Sha256};

use crate::{
    CanonicalObject, Pdu, RoomPolicy, RoomVersion, SigningKey,
    keys::POLICY_SERVER_KEY_ID,
    redaction::{RedactionError, policy_signing_input},
    verifying_keys,
};

/// Public keys of servers, by server name and key ID, used to verify signatures.
#[derive(Clone, Debug, Default)]
pub struct VerifyKeys {
    map: PublicKeyMap,
}

impl VerifyKeys {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one server key.
    pub fn insert(&mut self, server: &str, key_id: &str, public_key: &[u8; 32]) {
        let set: &mut PublicKeySet = self.map.entry(server.to_owned()).or_default();
        set.insert(key_id.to_owned(), Base64::new(public_key.to_vec()));
    }

    /// Whether `server`'s key `key_id` is present.
    pub fn has_key(&self, server: &str, key_id: &str) -> bool {
        self.map.get(server).is_some_and(|keys| keys.contains_key(key_id))
    }

    /// `server`'s key `key_id`, if present.
    pub fn public_key(&self, server: &str, key_id: &str) -> Option<[u8; 32]> {
        self.map.get(server)?.get(key_id)?.as_bytes().try_into().ok()
    }

    /// Whether any key of `server` is present.
    pub fn has_server(&self, server: &str) -> bool {
        self.map.contains_key(server)
    }

    pub(crate) fn as_map(&self) -> &PublicKeyMap {
        &self.map
    }
}

/// A signature that did not verify.
#[derive(Debug, thiserror::Error)]
#[error("signature check failed: {0}")]
pub struct SignatureError(String);

/// The servers whose signatures an event must carry: the sender's server (unless the event is a third-party
/// invite), the event ID's server in v1/v2, and the authorising server of a restricted join.
pub fn required_signers(pdu: &Pdu) -> Result<BTreeSet<OwnedServerName>, SignatureError> {
    ruma::signatures::required_server_signatures_to_verify_event(
        pdu.as_object(),
        &pdu.version().rules().signatures,
    )
    .map_err(|e| SignatureError(e.to_string()))
}

/// The key IDs each signer used on this event, so a keyring can fetch exactly those keys.
pub fn signing_key_ids(pdu: &Pdu) -> BTreeMap<String, Vec<String>> {
    let Some(signatures) = pdu.as_object().get("signatures").and_then(CanonicalJsonValue::as_object) else {
        return BTreeMap::new();
    };
    signatures
        .iter()
        .filter_map(|(server, keys)| Some((server.clone(), keys.as_object()?.keys().cloned().collect())))
        .collect()
}

/// Verifies that every required signer signed the event with a key in `keys`.
///
/// The content hash was already checked when the [`Pdu`] was parsed, so only the signatures are checked here.
pub fn verify_event_signatures(pdu: &Pdu, keys: &VerifyKeys) -> Result<(), SignatureError> {
    for signature in event_signatures(pdu, keys)? {
        if !verifying_keys::verify_remembered(
            &signature.public_key,
            pdu.signing_input().as_bytes(),
            &signature.bytes,
        ) {
            return Err(signature.does_not_verify());
        }
    }
    Ok(())
}

/// One signature of an event that must verify over its [`Pdu::signing_input`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSignature {
    /// The signing server.
    pub server: String,
    /// Its key's ID (`ed25519:…`).
    pub key_id: String,
    /// That key.
    pub public_key: [u8; 32],
    /// The signature.
    pub bytes: Vec<u8>,
}

impl EventSignature {
    /// The error for this signature when it does not verify.
    pub fn does_not_verify(&self) -> SignatureError {
        SignatureError(format!("the signature of {} with {} does not verify", self.server, self.key_id))
    }
}

/// The signatures [`verify_event_signatures`] checks, for a caller that verifies them itself; an error when a
/// required signer has none that can be checked.
///
/// As in ruma and Synapse, every signature of a required signer by a key in `keys` must verify, at least one must
/// exist, and signatures by other keys or algorithms are ignored.
pub fn event_signatures(pdu: &Pdu, keys: &VerifyKeys) -> Result<Vec<EventSignature>, SignatureError> {
    let signatures = pdu
        .as_object()
        .get("signatures")
        .and_then(CanonicalJsonValue::as_object)
        .ok_or_else(|| SignatureError("the event has no `signatures` object".to_owned()))?;
    let mut found = Vec::new();
    for server in required_signers(pdu)? {
        let by_server = signatures
            .get(server.as_str())
            .and_then(CanonicalJsonValue::as_object)
            .ok_or_else(|| SignatureError(format!("no signatures from {server}")))?;
        let before = found.len();
        for (key_id, signature) in by_server {
            let Some(public_key) = keys.public_key(server.as_str(), key_id) else { continue };
            if !key_id.starts_with("ed25519:") {
                continue;
            }
            let bytes = signature
                .as_str()
                .and_then(|s| crate::keys::lenient_base64::decode(s).ok())
                .ok_or_else(|| SignatureError(format!("signatures.{server}.{key_id} is not base64")))?;
            found.push(EventSignature {
                server: server.to_string(),
                key_id: key_id.clone(),
                public_key,
                bytes,
            });
        }
        if found.len() == before {
            return Err(SignatureError(format!("no signature from {server} by a known ed25519 key")));
        }
    }
    Ok(found)
}

/// Adds the content hash and `origin`'s signature to an event we create (joins, leaves), as the spec's "signing
/// events" section describes.
pub fn hash_and_sign_event(
    event: &mut CanonicalObject,
    origin: &str,
    key: &SigningKey,
    version: &RoomVersion,
) -> Result<(), SignatureError> {
    ruma::signatures::hash_and_sign_event(origin, key.pair(), event, &version.rules().redaction)
        .map_err(|e| SignatureError(e.to_string()))
}

/// The policy server's answer for one event: `{"<server>": {"ed25519:policy_server": "<sig>"}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySignature {
    /// The policy server's name (the room's `m.room.policy` `via`).
    pub server_name: String,
    /// Unpadded standard base64 ed25519 signature.
    pub signature: String,
}

impl PolicySignature {
    /// The `/sign` response body.
    pub fn to_response_json(&self) -> serde_json::Value {
        serde_json::json!({ &self.server_name: { POLICY_SERVER_KEY_ID: &self.signature } })
    }
}

/// Signs a checked PDU with the policy key: over the redacted event without `signatures`, `unsigned` and (v3+)
/// `event_id`. The key's own version is ignored; the signature is always made as `ed25519:policy_server`.
///
/// Every server of a room asks about the same event within seconds, and an ed25519 signature depends only on key
/// and message, so signatures made lately are remembered by `SHA-256(public key ‖ message)` and given again.
pub fn sign_as_policy_server(
    pdu: &Pdu,
    server_name: &str,
    policy_key: &SigningKey,
) -> Result<PolicySignature, RedactionError> {
    let input = pdu.signing_input().as_bytes();
    let fingerprint: [u8; 32] =
        Sha256::new().chain_update(policy_key.public_key()).chain_update(input).finalize().into();
    let remembered = SIGNED.read().ok().and_then(|signed| signed.get(&fingerprint).cloned());
    let signature = match remembered {
        Some(signature) => signature,
        None => {
            let signature = policy_key.sign_base64(input);
            if let Ok(mut signed) = SIGNED.write() {
                if signed.len() >= MAX_SIGNED {
                    signed.clear();
                }
                signed.insert(fingerprint, signature.clone());
            }
            signature
        }
    };
    Ok(PolicySignature { server_name: server_name.to_owned(), signature })
}

/// Policy signatures made lately, by `SHA-256(public key ‖ signed bytes)`.
static SIGNED: LazyLock<RwLock<HashMap<[u8; 32], String>>> = LazyLock::new(RwLock::default);

/// Signatures remembered at most; past this the memory starts again from empty (about 2 MB).
const MAX_SIGNED: usize = 16_384;

/// Adds a policy signature to an event object, as a homeserver does with the `/sign` answer.
pub fn insert_policy_signature(event: &mut CanonicalObject, signature: &PolicySignature) {
    let signatures = event
        .entry("signatures".to_owned())
        .or_insert_with(|| CanonicalJsonValue::Object(CanonicalObject::new()));
    if let CanonicalJsonValue::Object(servers) = signatures {
        let server = servers
            .entry(signature.server_name.clone())
            .or_insert_with(|| CanonicalJsonValue::Object(CanonicalObject::new()));
        if let CanonicalJsonValue::Object(keys) = server {
            keys.insert(
                POLICY_SERVER_KEY_ID.to_owned(),
                CanonicalJsonValue::String(signature.signature.clone()),
            );
        }
    }
}

/// Checks an event's policy signature the way homeservers do (ruma's `verify_policy_server_signature`): the room's
/// `m.room.policy` names the server and key.
pub fn verify_policy_signature(
    event: &CanonicalObject,
    version: &RoomVersion,
    policy: &RoomPolicy,
) -> Result<(), SignatureError> {
    ruma::signatures::verify_policy_server_signature(&policy.to_ruma(), event, version.rules())
        .map_err(|e| SignatureError(e.to_string()))
}

/// Whether any signature on `event` verifies under `public_key`, whoever it claims to be from. Used to spot events
/// signed with a key whose private half is public (policyserv's unsafe-key filter).
pub fn signed_with_key(
    event: &CanonicalObject,
    version: &RoomVersion,
    public_key: &[u8; 32],
) -> Result<bool, SignatureError> {
    let input =
        crate::redaction::event_signing_input(event, version).map_err(|e| SignatureError(e.to_string()))?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|e| SignatureError(e.to_string()))?;
    let Some(signatures) = event.get("signatures").and_then(CanonicalJsonValue::as_object) else {
        return Ok(false);
    };
    for by_key in signatures.values().filter_map(CanonicalJsonValue::as_object) {
        for signature in by_key.values() {
            let bytes = signature
                .as_str()
                .and_then(|s| crate::keys::lenient_base64::decode(s).ok())
                .ok_or_else(|| SignatureError("a signature is not base64".to_owned()))?;
            let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else { continue };
            if key.verify_strict(input.as_bytes(), &signature).is_ok() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The policy signing input for an arbitrary event object (used by tools that have not parsed a [`Pdu`]).
pub fn policy_signing_input_of(
    event: &CanonicalObject,
    version: &RoomVersion,
) -> Result<String, RedactionError> {
    policy_signing_input(event, version)
}
