//! Redaction per room version, and the byte strings that signatures cover.

use ruma::canonical_json::RedactingSerializer;

use crate::{CanonicalObject, RoomVersion, canonical_json::to_canonical_string};

/// Top-level fields that never take part in a signature.
const UNSIGNED_FIELDS: &[&str] = &["signatures", "unsigned"];

/// Top-level fields left out of the policy server's signing input. `event_id` is not part of a v3+ PDU; a caller
/// that includes it anyway must not change what we sign (homeservers verify without it).
const UNSIGNED_FIELDS_FOR_POLICY: &[&str] = &["signatures", "unsigned", "event_id"];

/// An event that could not be redacted because a field has the wrong shape.
#[derive(Debug, thiserror::Error)]
#[error("cannot redact event: {0}")]
pub struct RedactionError(String);

/// Redacts an event as the room version's rules say (the redaction algorithm of the spec).
pub fn redact(event: &CanonicalObject, version: &RoomVersion) -> Result<CanonicalObject, RedactionError> {
    ruma::canonical_json::redact(event.clone(), &version.rules().redaction, None)
        .map_err(|e| RedactionError(e.to_string()))
}

/// The canonical JSON that an event signature covers: the redacted event without `signatures` and `unsigned`.
pub fn event_signing_input(event: &CanonicalObject, version: &RoomVersion) -> Result<String, RedactionError> {
    signing_input_without(event, version, UNSIGNED_FIELDS)
}

/// The canonical JSON that the `ed25519:policy_server` signature covers: the redacted event without `signatures`,
/// `unsigned` and, in rooms whose event IDs are hashes, `event_id`.
pub fn policy_signing_input(
    event: &CanonicalObject,
    version: &RoomVersion,
) -> Result<String, RedactionError> {
    let fields = if version.event_id_in_event() { UNSIGNED_FIELDS } else { UNSIGNED_FIELDS_FOR_POLICY };
    signing_input_without(event, version, fields)
}

fn signing_input_without(
    event: &CanonicalObject,
    version: &RoomVersion,
    fields: &[&str],
) -> Result<String, RedactionError> {
    RedactingSerializer::new()
        .rules(&version.rules().redaction)
        .custom_redacted_root_fields(fields)
        .serialize(event)
        .map_err(|e| RedactionError(e.to_string()))
}

/// The redacted event in canonical form, for display (`palisade pdu inspect`).
pub fn redacted_canonical(event: &CanonicalObject, version: &RoomVersion) -> Result<String, RedactionError> {
    redact(event, version).map(|redacted| to_canonical_string(&redacted))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::canonical_json::from_value;

    fn message() -> CanonicalObject {
        from_value(json!({
            "type": "m.room.message",
            "room_id": "!room:example.org",
            "sender": "@alice:example.org",
            "origin_server_ts": 1,
            "depth": 3,
            "prev_events": [],
            "auth_events": [],
            "content": {"body": "hello", "msgtype": "m.text"},
            "hashes": {"sha256": "x"},
            "signatures": {"example.org": {"ed25519:1": "sig"}},
            "unsigned": {"age": 5},
            "event_id": "$abc",
            "extra": true,
        }))
        .unwrap()
    }

    #[test]
    fn redaction_drops_message_content_and_unknown_keys() {
        let v11 = RoomVersion::parse("11").unwrap();
        let redacted = redact(&message(), &v11).unwrap();
        assert_eq!(redacted["content"], from_value(json!({"x": {}})).unwrap()["x"]);
        assert!(!redacted.contains_key("extra"));
        assert!(!redacted.contains_key("unsigned"));
        assert!(redacted.contains_key("signatures"));
    }

    #[test]
    fn policy_input_omits_event_id_only_where_ids_are_hashes() {
        let v11 = RoomVersion::parse("11").unwrap();
        let v1 = RoomVersion::parse("1").unwrap();
        let input_v11 = policy_signing_input(&message(), &v11).unwrap();
        assert!(!input_v11.contains("event_id"));
        assert!(!input_v11.contains("signatures"));
        assert!(!input_v11.contains("hello"));
        assert!(policy_signing_input(&message(), &v1).unwrap().contains("\"event_id\":\"$abc\""));
        assert!(event_signing_input(&message(), &v11).unwrap().contains("event_id"));
    }
}
