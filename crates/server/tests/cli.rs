//! The `palisade` binary as an operator runs it: zero-configuration start, key generation, config validation and
//! PDU inspection. Each test runs the real executable in its own temporary directory.

#![allow(clippy::unwrap_used)] // helpers panic on a broken test environment by design

mod support;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Output, Stdio},
};

use support::served::{Served, http_get};

fn palisade(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// `palisade serve` on loopback, on ports the kernel picks.
fn serve(dir: &Path) -> Command {
    let mut command = palisade(dir);
    command.arg("serve");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run palisade")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn zero_configuration_start_creates_keys_and_database_and_prints_the_policy_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(serve(dir.path()).stdout(Stdio::piped())).unwrap();
    let (port, metrics_port) = (server.port, server.metrics_port);
    let stdout = BufReader::new(server.child().stdout.take().unwrap());

    let keys_document = server.answer("/_matrix/key/v2/server", |_| true).unwrap();
    assert!(keys_document.starts_with("HTTP/1.1 200"), "{keys_document}");
    assert!(keys_document.contains("\"server_name\":\"localhost\""), "{keys_document}");

    let data = dir.path().join("data");
    for file in ["signing.key", "policy.key", "palisade.db"] {
        assert!(
            data.join(file).exists(),
            "{file} missing; data has {:?}",
            std::fs::read_dir(&data).map(|d| d.count())
        );
    }
    let policy_key = std::fs::read_to_string(data.join("policy.key")).unwrap();
    assert!(policy_key.starts_with("ed25519 policy_server "));

    let printed: Vec<String> = stdout.lines().take(2).map(Result::unwrap).collect();
    let content: serde_json::Value = serde_json::from_str(printed.last().unwrap()).unwrap();
    assert_eq!(content["via"], "localhost");
    let well_known = http_get(port, "/.well-known/matrix/policy_server").unwrap();
    let published = content["public_keys"]["ed25519"].as_str().unwrap();
    assert!(well_known.contains(published), "{well_known}");
    assert!(!keys_document.contains(published), "the policy key must not be a federation key");

    let metrics = http_get(metrics_port, "/metrics").unwrap();
    assert!(
        metrics.contains(r#"policyserv_http_requests{action="/_matrix/key/v2/server",method="GET"} "#),
        "{metrics}"
    );
}

/// `PS_LOG_FORMAT=json`: every log line the server writes is one JSON object with a level and a message.
#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        Served::start(serve(dir.path()).env("PS_LOG_FORMAT", "json").stdout(Stdio::null())).unwrap();
    server.answer("/health", |_| true).unwrap();
    let logs = server.stop();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(!lines.is_empty(), "the server logged its start");
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string() && entry["fields"]["message"].is_string(), "{line}");
    }
}

#[test]
fn invalid_denied_network_stops_start_up_and_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(palisade(dir.path())
        .arg("serve")
        .env("PS_HOMESERVER_DENIED_NETWORKS", "127.0.0.1/8,172.16.0.0./12"));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("PS_HOMESERVER_DENIED_NETWORKS"), "{message}");
    assert!(message.contains("172.16.0.0./12"), "{message}");
    assert!(!dir.path().join("data").exists(), "nothing is created before the config is valid");
}

#[test]
fn the_same_check_reads_a_policyserv_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("policyserv.env");
    std::fs::write(
        &env_file,
        "# policyserv\nPS_HOMESERVER_NAME=policy.example.org\nPS_HOMESERVER_DENIED_NETWORKS=172.16.0.0./12\n",
    )
    .unwrap();
    let output = run(palisade(dir.path()).args(["config", "check", "--env-file"]).arg(&env_file));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("PS_HOMESERVER_DENIED_NETWORKS"), "{}", stderr(&output));
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(palisade(dir.path())
        .args(["config", "check"])
        .env("PS_HOMESERVER_NAME", "policy.example.org")
        .env("PS_API_KEY", "super-secret-admin-key"));
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("policy.example.org"), "{printed}");
    assert!(!printed.contains("super-secret-admin-key"), "{printed}");
    assert!(printed.contains("***"), "{printed}");
}

#[test]
fn keygen_writes_two_separate_keys_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(palisade(dir.path()).arg("keygen"));
    assert!(output.status.success(), "{}", stderr(&output));
    let federation = std::fs::read_to_string(dir.path().join("data/signing.key")).unwrap();
    let policy = std::fs::read_to_string(dir.path().join("data/policy.key")).unwrap();
    assert!(federation.starts_with("ed25519 a_") && policy.starts_with("ed25519 policy_server "));
    assert_ne!(federation.split(' ').nth(2), policy.split(' ').nth(2));
    let again = run(palisade(dir.path()).arg("keygen"));
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--overwrite"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(dir.path().join("data/policy.key")).unwrap(), policy);
    let same = run(palisade(dir.path())
        .arg("keygen")
        .env("PS_HOMESERVER_SIGNING_KEY_PATH", "k.key")
        .env("PS_HOMESERVER_EVENT_SIGNING_KEY_PATH", "k.key"));
    assert!(!same.status.success());
}

const MESSAGE: &str = r#"{"auth_events":[],"content":{"body":"hello","msgtype":"m.text"},"depth":1,"hashes":{"sha256":"WRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRO"},"origin_server_ts":1,"prev_events":[],"room_id":"!room","sender":"@alice:example.org","signatures":{},"type":"m.room.message"}"#;

#[test]
fn pdu_inspect_fails_on_a_content_hash_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("event.json"), MESSAGE).unwrap();
    let output = run(palisade(dir.path()).args(["pdu", "inspect", "--room-version", "12", "event.json"]));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("content hash mismatch"), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["content_hash_ok"], false);
    assert!(report["event_id"].as_str().unwrap().starts_with('$'));
}

#[test]
fn pdu_inspect_reads_standard_input_and_rejects_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = palisade(dir.path())
        .args(["pdu", "inspect", "--room-version", "12", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"not json").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("not valid JSON"), "{}", stderr(&output));
    let unknown = run(palisade(dir.path()).args(["pdu", "inspect", "--room-version", "99", "missing.json"]));
    assert!(!unknown.status.success());
}

/// A message naming `count` members by display name (`Mention0`, `Mention1`, ...), as in policyserv's vectors.
fn message_mentioning(count: usize) -> serde_json::Value {
    let names: Vec<String> = (0..count).map(|i| format!("Mention{i}")).collect();
    serde_json::json!({
        "type": "m.room.message", "room_id": "!room:example.org", "sender": "@spammer:example.org",
        "origin_server_ts": 1_700_000_000_000_i64,
        "content": {"msgtype": "m.text", "body": format!("hello {}", names.join(" "))},
    })
}

#[test]
fn check_explains_a_refusal_and_shadow_mode_only_records_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("event.json"), message_mentioning(30).to_string()).unwrap();
    let members: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            serde_json::json!({"type": "m.room.member", "state_key": format!("@user{i}:example.org"),
                "sender": format!("@user{i}:example.org"),
                "content": {"membership": "join", "displayname": format!("Mention{i}")}})
        })
        .collect();
    std::fs::write(dir.path().join("state.json"), serde_json::Value::from(members).to_string()).unwrap();
    std::fs::write(dir.path().join("enforce.json"), "{}").unwrap();
    std::fs::write(dir.path().join("shadow.json"), r#"{"filter_modes": {"mentions": "shadow"}}"#).unwrap();

    let verdict = |config: &str| -> serde_json::Value {
        let output = run(palisade(dir.path()).args([
            "check",
            "--config",
            config,
            "--room-state",
            "state.json",
            "event.json",
        ]));
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let mentions = |verdict: &serde_json::Value| -> serde_json::Value {
        verdict["trace"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["filter"] == "mentions")
            .cloned()
            .unwrap()
    };

    let enforced = verdict("enforce.json");
    assert_eq!(enforced["class"], "prohibited", "{enforced}");
    let entry = mentions(&enforced);
    assert_eq!(entry["outcome"], "prohibited", "{entry}");
    assert!(entry["reason"].as_str().unwrap().starts_with("30 mentions >= limit 20"), "{entry}");

    let shadowed = verdict("shadow.json");
    assert_eq!(shadowed["class"], "neutral", "{shadowed}");
    let entry = mentions(&shadowed);
    assert_eq!(entry["mode"], "shadow", "{entry}");
    assert_eq!(entry["outcome"], "prohibited", "{entry}");
}

#[test]
fn room_commands_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let listed = run(palisade(dir.path()).args(["room", "list"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let rooms: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rooms, serde_json::json!([]));

    let missing = run(palisade(dir.path()).args(["room", "state", "!nowhere:example.org"]));
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("!nowhere:example.org is not in the store"), "{}", stderr(&missing));
}
