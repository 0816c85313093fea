//! Known-answer tests from sources outside this project: gomatrixserverlib, mautrix-go, the Matrix spec appendix,
//! Synapse, tuwunel and matrix-media-repo. `tests/fixtures/*.json` name each value's origin.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use std::path::PathBuf;

use palisade_matrix::{
    ContentHashes, Pdu, PduError, RoomPolicy, RoomVersion, ServerName, SigningKey,
    canonical_json::{self, CanonicalJsonValue, parse_object},
    event_id,
    keys::{lenient_base64, parse_key_file},
    signing::{
        VerifyKeys, hash_and_sign_event, policy_signing_input_of, verify_event_signatures,
        verify_policy_signature,
    },
    x_matrix::{RequestTarget, XMatrixAuth, sign_request},
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("fixture field {key} missing in {value}"))
}

fn version(value: &Value) -> RoomVersion {
    RoomVersion::parse(text(value, "room_version")).unwrap()
}

fn vectors<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    value[key].as_array().unwrap()
}

#[test]
fn gomatrixserverlib_event_ids() {
    let fixture = fixture("event_ids_gomatrixserverlib.json");
    for vector in vectors(&fixture, "vectors") {
        let mut object = parse_object(text(vector, "event_json").as_bytes()).unwrap();
        // gomatrixserverlib's "headered" wrapper keys are not part of the event.
        object.retain(|key, _| !key.starts_with('_'));
        let id = event_id::event_id(&object, &version(vector)).unwrap();
        assert_eq!(id.as_str(), text(vector, "expected_event_id"), "{}", text(vector, "name"));
    }
}

#[test]
fn content_hashes_from_gomatrixserverlib_spec_and_synapse() {
    let fixture = fixture("content_hashes.json");
    for vector in vectors(&fixture, "vectors") {
        let name = text(vector, "name");
        let object = match vector.get("event_json").and_then(Value::as_str) {
            Some(json) => parse_object(json.as_bytes()).unwrap(),
            None => canonical_json::from_value(vector["event"].clone()).unwrap(),
        };
        let hashes = ContentHashes::of(&object).unwrap();
        match text(vector, "expected") {
            "match" => {
                let expected = vector["expected_hash"].as_str().or(vector["claimed_hash"].as_str()).unwrap();
                assert_eq!(hashes.computed, expected, "{name}");
                if hashes.claimed.is_some() {
                    assert!(hashes.matches(), "{name}");
                }
            }
            "mismatch" => {
                assert!(!hashes.matches(), "{name}");
                if let Some(computed) = vector["computed_hash"].as_str() {
                    assert_eq!(hashes.computed, computed, "{name}");
                }
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

fn mautrix_keys(servers: &Value) -> VerifyKeys {
    let mut keys = VerifyKeys::new();
    for (server, server_keys) in servers.as_object().unwrap() {
        for (key_id, key) in server_keys.as_object().unwrap() {
            let public: [u8; 32] = lenient_base64::decode(text(key, "key")).unwrap().try_into().unwrap();
            keys.insert(server, key_id, &public);
        }
    }
    keys
}

#[test]
fn mautrix_real_events_from_v1_to_v12() {
    let fixture = fixture("event_ids_mautrix.json");
    let keys = mautrix_keys(&fixture["servers"]);
    for vector in vectors(&fixture, "vectors") {
        let name = text(vector, "name");
        let bytes = text(vector, "pdu_json").as_bytes();
        let version = version(vector);
        let expected_id = text(vector, "expected_event_id");
        if vector["content_hash_matches"] == Value::Bool(true) {
            let pdu = Pdu::parse(bytes, &version).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(pdu.event_id().as_str(), expected_id, "{name}");
            if vector["origin_signature_verifies"] == Value::Bool(true) {
                verify_event_signatures(&pdu, &keys).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        } else {
            // A redacted event's hash no longer matches: we refuse it rather than treat it as redacted.
            let error = Pdu::parse(bytes, &version).unwrap_err();
            assert!(matches!(error, PduError::ContentHashMismatch { .. }), "{name}: {error}");
            let id = event_id::event_id(&parse_object(bytes).unwrap(), &version).unwrap();
            assert_eq!(id.as_str(), expected_id, "{name}");
        }
    }
}

#[test]
fn v12_room_ids_from_mautrix() {
    let fixture = fixture("room_id_v12.json");
    for vector in vectors(&fixture, "vectors") {
        let pdu = Pdu::parse(text(vector, "create_pdu_json").as_bytes(), &RoomVersion::parse("12").unwrap())
            .unwrap();
        assert_eq!(pdu.room_id().as_str(), text(vector, "expected_room_id"), "{}", text(vector, "name"));
        assert_eq!(pdu.event_id().as_str(), text(vector, "expected_create_event_id"));
    }
}

#[test]
fn tuwunel_policy_signature_vectors() {
    let fixture = fixture("policy_signatures_tuwunel.json");
    let server = &fixture["policy_server"];
    let key: [u8; 32] = lenient_base64::decode(text(server, "public_key")).unwrap().try_into().unwrap();
    let policy = RoomPolicy::new(<&ServerName>::try_from(text(server, "server_name")).unwrap(), key);
    for vector in vectors(&fixture, "vectors") {
        let version = version(vector);
        let unsigned = canonical_json::from_value(vector["pdu_without_policy_signature"].clone()).unwrap();
        let signed = canonical_json::from_value(vector["pdu_with_policy_signature"].clone()).unwrap();
        assert_eq!(policy_signing_input_of(&unsigned, &version).unwrap(), text(vector, "signed_bytes"));
        verify_policy_signature(&signed, &version, &policy).unwrap();
    }
    for negative in vectors(&fixture, "negative") {
        let version = version(negative);
        let mut signed =
            canonical_json::from_value(fixture["vectors"][1]["pdu_with_policy_signature"].clone()).unwrap();
        for (key, value) in negative["mutation"]["insert_top_level"].as_object().unwrap() {
            signed.insert(key.clone(), CanonicalJsonValue::try_from(value.clone()).unwrap());
        }
        assert!(verify_policy_signature(&signed, &version, &policy).is_err());
    }
}

fn spec_key(fixture: &Value) -> SigningKey {
    let key = &fixture["signing_key"];
    let seed: [u8; 32] =
        lenient_base64::decode(text(key, "seed_base64_as_in_spec")).unwrap().try_into().unwrap();
    let key_id = text(key, "key_id");
    SigningKey::from_seed(&seed, key_id.strip_prefix("ed25519:").unwrap()).unwrap()
}

#[test]
fn spec_appendix_json_signing_and_canonical_examples() {
    let fixture = fixture("spec_signing.json");
    let key = spec_key(&fixture);
    assert_eq!(key.public_key_base64(), text(&fixture["signing_key"], "public_key"));
    for vector in vectors(&fixture, "json_signing") {
        let object = parse_object(text(vector, "input_json").as_bytes()).unwrap();
        let canonical = canonical_json::to_canonical_string(&object);
        assert_eq!(canonical, text(vector, "signed_bytes"));
        assert_eq!(key.sign_base64(canonical.as_bytes()), text(vector, "expected_signature"));
    }
    for pair in vectors(&fixture["canonical_json_examples"], "pairs") {
        let input = text(pair, "input");
        // The spec's last example writes `-0` and `1e10`; strict canonical JSON (v6+) refuses floats, so we do too.
        match parse_object(input.as_bytes()) {
            Ok(object) => {
                assert_eq!(canonical_json::to_canonical_string(&object), text(pair, "expected"), "{input}")
            }
            Err(error) => assert!(input.contains("1e10") || input.contains("-0"), "{input}: {error}"),
        }
    }
}

#[test]
fn spec_appendix_event_signing() {
    let fixture = fixture("spec_signing.json");
    let key = spec_key(&fixture);
    let v1 = RoomVersion::parse("1").unwrap();
    for vector in vectors(&fixture["event_signing"], "vectors") {
        let mut event = parse_object(text(vector, "input_event_json").as_bytes()).unwrap();
        // The spec example starts with empty `hashes`/`signatures`, which signing fills in.
        event.remove("hashes");
        event.remove("signatures");
        hash_and_sign_event(&mut event, "domain", &key, &v1).unwrap();
        let signed = canonical_json::to_json_value(&event);
        assert_eq!(signed["hashes"]["sha256"], text(vector, "expected_content_hash"));
        assert_eq!(signed["signatures"]["domain"]["ed25519:1"], text(vector, "expected_signature"));
    }
}

#[test]
fn key_files_from_synapse_dendrite_and_matrix_media_repo() {
    let fixture = fixture("key_files.json");
    for vector in vectors(&fixture, "vectors") {
        let format = text(vector, "format");
        let keys = parse_key_file(text(vector, "file_text")).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(keys[0].version(), text(vector, "expected_key_version"), "{format}");
        assert_eq!(keys[0].key_id(), text(vector, "expected_key_id"), "{format}");
        assert_eq!(keys[0].public_key_base64(), text(vector, "expected_public_key"), "{format}");
        let check = &vector["signature_check"];
        assert_eq!(
            keys[0].sign_base64(text(check, "signed_json").as_bytes()),
            text(check, "expected_signature")
        );
    }
}

#[test]
fn gomatrixserverlib_signed_requests() {
    let fixture = fixture("x_matrix.json");
    let requests = &fixture["signed_requests_gomatrixserverlib"];
    let seed: [u8; 32] =
        lenient_base64::decode(text(requests, "signing_seed_base64")).unwrap().try_into().unwrap();
    for vector in vectors(requests, "vectors") {
        let key_id = text(vector, "key_id");
        let key = SigningKey::from_seed(&seed, key_id.strip_prefix("ed25519:").unwrap()).unwrap();
        let body = vector["content_json"].as_str().unwrap_or_default().as_bytes();
        let target = RequestTarget { method: text(vector, "method"), uri: text(vector, "uri"), body };
        let origin = <&ServerName>::try_from(text(vector, "origin")).unwrap();
        let destination = <&ServerName>::try_from(text(vector, "destination")).unwrap();
        let ours = sign_request(target, origin, destination, &key).unwrap();
        assert_eq!(lenient_base64::encode(&ours.signature), text(vector, "expected_sig"));
        let theirs = XMatrixAuth::parse(text(vector, "authorization_header")).unwrap();
        theirs.verify(target, destination, &key.public_key()).unwrap();
    }
}
