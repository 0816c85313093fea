//! Redaction per room version, and the byte strings that signatures cover.
//!
//! Also what a server needs to apply an `m.room.redaction` it received: which event it targets
//! ([`redaction_target`]) and whether its origin alone entitles it to redact that event ([`same_origin`]).

use ruma::{EventId, ServerName, UserId, canonical_json::RedactingSerializer};

use crate::{
    CanonicalObject, RoomVersion,
    canonical_json::{CanonicalJsonValue, to_canonical_string},
};

/// The event type of a redaction.
pub const REDACTION_EVENT_TYPE: &str = "m.room.redaction";

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

/// The ID of the event an `m.room.redaction` redacts: the top-level `redacts` before room version 11,
/// `content.redacts` from v11 on (the other place is not read). `None` for other event types, and when the field
/// the version names is missing or not a string.
pub fn redaction_target<'a>(event: &'a CanonicalObject, version: &RoomVersion) -> Option<&'a str> {
    if event.get("type").and_then(CanonicalJsonValue::as_str) != Some(REDACTION_EVENT_TYPE) {
        return None;
    }
    let holder = if version.rules().redaction.content_field_redacts {
        event.get("content").and_then(CanonicalJsonValue::as_object)?
    } else {
        event
    };
    holder.get("redacts").and_then(CanonicalJsonValue::as_str)
}

/// One event as the redaction rules compare origins: its ID and its sender.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// The event ID.
    pub event_id: &'a str,
    /// The sender's user ID.
    pub sender: &'a str,
}

/// Whether a redaction may redact `target` on its origin alone, without the room's `redact` power level.
///
/// Room versions 1 and 2 (the auth rules' special case for redactions): the two event IDs name the same server.
/// From v3 on, where event IDs are hashes ("Handling redactions"): the two senders are on the same server.
/// IDs that do not parse never match.
pub fn same_origin(redaction: Origin<'_>, target: Origin<'_>, version: &RoomVersion) -> bool {
    if version.rules().authorization.special_case_room_redaction {
        event_id_server(redaction.event_id).is_some_and(|ours| Some(ours) == event_id_server(target.event_id))
    } else {
        sender_server(redaction.sender).is_some_and(|ours| Some(ours) == sender_server(target.sender))
    }
}

/// The server name of a v1/v2 event ID (`$opaque:server`).
fn event_id_server(id: &str) -> Option<&ServerName> {
    <&EventId>::try_from(id).ok().and_then(EventId::server_name)
}

/// The server name of a user ID.
fn sender_server(id: &str) -> Option<&ServerName> {
    <&UserId>::try_from(id).ok().map(UserId::server_name)
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

    #[test]
    fn redaction_target_moves_into_content_in_v11() {
        let redaction = from_value(json!({
            "type": "m.room.redaction",
            "redacts": "$top",
            "content": {"redacts": "$inner", "reason": "spam"},
        }))
        .unwrap();
        for (version, expected) in
            [("1", "$top"), ("3", "$top"), ("10", "$top"), ("11", "$inner"), ("12", "$inner")]
        {
            let version = RoomVersion::parse(version).unwrap();
            assert_eq!(redaction_target(&redaction, &version), Some(expected), "v{version}");
        }
        let only_top =
            from_value(json!({"type": "m.room.redaction", "redacts": "$top", "content": {}})).unwrap();
        assert_eq!(redaction_target(&only_top, &RoomVersion::parse("11").unwrap()), None);
        assert_eq!(redaction_target(&only_top, &RoomVersion::parse("10").unwrap()), Some("$top"));
        assert_eq!(redaction_target(&message(), &RoomVersion::parse("10").unwrap()), None);
    }

    #[test]
    fn same_origin_compares_event_ids_in_v1_and_v2_and_senders_later() {
        let origin = |event_id, sender| Origin { event_id, sender };
        let [v1, v2, v3, v12] = ["1", "2", "3", "12"].map(|v| RoomVersion::parse(v).unwrap());
        let redaction = origin("$r:a.example", "@mod:a.example");
        // v1/v2: the event IDs' servers decide, whoever sent the events.
        assert!(same_origin(redaction, origin("$t:a.example", "@x:b.example"), &v1));
        assert!(!same_origin(redaction, origin("$t:b.example", "@x:a.example"), &v2));
        // v3+: event IDs are hashes; the senders' servers decide.
        assert!(same_origin(origin("$hash1", "@mod:a.example"), origin("$hash2", "@x:a.example"), &v3));
        assert!(!same_origin(origin("$hash1", "@mod:a.example"), origin("$hash2", "@x:b.example"), &v12));
        assert!(!same_origin(origin("$hash1", "not a user"), origin("$hash2", "not a user"), &v12));
    }
}
