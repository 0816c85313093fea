//! `palisade pdu inspect --room-version V [FILE|-]`: what Palisade computes for a PDU, for operators debugging
//! signatures and hashes.

use palisade_matrix::{
    ContentHashes, Pdu, RoomVersion, canonical_json, event_id, redaction, signing::policy_signing_input_of,
};
use serde_json::{Value, json};

/// The outcome: a JSON report, and the error that makes the command fail (if any).
#[derive(Debug)]
pub struct Inspection {
    /// Everything that could be computed.
    pub report: Value,
    /// Why the PDU would be refused; `None` when it is valid.
    pub error: Option<String>,
}

/// Inspects PDU bytes for a room version. Fails outright only when the input is not a JSON object or the room
/// version is unknown; every other problem is reported alongside what could still be computed.
pub fn inspect(bytes: &[u8], room_version: &str) -> Result<Inspection, String> {
    let version = RoomVersion::parse(room_version).map_err(|e| e.to_string())?;
    let object = canonical_json::parse_object(bytes).map_err(|e| e.to_string())?;
    let checked = Pdu::from_object(object.clone(), &version);
    let hashes = ContentHashes::of(&object).ok();
    let report = json!({
        "room_version": version.as_str(),
        "event_id": event_id::event_id(&object, &version).ok().map(|id| id.to_string()),
        "room_id": checked.as_ref().ok().map(|pdu| pdu.room_id().to_string()),
        "content_hash_ok": hashes.as_ref().is_some_and(ContentHashes::matches),
        "content_hash": hashes.map(|h| json!({"claimed": h.claimed, "computed": h.computed})),
        "redacted": redaction::redact(&object, &version).ok().map(|r| canonical_json::to_json_value(&r)),
        "signing_input": policy_signing_input_of(&object, &version).ok(),
        "valid": checked.is_ok(),
    });
    Ok(Inspection { report, error: checked.err().map(|e| e.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v12 message signed with a throwaway key, as a homeserver would send it.
    fn signed_message() -> Value {
        let key = palisade_matrix::SigningKey::from_seed(&[1; 32], "a_1").unwrap();
        let mut event = canonical_json::from_value(json!({
            "type": "m.room.message", "room_id": "!abc", "sender": "@alice:example.org",
            "origin_server_ts": 1, "depth": 1, "prev_events": [], "auth_events": [],
            "content": {"body": "hello", "msgtype": "m.text"},
        }))
        .unwrap();
        let v12 = RoomVersion::parse("12").unwrap();
        palisade_matrix::signing::hash_and_sign_event(&mut event, "example.org", &key, &v12).unwrap();
        canonical_json::to_json_value(&event)
    }

    #[test]
    fn reports_ids_hashes_redaction_and_signing_input() {
        let inspection = inspect(signed_message().to_string().as_bytes(), "12").unwrap();
        assert_eq!(inspection.error, None);
        let report = inspection.report;
        assert_eq!(report["content_hash_ok"], true);
        assert_eq!(report["valid"], true);
        assert!(report["event_id"].as_str().unwrap().starts_with('$'));
        assert_eq!(report["redacted"]["content"], json!({}));
        let input = report["signing_input"].as_str().unwrap();
        assert!(
            input.starts_with("{\"auth_events\":[]")
                && !input.contains("signatures")
                && !input.contains("hello")
        );
    }

    #[test]
    fn hash_mismatch_is_reported_and_fails() {
        let mut message = signed_message();
        message["content"]["body"] = json!("tampered");
        let inspection = inspect(message.to_string().as_bytes(), "12").unwrap();
        assert_eq!(inspection.report["content_hash_ok"], false);
        assert_eq!(inspection.report["valid"], false);
        assert!(inspection.error.unwrap().contains("content hash mismatch"));
    }

    #[test]
    fn unusable_input_fails_with_a_clear_message() {
        assert!(inspect(b"{}", "99").unwrap_err().contains("unsupported room version"));
        assert!(inspect(b"not json", "12").unwrap_err().contains("not valid JSON"));
        let missing = inspect(b"{\"type\": \"m.room.message\"}", "12").unwrap();
        assert!(missing.error.unwrap().contains("is missing"));
    }
}
