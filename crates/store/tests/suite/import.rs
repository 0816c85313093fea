//! Import from a policyserv PostgreSQL database laid out as its final schema (catalogue §5.1).

use palisade_store::{JoinState, SqliteStore, Store, hash_access_token, import_policyserv};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::harness::{create_pg_database, drop_pg_database};

/// policyserv's tables after its migration 18 (only the ones the import reads, plus `events`).
const POLICYSERV_SCHEMA: &str = r#"
CREATE TABLE communities (id TEXT PRIMARY KEY, name TEXT NOT NULL, config JSONB NOT NULL,
    api_access_token TEXT, can_self_join_rooms BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX idx_communities_api_access_token ON communities (api_access_token);
INSERT INTO communities (id, name, config) VALUES ('default', 'default', '{}');
CREATE TABLE rooms (room_id TEXT PRIMARY KEY, room_version TEXT NOT NULL,
    moderator_user_id TEXT NOT NULL DEFAULT '', last_state_update_ts BIGINT NOT NULL DEFAULT 0,
    community_id TEXT DEFAULT 'default' REFERENCES communities (id));
CREATE TABLE events (event_id TEXT PRIMARY KEY, is_probably_spam BOOLEAN NOT NULL,
    confidence_vectors TEXT NOT NULL, first_seen_ts TIMESTAMP NOT NULL DEFAULT NOW());
CREATE TABLE trust_data (source_name TEXT, key TEXT, data JSONB NOT NULL, PRIMARY KEY (source_name, key));
CREATE TABLE keyword_templates (name TEXT PRIMARY KEY, body TEXT NOT NULL);

INSERT INTO communities (id, name, config, api_access_token, can_self_join_rooms) VALUES
    ('2Fh1pX0rSv4Qm8cYtT6u0ZlK9aB', 'Example', '{"keyword_filter_keywords": ["spammy spam"]}', 'plain-token', TRUE),
    ('2Fh1pX0rSv4Qm8cYtT6u0ZlK9aC', 'No token', '{}', NULL, FALSE);
INSERT INTO rooms (room_id, room_version, moderator_user_id, community_id) VALUES
    ('!a:example.org', '10', '@mod:example.org', '2Fh1pX0rSv4Qm8cYtT6u0ZlK9aB'),
    ('!b:example.org', '12', '', NULL);
INSERT INTO keyword_templates VALUES ('spam', '{{ .Body }}');
INSERT INTO trust_data VALUES ('muninn_hall', '', '{"server_names": ["a.example"]}'),
    ('creator', '!b:example.org', '{"creator_user_ids": ["@c:example.org"]}');
INSERT INTO events (event_id, is_probably_spam, confidence_vectors) VALUES ('$x', TRUE, '{"h:spam": 1.0}');
"#;

#[tokio::test]
async fn imports_policyserv_database_into_sqlite() {
    let name = format!("palisade_test_policyserv_{}_{:08x}", std::process::id(), rand::random::<u32>());
    let Some(url) = create_pg_database(&name).await else { return };
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(POLICYSERV_SCHEMA).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let target = SqliteStore::open("sqlite::memory:").await.unwrap();
    let report = import_policyserv(&url, &target).await.unwrap();
    // Re-running is harmless.
    assert_eq!(import_policyserv(&url, &target).await.unwrap(), report);
    drop_pg_database(&name).await;

    assert_eq!((report.communities, report.rooms, report.keyword_templates, report.trust_data), (3, 2, 1, 2));

    let example = target.get_community("2Fh1pX0rSv4Qm8cYtT6u0ZlK9aB").await.unwrap().unwrap();
    assert_eq!(example.name, "Example");
    assert_eq!(example.config, json!({"keyword_filter_keywords": ["spammy spam"]}));
    assert!(example.can_self_join_rooms);
    // The plaintext token works, but only its hash was stored.
    let by_token = target.community_by_access_token("plain-token").await.unwrap();
    assert_eq!(by_token.map(|c| c.id), Some(example.id.clone()));
    assert!(target.community_by_access_token(&hash_access_token("plain-token")).await.unwrap().is_none());

    let a = target.get_room("!a:example.org").await.unwrap().unwrap();
    assert_eq!((a.room_version.as_str(), a.community_id.as_str()), ("10", example.id.as_str()));
    assert_eq!(a.moderator_user_id.as_deref(), Some("@mod:example.org"));
    assert_eq!(a.join_state, JoinState::Joined);
    let b = target.get_room("!b:example.org").await.unwrap().unwrap();
    assert_eq!((b.community_id.as_str(), b.moderator_user_id), ("default", None));

    assert_eq!(target.get_keyword_template("spam").await.unwrap().as_deref(), Some("{{ .Body }}"));
    assert_eq!(
        target.get_trust_data("muninn_hall", "").await.unwrap(),
        Some(json!({"server_names": ["a.example"]}))
    );
    assert_eq!(
        target.get_trust_data("creator", "!b:example.org").await.unwrap(),
        Some(json!({"creator_user_ids": ["@c:example.org"]}))
    );
}
