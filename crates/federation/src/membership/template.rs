//! Turning a resident server's `make_join`/`make_leave` template into our signed membership event.

use std::time::{SystemTime, UNIX_EPOCH};

use palisade_matrix::{
    Pdu, RoomVersion, SigningKey,
    canonical_json::{self, CanonicalJsonValue},
    signing::hash_and_sign_event,
};
use serde_json::{Value, json};

use super::MembershipError;

/// The `make_join`/`make_leave` response.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct MakeResponse {
    /// The event template.
    pub(crate) event: Value,
    /// The room version; the spec says a missing one means `"1"`.
    #[serde(default)]
    pub(crate) room_version: Option<String>,
}

/// What the template must be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expected<'a> {
    pub(crate) room_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) membership: &'a str,
}

/// Checks the template is `user_id`'s `membership` event in `room_id`, then fills in what we own (origin, time,
/// a fresh event ID in v1/v2), adds the content hash and our signature, and checks the result as a PDU.
pub(crate) fn sign_template(
    template: Value,
    expected: Expected<'_>,
    version: &RoomVersion,
    our_server: &str,
    key: &SigningKey,
) -> Result<Pdu, MembershipError> {
    check_template(&template, expected)?;
    let mut template = template;
    template["origin_server_ts"] = json!(now_ms());
    let mut object =
        canonical_json::from_value(template).map_err(|e| MembershipError::BadTemplate(e.to_string()))?;
    // Anything the resident server put here is not ours to sign over.
    for field in ["signatures", "hashes", "unsigned", "event_id"] {
        object.remove(field);
    }
    object.insert("origin".to_owned(), CanonicalJsonValue::String(our_server.to_owned()));
    if version.event_id_in_event() {
        let id = format!("${}:{our_server}", palisade_store::new_id());
        object.insert("event_id".to_owned(), CanonicalJsonValue::String(id));
    }
    hash_and_sign_event(&mut object, our_server, key, version)
        .map_err(|e| MembershipError::BadTemplate(e.to_string()))?;
    Pdu::from_object(object, version).map_err(|e| MembershipError::BadTemplate(e.to_string()))
}

/// The template must be our own membership event in the room we asked about.
fn check_template(template: &Value, expected: Expected<'_>) -> Result<(), MembershipError> {
    let wanted = [
        ("type", json!("m.room.member")),
        ("room_id", json!(expected.room_id)),
        ("sender", json!(expected.user_id)),
        ("state_key", json!(expected.user_id)),
    ];
    for (field, value) in wanted {
        if template.get(field) != Some(&value) {
            return Err(MembershipError::BadTemplate(format!("`{field}` is not {value}")));
        }
    }
    let membership = template.get("content").and_then(|c| c.get("membership")).and_then(Value::as_str);
    if membership != Some(expected.membership) {
        return Err(MembershipError::BadTemplate(format!(
            "membership is {membership:?}, not {:?}",
            expected.membership
        )));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Expected<'static> {
        Expected { room_id: "!r:hs.test", user_id: "@p:ps.test", membership: "join" }
    }

    fn template() -> Value {
        json!({"type": "m.room.member", "room_id": "!r:hs.test", "sender": "@p:ps.test", "state_key": "@p:ps.test",
            "content": {"membership": "join"}, "depth": 5, "prev_events": ["$a"], "auth_events": ["$b"],
            "origin_server_ts": 1, "signatures": {"hs.test": {"ed25519:x": "bogus"}}})
    }

    #[test]
    fn signs_a_v11_template() {
        let key = SigningKey::from_seed(&[3; 32], "k").unwrap();
        let version = RoomVersion::parse("11").unwrap();
        let pdu = sign_template(template(), expected(), &version, "ps.test", &key).unwrap();
        let signatures = pdu.as_object().get("signatures").and_then(|s| s.as_object()).unwrap();
        assert_eq!(
            signatures.keys().collect::<Vec<_>>(),
            vec!["ps.test"],
            "the template's signatures are dropped"
        );
        assert!(pdu.origin_server_ts() > 1);
        assert!(pdu.event_id().as_str().starts_with('$') && !pdu.event_id().as_str().contains(':'));
    }

    #[test]
    fn v1_templates_get_our_event_id() {
        let key = SigningKey::from_seed(&[3; 32], "k").unwrap();
        let version = RoomVersion::parse("1").unwrap();
        let mut template = template();
        template["prev_events"] = json!([["$a:hs.test", {"sha256": "x"}]]);
        template["auth_events"] = json!([]);
        let pdu = sign_template(template, expected(), &version, "ps.test", &key).unwrap();
        assert!(pdu.event_id().as_str().ends_with(":ps.test"));
    }

    #[test]
    fn refuses_someone_elses_event() {
        let key = SigningKey::from_seed(&[3; 32], "k").unwrap();
        let version = RoomVersion::parse("11").unwrap();
        for (field, value) in [
            ("sender", json!("@other:hs.test")),
            ("room_id", json!("!elsewhere:hs.test")),
            ("type", json!("m.room.message")),
            ("content", json!({"membership": "ban"})),
        ] {
            let mut template = template();
            template[field] = value;
            let result = sign_template(template, expected(), &version, "ps.test", &key);
            assert!(matches!(result, Err(MembershipError::BadTemplate(_))), "{field}");
        }
    }
}
