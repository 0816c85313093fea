//! Cross-checks canonical JSON, content hashes, event IDs, the v12 room ID and both signatures against Matrix's
//! Python reference libraries (`canonicaljson`, `signedjson`), run as a separate process.
//!
//! `scripts/test` points `PALISADE_PYTHON` at a virtualenv with those libraries. Without it the test is skipped
//! with a notice, except under `CI=true`, where a missing cross-check is a failure.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

#[path = "support/builders.rs"]
mod support;

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use palisade_matrix::{
    Pdu,
    canonical_json::{parse_object, to_canonical_string},
    signing::{insert_policy_signature, sign_as_policy_server},
};
use serde_json::{Value, json};
use support::*;

fn python() -> Option<String> {
    match std::env::var("PALISADE_PYTHON") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PALISADE_PYTHON is not set; CI must run the Python cross-check (use scripts/test)")
        }
        _ => {
            eprintln!("skipping the Python cross-check: PALISADE_PYTHON is not set (scripts/test sets it)");
            None
        }
    }
}

fn run_python(python: &str, cases: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/crosscheck.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().unwrap().write_all(cases.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "crosscheck.py failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

const CANONICAL_CASES: &[&str] = &[
    r#"{}"#,
    r#"{"one": 1, "two": "Two"}"#,
    r#"{"b": "2", "a": "1", "c": {"z": [3, 2, 1], "y": null, "x": true}}"#,
    r#"{"a": "日本語", "本": 2, "日": 1, "emoji": "😀", "escape": "\u0000\u001f\"\\/\u007f\u2028"}"#,
    r#"{"big": 9007199254740991, "small": -9007199254740991}"#,
];

#[test]
fn python_reference_libraries_agree() {
    let Some(python) = python() else { return };
    let origin = key(1, "a_1");
    let policy_key = key(2, "policy_server");
    let (create, room_id) = v12_create(&origin);
    let message = v12_message(&room_id, "hello from a v12 room", &origin);

    let create_pdu = Pdu::parse(&to_bytes(&create), &v12()).unwrap();
    let message_pdu = Pdu::parse(&to_bytes(&message), &v12()).unwrap();
    let signature = sign_as_policy_server(&message_pdu, "policy.example.org", &policy_key).unwrap();
    let mut signed_message = message.clone();
    insert_policy_signature(&mut signed_message, &signature);

    let event_case = |event: &palisade_matrix::CanonicalObject, with_policy: bool| {
        let mut case = json!({
            "event": event,
            "origin": "origin.example.org",
            "origin_key_id": origin.key_id(),
            "origin_public_key": origin.public_key_base64(),
        });
        if with_policy {
            case["policy_server"] = json!("policy.example.org");
            case["policy_public_key"] = json!(policy_key.public_key_base64());
        }
        case
    };
    let mut forged = signed_message.clone();
    forged.insert(
        "origin_server_ts".into(),
        palisade_matrix::canonical_json::CanonicalJsonValue::Integer(7u32.into()),
    );
    let cases = json!({
        "canonical": CANONICAL_CASES,
        "events": [event_case(&create, false), event_case(&signed_message, true), event_case(&forged, true)],
    });
    let answer = run_python(&python, &cases);

    for (index, input) in CANONICAL_CASES.iter().enumerate() {
        let ours = to_canonical_string(&parse_object(input.as_bytes()).unwrap());
        assert_eq!(answer["canonical"][index], json!(ours), "canonical JSON of {input}");
    }

    let create_answer = &answer["events"][0];
    assert_eq!(create_answer["room_id"], json!(room_id), "v12 room ID");
    assert_eq!(create_answer["event_id"], json!(create_pdu.event_id().as_str()));
    assert_eq!(create_answer["content_hash"], json!(content_hash_of(&create)));
    assert_eq!(create_answer["origin_signature_ok"], json!(true));

    let message_answer = &answer["events"][1];
    assert_eq!(message_answer["event_id"], json!(message_pdu.event_id().as_str()));
    assert_eq!(message_answer["content_hash"], json!(content_hash_of(&message)));
    assert_eq!(message_answer["origin_signature_ok"], json!(true));
    assert_eq!(message_answer["policy_signature_ok"], json!(true), "signedjson accepts our policy signature");

    let forged_answer = &answer["events"][2];
    assert_eq!(forged_answer["origin_signature_ok"], json!(false));
    assert_eq!(forged_answer["policy_signature_ok"], json!(false));
}

fn content_hash_of(event: &palisade_matrix::CanonicalObject) -> String {
    serde_json::to_value(event).unwrap()["hashes"]["sha256"].as_str().unwrap().to_owned()
}
