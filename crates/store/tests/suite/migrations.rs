//! Schema migrations: idempotent re-open, refusal of a newer schema, connection settings.

use palisade_store::{Backend, SqliteStore, StoreError, open};

use crate::harness::{TestDb, both_backends};

async fn reopen_keeps_data(db: &TestDb) {
    db.store.put_keyword_template("kept", "yes").await.unwrap();
    db.store.close().await;
    let again = db.reopen().await;
    assert_eq!(again.get_keyword_template("kept").await.unwrap().as_deref(), Some("yes"));
    again.close().await;
}

async fn newer_schema_is_refused(db: &TestDb) {
    let checksum = match db.backend() {
        Backend::Postgres => "'\\x00'::bytea",
        Backend::Sqlite => "X'00'",
    };
    db.exec_raw(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, {checksum}, 0)"
    ))
    .await;
    let err = open(&db.url).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { database: 9999, binary: 5 }), "{err}");
    assert!(err.to_string().contains("9999"), "{err}");
}

async fn ping_fails_once_closed(db: &TestDb) {
    db.store.ping().await.unwrap();
    db.store.close().await;
    assert!(db.store.ping().await.is_err());
}

both_backends!(reopen_keeps_data, newer_schema_is_refused, ping_fails_once_closed);

#[tokio::test]
async fn sqlite_file_uses_wal_full_sync_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
    let settings = store.effective_settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, 2, "FULL");
    assert!(settings.foreign_keys);
    assert_eq!(settings.busy_timeout_ms, 5_000);
}

#[tokio::test]
async fn sqlite_memory_works_across_calls() {
    let store = open("sqlite::memory:").await.unwrap();
    store.put_keyword_template("t", "b").await.unwrap();
    assert_eq!(store.get_keyword_template("t").await.unwrap().as_deref(), Some("b"));
    assert_eq!(store.backend(), Backend::Sqlite);
}
