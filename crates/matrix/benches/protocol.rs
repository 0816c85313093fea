//! The protocol work of one `/sign` request: parsing the PDU with its checks and event ID, verifying the origin's
//! event signature, and producing the policy signature.

#![allow(clippy::unwrap_used, missing_docs)] // a benchmark panics on broken fixtures by design

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_matrix::{
    Pdu, RoomVersion, SigningKey, canonical_json,
    signing::{VerifyKeys, hash_and_sign_event, sign_as_policy_server, verify_event_signatures},
};
use serde_json::json;

fn protocol(c: &mut Criterion) {
    let version = RoomVersion::parse("12").unwrap();
    let origin = SigningKey::from_seed(&[7; 32], "origin").unwrap();
    let policy = SigningKey::from_seed(&[8; 32], "policy_server").unwrap();
    let mut event = canonical_json::from_value(json!({
        "type": "m.room.message", "room_id": "!abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "sender": "@alice:origin.example.org",
        "origin_server_ts": 1_767_225_600_000_u64, "depth": 1234, "prev_events": ["$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
        "auth_events": ["$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "$ccccccccccccccccccccccccccccccccccccccccccc"],
        "content": {"msgtype": "m.text", "body": "good morning everyone, how is the release going?"},
    }))
    .unwrap();
    hash_and_sign_event(&mut event, "origin.example.org", &origin, &version).unwrap();
    let bytes = serde_json::to_vec(&event).unwrap();
    let pdu = Pdu::from_object(event.clone(), &version).unwrap();
    let mut keys = VerifyKeys::new();
    keys.insert("origin.example.org", &origin.key_id(), &origin.public_key());

    c.bench_function("parse_pdu_with_content_hash_and_event_id", |b| {
        b.iter(|| {
            let object = canonical_json::parse_object(black_box(&bytes)).unwrap();
            black_box(Pdu::from_object(object, &version).unwrap().event_id().clone())
        });
    });
    c.bench_function("verify_event_signature", |b| {
        b.iter(|| verify_event_signatures(black_box(&pdu), &keys).unwrap());
    });
    c.bench_function("sign_as_policy_server", |b| {
        b.iter(|| black_box(sign_as_policy_server(black_box(&pdu), "policy.example.org", &policy).unwrap()));
    });
}

criterion_group!(benches, protocol);
criterion_main!(benches);
