//! Online backup (SQLite `VACUUM INTO`); PostgreSQL refuses and points at pg_dump.

use palisade_store::{Backend, StoreError, open};

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

both_backends!(backup_is_a_usable_copy);
