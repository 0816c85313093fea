//! The database commands as an operator runs them: `palisade db migrate`, `palisade db backup FILE` and
//! `palisade import-policyserv POSTGRES_URL`, each reading the same configuration as `serve` (`--config`,
//! `--env-file`, the environment). Each test runs the real executable in its own temporary directory.

#![allow(clippy::unwrap_used)] // helpers panic on a broken test environment by design

mod support;

use std::{
    path::Path,
    process::{Command, Output},
};

use palisade_store::{JoinState, VerdictClass, VerdictLookup};
use serde_json::json;

use support::{postgres::ScratchDb, served::Served};

fn palisade(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_palisade"));
    command.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run palisade")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[test]
fn db_migrate_creates_the_default_database_and_reads_the_env_file() {
    let dir = tempfile::tempdir().unwrap();
    // Zero configuration: the same ./data/palisade.db `serve` would use.
    let output = run(palisade(dir.path()).args(["db", "migrate"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("sqlite://./data/palisade.db"), "{}", stdout(&output));
    assert!(dir.path().join("data/palisade.db").is_file());
    // Running it again is harmless.
    assert!(run(palisade(dir.path()).args(["db", "migrate"])).status.success());

    // An env file (policyserv's variable names) picks another database, as it would for `serve`.
    std::fs::write(dir.path().join("palisade.env"), "PS_DATABASE=sqlite://./elsewhere/custom.db\n").unwrap();
    let output = run(palisade(dir.path()).args(["db", "migrate", "--env-file", "palisade.env"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("elsewhere/custom.db").is_file());

    // A TOML file works too, and a database newer than the binary is refused by name.
    let db = dir.path().join("toml.db");
    std::fs::write(dir.path().join("palisade.toml"), format!("[database]\nurl = \"{}\"\n", sqlite_url(&db)))
        .unwrap();
    assert!(run(palisade(dir.path()).args(["db", "migrate", "--config", "palisade.toml"])).status.success());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&sqlite_url(&db)).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let output = run(palisade(dir.path()).args(["db", "migrate", "--config", "palisade.toml"]));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("9999"), "{}", stderr(&output));
}

#[test]
fn db_backup_copies_a_live_sqlite_database_and_refuses_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let env = [("PS_DATABASE", sqlite_url(&db))];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The database is open (as a running server would hold it) while the backup is taken.
    let live = runtime.block_on(async {
        let store = palisade_store::open(&sqlite_url(&db)).await.unwrap();
        store.put_keyword_template("spam", "{{ .Body }}").await.unwrap();
        store
            .insert_verdict_if_absent(&palisade_store::StoredVerdict {
                room_id: "!r:example.org".to_owned(),
                event_id: "$e".to_owned(),
                reference_hash: None,
                class: VerdictClass::Prohibited,
                harms: vec!["org.matrix.msc4456.spam".to_owned()],
                expiry_ms: None,
                trace: json!([]).into(),
                decided_at_ms: 1,
            })
            .await
            .unwrap();
        store
    });

    let output = run(palisade(dir.path()).args(["db", "backup", "copy.db"]).envs(env.clone()));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("copy.db"), "{}", stdout(&output));
    runtime.block_on(async {
        let copy = palisade_store::open(&sqlite_url(&dir.path().join("copy.db"))).await.unwrap();
        assert_eq!(copy.get_keyword_template("spam").await.unwrap().as_deref(), Some("{{ .Body }}"));
        let VerdictLookup::Found(verdict) = copy.get_verdict("!r:example.org", "$e", None).await.unwrap()
        else {
            panic!("verdict missing from the backup")
        };
        assert_eq!(verdict.class, VerdictClass::Prohibited);
        copy.close().await;
        // The live database kept working throughout.
        live.put_keyword_template("after", "x").await.unwrap();
        live.close().await;
    });

    // An existing file is never overwritten.
    let output = run(palisade(dir.path()).args(["db", "backup", "copy.db"]).envs(env));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("existing file"), "{}", stderr(&output));

    // PostgreSQL: a clear pointer to pg_dump, without touching the database.
    let output = run(palisade(dir.path())
        .args(["db", "backup", "pg.db"])
        .env("PS_DATABASE", "postgres://palisade:secret@db.invalid/palisade"));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("pg_dump"), "{message}");
    assert!(!message.contains("secret"), "{message}");
    assert!(!dir.path().join("pg.db").exists());
}

/// policyserv's final schema (catalogue §5.1, migrations 01-18), as its migrations leave it.
const POLICYSERV_SCHEMA: &str = r#"
CREATE TABLE events (event_id TEXT PRIMARY KEY, is_probably_spam BOOLEAN NOT NULL,
    confidence_vectors TEXT NOT NULL, first_seen_ts TIMESTAMP NOT NULL DEFAULT NOW());
CREATE TABLE communities (id TEXT PRIMARY KEY, name TEXT NOT NULL, config JSONB NOT NULL,
    api_access_token TEXT, can_self_join_rooms BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX idx_communities_api_access_token ON communities (api_access_token);
INSERT INTO communities (id, name, config) VALUES ('default', 'default', '{}');
CREATE TABLE rooms (room_id TEXT PRIMARY KEY, room_version TEXT NOT NULL,
    moderator_user_id TEXT NOT NULL DEFAULT '', last_state_update_ts BIGINT NOT NULL DEFAULT 0,
    community_id TEXT DEFAULT 'default' REFERENCES communities (id));
CREATE TABLE displaynames (room_id TEXT NOT NULL, user_id TEXT NOT NULL, displayname TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id));
CREATE INDEX displaynames_room_id ON displaynames (room_id);
CREATE TABLE ban_rules (room_id TEXT NOT NULL, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
    PRIMARY KEY (room_id, entity_type, entity_id));
CREATE INDEX ban_rules_room_id ON ban_rules (room_id);
CREATE FUNCTION ps_notify_community_config() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('policyserv_community_config_changed', NEW.id); RETURN NEW; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER ps_community_config_change AFTER UPDATE OF config ON communities
    FOR EACH ROW WHEN (OLD.config IS DISTINCT FROM NEW.config) EXECUTE FUNCTION ps_notify_community_config();
CREATE TABLE state_learn_queue (room_id TEXT PRIMARY KEY, at_event_id TEXT NOT NULL, via TEXT NOT NULL,
    after_ts BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM NOW()) * 1000)::BIGINT);
CREATE TABLE trust_data (source_name TEXT, key TEXT, data JSONB NOT NULL, PRIMARY KEY (source_name, key));
CREATE TABLE keyword_templates (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE media_classifications (mxc_uri TEXT, community_id TEXT REFERENCES communities (id),
    classifications JSONB NULL, PRIMARY KEY (mxc_uri, community_id));
CREATE TABLE destinations (destination TEXT PRIMARY KEY, last_transaction_id TEXT NOT NULL DEFAULT '');
CREATE TABLE destination_edus (id BIGSERIAL PRIMARY KEY,
    destination TEXT REFERENCES destinations (destination) ON DELETE CASCADE, edu JSONB NOT NULL);

INSERT INTO communities (id, name, config, api_access_token, can_self_join_rooms) VALUES
    ('2Fh1pX0rSv4Qm8cYtT6u0ZlK9aB', 'Example', '{"keyword_filter_keywords": ["spammy spam"],
        "hellban_postfilter_minutes": 30}', 'plain-token', TRUE),
    ('2Fh1pX0rSv4Qm8cYtT6u0ZlK9aC', 'Quiet', '{}', '', FALSE);
UPDATE communities SET config = '{"frequency_filter_rate_limit": 0.5}' WHERE id = 'default';
INSERT INTO rooms (room_id, room_version, moderator_user_id, community_id, last_state_update_ts) VALUES
    ('!a:example.org', '10', '@mod:example.org', '2Fh1pX0rSv4Qm8cYtT6u0ZlK9aB', 1700000000000),
    ('!b:example.org', '12', '', NULL, 0),
    ('!c:example.org', '11', '', 'default', 0);
INSERT INTO displaynames VALUES ('!a:example.org', '@u:example.org', 'U');
INSERT INTO ban_rules VALUES ('!a:example.org', 'user', '@bad:*');
INSERT INTO keyword_templates VALUES ('spam', '{{ .Body }}'), ('scam', 'crypto {{ .Sender }}');
INSERT INTO trust_data VALUES ('muninn_hall', '', '{"server_names": ["a.example"]}'),
    ('creator', '!b:example.org', '{"creator_user_ids": ["@c:example.org"]}'),
    ('power_levels', '!a:example.org', '{"users": {"@mod:example.org": 100}, "users_default": 0}');
INSERT INTO events (event_id, is_probably_spam, confidence_vectors) VALUES ('$x', TRUE, '{"h:spam": 1.0}');
INSERT INTO media_classifications VALUES ('mxc://a/b', 'default', '["Neutral"]');
INSERT INTO destinations VALUES ('remote.example', '');
INSERT INTO destination_edus (destination, edu) VALUES ('remote.example', '{"type": "m.typing"}');
"#;

#[test]
fn import_policyserv_copies_communities_configs_rooms_templates_and_trust_data() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(source) = runtime.block_on(ScratchDb::create("policyserv")) else { return };
    runtime.block_on(source.execute(POLICYSERV_SCHEMA));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("imported.db");
    std::fs::write(
        dir.path().join("palisade.toml"),
        format!("[database]\nurl = \"{}\"\n", sqlite_url(&target)),
    )
    .unwrap();

    let import =
        || run(palisade(dir.path()).args(["import-policyserv", "--config", "palisade.toml", &source.url]));
    let first = import();
    // Re-running is harmless (an operator may import again just before switching over).
    let second = import();
    runtime.block_on(source.drop_database());
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let report = stdout(&first);
    for line in ["communities: 3", "rooms: 3", "keyword templates: 2", "trust data: 3"] {
        assert!(report.contains(line), "{line}: {report}");
    }
    assert_eq!(stdout(&second), report);

    runtime.block_on(async {
        let store = palisade_store::open(&sqlite_url(&target)).await.unwrap();
        let example = store.get_community("2Fh1pX0rSv4Qm8cYtT6u0ZlK9aB").await.unwrap().unwrap();
        assert_eq!(example.name, "Example");
        assert_eq!(
            example.config,
            json!({"keyword_filter_keywords": ["spammy spam"], "hellban_postfilter_minutes": 30})
        );
        assert!(example.can_self_join_rooms);
        let quiet = store.get_community("2Fh1pX0rSv4Qm8cYtT6u0ZlK9aC").await.unwrap().unwrap();
        assert!(!quiet.can_self_join_rooms);
        let default = store.get_community("default").await.unwrap().unwrap();
        assert_eq!(default.config, json!({"frequency_filter_rate_limit": 0.5}));
        // The plaintext token still authenticates, but only its hash was stored; '' means no token.
        let by_token = store.community_by_access_token("plain-token").await.unwrap();
        assert_eq!(by_token.map(|c| c.id), Some(example.id.clone()));
        assert!(store.community_by_access_token("").await.unwrap().is_none());

        let a = store.get_room("!a:example.org").await.unwrap().unwrap();
        assert_eq!((a.room_version.as_str(), a.community_id.as_str()), ("10", example.id.as_str()));
        assert_eq!(a.moderator_user_id.as_deref(), Some("@mod:example.org"));
        assert_eq!(a.join_state, JoinState::Joined);
        let b = store.get_room("!b:example.org").await.unwrap().unwrap();
        assert_eq!((b.community_id.as_str(), b.moderator_user_id), ("default", None));
        assert_eq!(store.list_community_rooms("default").await.unwrap().len(), 2);

        assert_eq!(
            store.get_keyword_template("scam").await.unwrap().as_deref(),
            Some("crypto {{ .Sender }}")
        );
        assert_eq!(store.list_keyword_templates().await.unwrap().len(), 2);
        assert_eq!(
            store.get_trust_data("muninn_hall", "").await.unwrap(),
            Some(json!({"server_names": ["a.example"]}))
        );
        assert_eq!(
            store.get_trust_data("power_levels", "!a:example.org").await.unwrap(),
            Some(json!({"users": {"@mod:example.org": 100}, "users_default": 0}))
        );
        // policyserv's verdicts are not trusted (it read every one back as spam) and are not imported.
        assert_eq!(store.get_verdict("!a:example.org", "$x", None).await.unwrap(), VerdictLookup::Absent);
        store.close().await;
    });
}

#[test]
fn import_policyserv_refuses_a_source_that_is_not_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(palisade(dir.path()).args(["import-policyserv", "sqlite://./policyserv.db"]));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("postgres://"), "{}", stderr(&output));
    assert!(!dir.path().join("data").exists(), "nothing is created for a refused import");
}

#[test]
fn two_servers_start_together_on_one_postgres_database_with_a_read_replica() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(ScratchDb::create("serve")) else { return };
    let dir = tempfile::tempdir().unwrap();
    // Both instances share the keys, as instances behind one load balancer do; each has its own listeners.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    assert!(run(palisade(dir.path()).args(["keygen"])).status.success());
    let spawn = || {
        Served::spawn(
            palisade(dir.path())
                .arg("serve")
                .env("PS_DATABASE", &db.url)
                .env("PS_DATABASE_READ", &db.url)
                .stdout(std::process::Stdio::null()),
        )
        .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    for (name, server) in [("a", &mut a), ("b", &mut b)] {
        server.wait_listening().unwrap();
        if let Err(error) = server.answer("/ready", |r| r.starts_with("HTTP/1.1 200")) {
            panic!("instance {name} not ready: {error}");
        }
    }
    // Both migrated concurrently without harm: one schema, applied once.
    let migrations = runtime.block_on(db.count("SELECT COUNT(*) FROM _sqlx_migrations"));
    let tables = runtime
        .block_on(db.count("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'verdicts'"));
    assert!(migrations >= 1);
    assert_eq!(tables, 1);
    drop((a, b));
    runtime.block_on(db.drop_database());
}
