//! The policy server's path through the protocol core: parse a v12 PDU, check its origin signature, sign it as the
//! policy server, and check that signature the way homeservers do (ruma's `verify_policy_server_signature`).

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

#[path = "support/builders.rs"]
mod support;

use palisade_matrix::{
    Pdu, PduError, RoomPolicy, ServerName,
    canonical_json::CanonicalJsonValue,
    signing::{
        VerifyKeys, insert_policy_signature, required_signers, sign_as_policy_server,
        verify_event_signatures, verify_policy_signature,
    },
};
use support::*;

const POLICY_SERVER: &str = "policy.example.org";

fn origin_keys(key: &palisade_matrix::SigningKey) -> VerifyKeys {
    let mut keys = VerifyKeys::new();
    keys.insert("origin.example.org", &key.key_id(), &key.public_key());
    keys
}

#[test]
fn v12_create_event_defines_the_room_id() {
    let origin = key(1, "a_1");
    let (create, room_id) = v12_create(&origin);
    let pdu = Pdu::parse(&to_bytes(&create), &v12()).unwrap();
    assert_eq!(pdu.room_id().as_str(), room_id);
    assert!(room_id.starts_with('!') && !room_id.contains(':'), "{room_id}");
    // In v12 the create event's ID is `$` + the same hash.
    assert_eq!(pdu.event_id().as_str()[1..], room_id[1..]);
    verify_event_signatures(&pdu, &origin_keys(&origin)).unwrap();
}

#[test]
fn v12_create_event_with_room_id_is_rejected() {
    let origin = key(1, "a_1");
    let (mut create, room_id) = v12_create(&origin);
    create.insert("room_id".into(), CanonicalJsonValue::String(room_id));
    let error = Pdu::parse(&to_bytes(&create), &v12()).unwrap_err();
    assert!(matches!(error, PduError::Field { field: "room_id", .. }), "{error}");
}

#[test]
fn v12_message_policy_signature_verifies_with_ruma() {
    let origin = key(1, "a_1");
    let policy_key = key(2, "policy_server");
    let (_, room_id) = v12_create(&origin);
    let message = v12_message(&room_id, "hello", &origin);
    let pdu = Pdu::parse(&to_bytes(&message), &v12()).unwrap();
    verify_event_signatures(&pdu, &origin_keys(&origin)).unwrap();

    let signature = sign_as_policy_server(&pdu, POLICY_SERVER, &policy_key).unwrap();
    assert_eq!(
        signature.to_response_json(),
        serde_json::json!({POLICY_SERVER: {"ed25519:policy_server": signature.signature}})
    );
    let mut signed = message.clone();
    insert_policy_signature(&mut signed, &signature);
    let policy = RoomPolicy::new(ServerName::parse(POLICY_SERVER).unwrap().as_ref(), policy_key.public_key());
    verify_policy_signature(&signed, &v12(), &policy).unwrap();

    // The origin's own signature is untouched by the added policy signature.
    let resigned = Pdu::parse(&to_bytes(&signed), &v12()).unwrap();
    assert_eq!(resigned.event_id(), pdu.event_id());
    verify_event_signatures(&resigned, &origin_keys(&origin)).unwrap();

    // Another key, or another server name, does not verify.
    let other = RoomPolicy::new(ServerName::parse(POLICY_SERVER).unwrap().as_ref(), key(3, "x").public_key());
    assert!(verify_policy_signature(&signed, &v12(), &other).is_err());
    let elsewhere =
        RoomPolicy::new(ServerName::parse("other.example.org").unwrap().as_ref(), policy_key.public_key());
    assert!(verify_policy_signature(&signed, &v12(), &elsewhere).is_err());
}

#[test]
fn an_event_id_in_the_request_does_not_change_the_policy_signature() {
    let origin = key(1, "a_1");
    let policy_key = key(2, "policy_server");
    let (_, room_id) = v12_create(&origin);
    let message = v12_message(&room_id, "hello", &origin);
    let plain = Pdu::parse(&to_bytes(&message), &v12()).unwrap();
    let mut with_id = message.clone();
    with_id.insert("event_id".into(), CanonicalJsonValue::String(plain.event_id().to_string()));
    let with_id = Pdu::parse(&to_bytes(&with_id), &v12()).unwrap();
    assert_eq!(with_id.event_id(), plain.event_id());
    assert!(!with_id.as_object().contains_key("event_id"));
    assert_eq!(
        sign_as_policy_server(&plain, POLICY_SERVER, &policy_key).unwrap(),
        sign_as_policy_server(&with_id, POLICY_SERVER, &policy_key).unwrap()
    );
}

#[test]
fn content_hash_mismatch_is_an_error_not_a_redaction() {
    let origin = key(1, "a_1");
    let (_, room_id) = v12_create(&origin);
    let mut message = v12_message(&room_id, "hello", &origin);
    message.insert(
        "content".into(),
        palisade_matrix::canonical_json::from_value(serde_json::json!({"msgtype": "m.text", "body": "spam"}))
            .unwrap()
            .into(),
    );
    let error = Pdu::parse(&to_bytes(&message), &v12()).unwrap_err();
    assert!(matches!(error, PduError::ContentHashMismatch { .. }), "{error}");
    assert_eq!(error.errcode(), "M_BAD_JSON");
    assert!(error.to_string().contains("content hash mismatch"));
}

#[test]
fn wrong_origin_key_fails_signature_check() {
    let origin = key(1, "a_1");
    let (_, room_id) = v12_create(&origin);
    let message = v12_message(&room_id, "hello", &origin);
    let pdu = Pdu::parse(&to_bytes(&message), &v12()).unwrap();
    let impostor = key(9, "a_1");
    assert!(verify_event_signatures(&pdu, &origin_keys(&impostor)).is_err());
    assert!(verify_event_signatures(&pdu, &VerifyKeys::new()).is_err());
    let signers: Vec<String> = required_signers(&pdu).unwrap().iter().map(ToString::to_string).collect();
    assert_eq!(signers, ["origin.example.org"]);
}

#[test]
fn malformed_pdus_get_matrix_error_codes() {
    let origin = key(1, "a_1");
    let (_, room_id) = v12_create(&origin);
    let good = v12_message(&room_id, "hello", &origin);
    let huge = "x".repeat(70_000);

    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"not json".to_vec(), "M_NOT_JSON", "not valid JSON"),
        (b"[1, 2]".to_vec(), "M_BAD_JSON", "expected a JSON object"),
        (br#"{"type": 1.5}"#.to_vec(), "M_BAD_JSON", ""),
        (with(&good, "content", serde_json::json!({"body": huge})), "M_TOO_LARGE", "limit of 65536"),
        (without(&good, "sender"), "M_BAD_JSON", "field `sender` is missing"),
        (without(&good, "room_id"), "M_BAD_JSON", "field `room_id` is missing"),
        (without(&good, "hashes"), "M_BAD_JSON", "field `hashes` is missing"),
        (without(&good, "prev_events"), "M_BAD_JSON", "field `prev_events` is missing"),
        (with(&good, "depth", serde_json::json!(-1)), "M_BAD_JSON", "non-negative integer"),
        (with(&good, "prev_events", serde_json::json!([["$a", {}]])), "M_BAD_JSON", "event ID strings"),
        (with(&good, "sender", serde_json::json!("alice")), "M_BAD_JSON", "not a user ID"),
        (with(&good, "content", serde_json::json!("text")), "M_BAD_JSON", "must be an object"),
    ];
    for (bytes, errcode, message) in cases {
        let error = Pdu::parse(&bytes, &v12()).unwrap_err();
        assert_eq!(error.errcode(), errcode, "{error}");
        assert!(error.to_string().contains(message), "{error} should mention {message:?}");
    }
}

#[test]
fn v1_events_need_their_own_event_id_and_reference_pairs() {
    let v1 = palisade_matrix::RoomVersion::parse("1").unwrap();
    let origin = key(1, "a_1");
    let mut event = palisade_matrix::canonical_json::from_value(serde_json::json!({
        "type": "m.room.message", "room_id": "!room:origin.example.org", "sender": "@alice:origin.example.org",
        "origin_server_ts": 1, "depth": 2, "prev_events": [["$p:origin.example.org", {"sha256": "x"}]],
        "auth_events": [], "content": {"body": "hi"}, "event_id": "$abc:origin.example.org",
    }))
    .unwrap();
    palisade_matrix::signing::hash_and_sign_event(&mut event, "origin.example.org", &origin, &v1).unwrap();
    let pdu = Pdu::parse(&to_bytes(&event), &v1).unwrap();
    assert_eq!(pdu.event_id().as_str(), "$abc:origin.example.org");
    verify_event_signatures(&pdu, &origin_keys(&origin)).unwrap();

    let error = Pdu::parse(&without(&event, "event_id"), &v1).unwrap_err();
    assert!(error.to_string().contains("field `event_id` is missing"), "{error}");
}

fn without(event: &palisade_matrix::CanonicalObject, field: &str) -> Vec<u8> {
    let mut event = event.clone();
    event.remove(field);
    to_bytes(&event)
}

fn with(event: &palisade_matrix::CanonicalObject, field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut event = serde_json::to_value(event).unwrap();
    event[field] = value;
    serde_json::to_vec(&event).unwrap()
}

fn signers_of(event: serde_json::Value, version: &str) -> Vec<String> {
    let version = palisade_matrix::RoomVersion::parse(version).unwrap();
    let mut object = palisade_matrix::canonical_json::from_value(event).unwrap();
    palisade_matrix::signing::hash_and_sign_event(
        &mut object,
        "origin.example.org",
        &key(1, "a_1"),
        &version,
    )
    .unwrap();
    let pdu = Pdu::parse(&to_bytes(&object), &version).unwrap();
    required_signers(&pdu).unwrap().iter().map(ToString::to_string).collect()
}

#[test]
fn required_signers_follow_the_room_version_rules() {
    let base = serde_json::json!({
        "type": "m.room.member", "room_id": "!room:origin.example.org", "sender": "@alice:origin.example.org",
        "state_key": "@alice:origin.example.org", "origin_server_ts": 1, "depth": 2, "prev_events": [],
        "auth_events": [], "content": {"membership": "join"},
    });
    // Restricted joins (v8+) need the authorising user's server too.
    let mut restricted = base.clone();
    restricted["content"]["join_authorised_via_users_server"] = serde_json::json!("@bob:other.example.org");
    assert_eq!(signers_of(restricted.clone(), "10"), ["origin.example.org", "other.example.org"]);
    assert_eq!(signers_of(restricted, "7"), ["origin.example.org"]);
    // An invite made from a third-party invite is vouched for by the identity server, not the sender's server.
    let mut third_party = base.clone();
    third_party["content"] =
        serde_json::json!({"membership": "invite", "third_party_invite": {"signed": {}}});
    assert!(signers_of(third_party, "10").is_empty());
    // In v1/v2 the server named in the event ID signs as well.
    let mut v1 = base;
    v1["prev_events"] = serde_json::json!([]);
    v1["event_id"] = serde_json::json!("$abc:third.example.org");
    assert_eq!(signers_of(v1, "1"), ["origin.example.org", "third.example.org"]);
}

#[test]
fn signed_with_key_finds_a_signature_by_a_given_key() {
    let origin = key(1, "a_1");
    let (_, room_id) = v12_create(&origin);
    let message = v12_message(&room_id, "hello", &origin);
    assert!(palisade_matrix::signing::signed_with_key(&message, &v12(), &origin.public_key()).unwrap());
    assert!(!palisade_matrix::signing::signed_with_key(&message, &v12(), &key(5, "x").public_key()).unwrap());
}

/// `Pdu` serialises the signing input once and derives everything else from it: the event ID must equal ruma's
/// reference hash, the policy signing input must equal the separately computed one, and the origin signature check
/// must agree with ruma's, in every room version.
#[test]
fn one_serialisation_serves_the_event_id_and_every_signature_in_each_room_version() {
    use palisade_matrix::{RoomVersion, canonical_json, event_id, redaction, signing::hash_and_sign_event};
    let origin = key(1, "a_1");
    for version in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"] {
        let room_version = RoomVersion::parse(version).unwrap();
        let mut event = canonical_json::from_value(serde_json::json!({
            "type": "m.room.message", "room_id": "!r:origin.example.org", "sender": "@a:origin.example.org",
            "origin": "origin.example.org", "origin_server_ts": 5, "depth": 3, "prev_events": [], "auth_events": [],
            "content": {"body": "hello", "msgtype": "m.text"}, "unsigned": {"age": 1},
        }))
        .unwrap();
        if room_version.event_id_in_event() {
            event.insert("event_id".into(), CanonicalJsonValue::String("$e1:origin.example.org".into()));
            event.insert("prev_events".into(), CanonicalJsonValue::Array(Vec::new()));
        }
        hash_and_sign_event(&mut event, "origin.example.org", &origin, &room_version).unwrap();
        let pdu = Pdu::parse(&to_bytes(&event), &room_version).unwrap();

        assert_eq!(pdu.event_id(), &event_id::event_id(&event, &room_version).unwrap(), "v{version}");
        assert_eq!(
            pdu.signing_input(),
            redaction::policy_signing_input(&event, &room_version).unwrap(),
            "v{version}"
        );
        assert_eq!(
            pdu.signing_input(),
            redaction::event_signing_input(&event, &room_version).unwrap(),
            "v{version}"
        );
        let keys = origin_keys(&origin);
        verify_event_signatures(&pdu, &keys).unwrap();
        let ruma_keys = ruma::signatures::PublicKeyMap::from([(
            "origin.example.org".to_owned(),
            ruma::signatures::PublicKeySet::from([(
                origin.key_id(),
                ruma::serde::Base64::new(origin.public_key().to_vec()),
            )]),
        )]);
        assert!(
            ruma::signatures::verify_event(&ruma_keys, &event, &ruma_room_version_rules(version)).is_ok()
        );

        // Another key under the same key ID does not verify.
        let mut wrong = VerifyKeys::new();
        wrong.insert("origin.example.org", &origin.key_id(), &key(9, "a_1").public_key());
        assert!(verify_event_signatures(&pdu, &wrong).is_err(), "v{version}");
    }
}

fn ruma_room_version_rules(version: &str) -> ruma::room_version_rules::RoomVersionRules {
    ruma::RoomVersionId::try_from(version).unwrap().rules().unwrap()
}
