//! Shared builders for the matrix crate's integration tests: deterministic keys and signed v12 events.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use palisade_matrix::{
    CanonicalObject, RoomVersion, SigningKey, canonical_json::from_value,
    event_id::room_id_from_create_event, keys::lenient_base64, signing::hash_and_sign_event,
};
use serde_json::json;

/// A key from a fixed seed byte, so test output is reproducible.
pub fn key(seed_byte: u8, version: &str) -> SigningKey {
    SigningKey::from_seed(&[seed_byte; 32], version).unwrap()
}

/// The spec appendix's example key (`ed25519:1`).
pub fn spec_key() -> SigningKey {
    let seed = lenient_base64::decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap();
    SigningKey::from_seed(&seed.try_into().unwrap(), "1").unwrap()
}

pub fn v12() -> RoomVersion {
    RoomVersion::parse("12").unwrap()
}

/// A signed v12 create event from `@alice:origin.example.org` and the room ID it defines.
pub fn v12_create(origin_key: &SigningKey) -> (CanonicalObject, String) {
    let mut create = from_value(json!({
        "type": "m.room.create",
        "state_key": "",
        "sender": "@alice:origin.example.org",
        "origin_server_ts": 1_700_000_000_000_i64,
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
        "content": {"room_version": "12", "additional_creators": ["@bob:other.example.org"]},
    }))
    .unwrap();
    hash_and_sign_event(&mut create, "origin.example.org", origin_key, &v12()).unwrap();
    let room_id = room_id_from_create_event(&create, &v12()).unwrap();
    (create, room_id.to_string())
}

/// A signed v12 text message in `room_id`.
pub fn v12_message(room_id: &str, body: &str, origin_key: &SigningKey) -> CanonicalObject {
    let mut message = from_value(json!({
        "type": "m.room.message",
        "room_id": room_id,
        "sender": "@alice:origin.example.org",
        "origin_server_ts": 1_700_000_001_000_i64,
        "depth": 5,
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$member"],
        "content": {"msgtype": "m.text", "body": body},
        "unsigned": {"age_ts": 1_700_000_001_000_i64},
    }))
    .unwrap();
    hash_and_sign_event(&mut message, "origin.example.org", origin_key, &v12()).unwrap();
    message
}

pub fn to_bytes(object: &CanonicalObject) -> Vec<u8> {
    serde_json::to_vec(object).unwrap()
}
