//! Schemathesis (PyPI) against the OpenAPI document of the admin and community API: a real `palisade serve` on a
//! free port with a throw-away data directory and an API key, fuzzed with a bounded number of examples per
//! operation. Any 5xx, undocumented status, wrong content type or body that violates the document fails the test.
//!
//! The Python environment comes from `scripts/python-env` (`PALISADE_PYTHON`, set by `scripts/test`). Without it
//! the test is skipped locally and fails in CI. Joining and leaving rooms and fetching events need other
//! homeservers, so those operations are left to the Synapse interop suite.

#![allow(clippy::unwrap_used)] // test helpers panic on a broken test environment by design

mod support;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use support::served::Served;

const KEY: &str = "schemathesis-admin-key";

/// Operations that reach other servers.
const EXCLUDED: &[&str] = &["joinRoom", "selfJoin", "leaveRoom", "checkEventId"];

/// The `schemathesis` executable of the test virtualenv, if there is one.
fn schemathesis() -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("PALISADE_PYTHON")?);
    let bin = python.parent()?.join("schemathesis");
    bin.is_file().then_some(bin)
}

#[test]
fn schemathesis_finds_no_server_error_or_schema_violation() {
    let Some(schemathesis) = schemathesis() else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI must provide schemathesis through scripts/python-env (PALISADE_PYTHON)"
        );
        eprintln!("skipped: no PALISADE_PYTHON with schemathesis (run scripts/test, or set PALISADE_PYTHON)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PS_API_KEY", KEY)
            .env("PS_JOIN_SERVER", "join.invalid")
            .env("PS_EVENT_FETCH_SERVERS", "")
            .arg("serve")
            .stdout(Stdio::null()),
    )
    .unwrap();
    let port = server.port;
    server.answer("/api/v1/openapi.json", |r| r.starts_with("HTTP/1.1 200")).unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(schemathesis);
    command
        .current_dir(dir.path())
        .arg("run")
        .arg(format!("{base}/api/v1/openapi.json"))
        .args(["--url", &base])
        .args(["-H", &format!("Authorization: Bearer {KEY}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // The coverage phase trips a CPython 3.11 AST bug inside Hypothesis; fuzzing and stateful runs remain.
        .args(["--phases", "examples,fuzzing,stateful"])
        .args(["--max-examples", "30", "--seed", "7", "--no-shrink", "--workers", "2", "--warnings", "off"]);
    for operation in EXCLUDED {
        command.args(["--exclude-operation-id", operation]);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = server.stop();
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}\nserver log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    assert!(stdout.contains("passed"), "{stdout}");
}
