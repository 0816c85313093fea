//! Online backup (SQLite `VACUUM INTO`); PostgreSQL refuses and points at pg_dump.

use palisade_store::{Backend, StoreError, backup_database, open};

use crate::harness::{TestDb, both_backends};
use crate::rooms::room;

async fn backup_is_a_usable_copy(db: &TestDb) {
    db.store.put_room(&room("!r:x", "default")).await.unwrap();
    db.store.put_keyword_template("t", "body").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup.db");
    let result = db.store.backup_to(&target).await;
    match db.backend() {
        Backend::Postgres => {
            assert!(matches!(result, Err(StoreError::Unsupported { .. })), "{result:?}");
        }
        Backend::Sqlite => {
            result.unwrap();
            // The live store keeps working, and the copy opens as a store with the same data.
            db.store.put_keyword_template("after", "x").await.unwrap();
            let copy = open(&format!("sqlite://{}", target.display())).await.unwrap();
            assert!(copy.get_room("!r:x").await.unwrap().is_some());
            assert_eq!(copy.get_keyword_template("t").await.unwrap().as_deref(), Some("body"));
            assert_eq!(copy.get_keyword_template("after").await.unwrap(), None);
            copy.close().await;
        }
    }
}

/// `backup_database` (used by `palisade db backup`) copies by URL while the store stays open, without migrating.
async fn backup_by_url_while_the_store_is_open(db: &TestDb) {
    db.store.put_keyword_template("t", "body").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("by-url.db");
    let result = backup_database(&db.url, &target).await;
    match db.backend() {
        Backend::Postgres => {
            let err = result.unwrap_err();
            assert!(
                matches!(err, StoreError::Unsupported { .. }) && err.to_string().contains("pg_dump"),
                "{err}"
            );
            assert!(!target.exists());
        }
        Backend::Sqlite => {
            result.unwrap();
            let copy = open(&format!("sqlite://{}", target.display())).await.unwrap();
            assert_eq!(copy.get_keyword_template("t").await.unwrap().as_deref(), Some("body"));
            copy.close().await;
            // An existing file is never overwritten.
            let again = backup_database(&db.url, &target).await.unwrap_err();
            assert!(again.to_string().contains("existing file"), "{again}");
        }
    }
    let missing = format!("sqlite://{}", dir.path().join("absent.db").display());
    assert!(backup_database(&missing, &dir.path().join("x.db")).await.is_err());
    assert!(!dir.path().join("absent.db").exists(), "a missing database is not created");
    assert!(backup_database("sqlite::memory:", &dir.path().join("m.db")).await.is_err());
}

both_backends!(backup_is_a_usable_copy, backup_by_url_while_the_store_is_open);
