//! Signed commands from a policy server to a community's moderation bot (policyserv's `docs/to_device.md`): a
//! to-device message of type `org.matrix.policyserv.command` whose content is
//! `{"command": "redact", "room_id", "event_id", "signatures": {<server>: {"ed25519:policy_server": ...}}}`, signed
//! with the policy key by normal Matrix JSON signing. Receivers verify it against the key in the room's
//! `m.room.policy` event and drop it otherwise.

use serde_json::{Map, Value, json};

use crate::{SigningKey, canonical_json, keys::POLICY_SERVER_KEY_ID};

/// The to-device event type of policy server commands.
pub const COMMAND_EVENT_TYPE: &str = "org.matrix.policyserv.command";

/// Why a command does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy command: {0}")]
pub struct CommandError(String);

/// The `redact` command for `event_id` in `room_id`, signed as `server_name` with the policy key.
pub fn signed_redact_command(
    server_name: &str,
    policy_key: &SigningKey,
    room_id: &str,
    event_id: &str,
) -> Result<Value, CommandError> {
    let unsigned = json!({"command": "redact", "room_id": room_id, "event_id": event_id});
    let signature = policy_key.sign_base64(signing_input(&unsigned)?.as_bytes());
    let mut command = unsigned;
    command["signatures"] = json!({server_name: {POLICY_SERVER_KEY_ID: signature}});
    Ok(command)
}

/// Checks `command`'s `ed25519:policy_server` signature by `server_name` against `public_key` (the room's policy
/// key).
pub fn verify_command(command: &Value, server_name: &str, public_key: &[u8; 32]) -> Result<(), CommandError> {
    let signature = command
        .get("signatures")
        .and_then(|s| s.get(server_name))
        .and_then(|s| s.get(POLICY_SERVER_KEY_ID))
        .and_then(Value::as_str)
        .ok_or_else(|| CommandError("no policy server signature".to_owned()))?;
    let bytes = crate::keys::lenient_base64::decode(signature)
        .map_err(|_| CommandError("the signature is not base64".to_owned()))?;
    let signature = ed25519_dalek::Signature::from_slice(&bytes)
        .map_err(|e| CommandError(format!("bad signature: {e}")))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|e| CommandError(e.to_string()))?;
    key.verify_strict(signing_input(command)?.as_bytes(), &signature)
        .map_err(|_| CommandError("the signature does not verify".to_owned()))
}

/// Canonical JSON of the object without `signatures` and `unsigned`.
fn signing_input(command: &Value) -> Result<String, CommandError> {
    let mut object: Map<String, Value> =
        command.as_object().cloned().ok_or_else(|| CommandError("not a JSON object".to_owned()))?;
    object.remove("signatures");
    object.remove("unsigned");
    let canonical =
        canonical_json::from_value(Value::Object(object)).map_err(|e| CommandError(e.to_string()))?;
    Ok(canonical_json::to_canonical_string(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[9; 32], "policy_server").unwrap()
    }

    #[test]
    fn redact_commands_verify_and_tampering_is_caught() {
        let key = key();
        let command = signed_redact_command("ps.example.org", &key, "!r:example.org", "$e").unwrap();
        assert_eq!(command["command"], "redact");
        assert_eq!(command["room_id"], "!r:example.org");
        assert_eq!(command["event_id"], "$e");
        verify_command(&command, "ps.example.org", &key.public_key()).unwrap();
        // Independently, with ruma's JSON signature check.
        let object = canonical_json::from_value(command.clone()).unwrap();
        let mut keys = ruma::signatures::PublicKeyMap::new();
        let mut set = ruma::signatures::PublicKeySet::new();
        set.insert(POLICY_SERVER_KEY_ID.to_owned(), ruma::serde::Base64::new(key.public_key().to_vec()));
        keys.insert("ps.example.org".to_owned(), set);
        ruma::signatures::verify_json(&keys, &object).unwrap();

        let mut tampered = command.clone();
        tampered["event_id"] = json!("$other");
        assert!(verify_command(&tampered, "ps.example.org", &key.public_key()).is_err());
        assert!(verify_command(&command, "other.example.org", &key.public_key()).is_err());
        let other = SigningKey::from_seed(&[8; 32], "policy_server").unwrap();
        assert!(verify_command(&command, "ps.example.org", &other.public_key()).is_err());
    }
}
