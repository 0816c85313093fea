//! `palisade community ...` and `palisade verdict`: the admin tasks from the command line, on the store the
//! server would use (SQLite under `./data` of a temporary directory).

#![allow(clippy::unwrap_used)] // helpers panic on a broken test environment by design

use std::{
    path::Path,
    process::{Command, Output},
};

use serde_json::{Value, json};

fn palisade(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn create_configure_rotate_and_inspect_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let d = dir.path();

    assert!(failure(&palisade(d, &["community", "create", "abc"])).contains("4 to 254 bytes"));
    let created = json_of(&palisade(d, &["community", "create", "CLI community"]));
    let id = created["community_id"].as_str().unwrap().to_owned();
    assert_eq!(created["config"], json!({}));
    let listed = json_of(&palisade(d, &["community", "list"]));
    assert!(listed.as_array().unwrap().iter().any(|c| c["community_id"] == id.as_str()));

    let set = json_of(&palisade(d, &["community", "set", &id, "keyword_filter_keywords", r#"["buy now"]"#]));
    assert_eq!(set["config"], json!({"keyword_filter_keywords": ["buy now"]}));
    json_of(&palisade(d, &["community", "set", &id, "mention_filter_max_mentions", "5"]));
    json_of(&palisade(d, &["community", "set", &id, "keyword_filter_keywords", "null"]));
    assert!(failure(&palisade(d, &["community", "set", &id, "no_such_key", "1"])).contains("no_such_key"));
    assert!(
        failure(&palisade(d, &["community", "set", &id, "mention_filter_max_mentions", "lots"]))
            .contains("config")
    );
    let shown = json_of(&palisade(d, &["community", "show", &id]));
    assert_eq!(shown["config"], json!({"mention_filter_max_mentions": 5}));
    assert_eq!(shown["rooms"], json!([]));
    assert!(failure(&palisade(d, &["community", "show", "nope"])).contains("not found"));

    let token = json_of(&palisade(d, &["community", "rotate-token", &id]));
    assert!(token["new_access_token"].as_str().unwrap().starts_with("pst_"));

    assert!(failure(&palisade(d, &["verdict", "$nothing"])).contains("no verdict"));
}

#[test]
fn key_rotation_prints_the_new_room_policy_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy_of = |output: &Output| -> (String, Value) {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let key = text.split("ed25519:policy_server (").nth(1).unwrap().split(')').next().unwrap().to_owned();
        let content: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        (key, content)
    };
    let (first_key, first) = policy_of(&palisade(d, &["keygen"]));
    assert_eq!(first["public_keys"]["ed25519"], first_key.as_str());
    assert_eq!(first["via"], "localhost");
    let (second_key, second) = policy_of(&palisade(d, &["keygen", "--overwrite"]));
    assert_ne!(first_key, second_key);
    assert_eq!(second["public_keys"]["ed25519"], second_key.as_str());
}
