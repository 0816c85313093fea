//! Inbound federation transaction idempotency.

use serde_json::json;

use crate::harness::{TestDb, both_backends};

async fn first_response_is_kept(db: &TestDb) {
    assert_eq!(db.store.get_txn_response("origin.example", "t1").await.unwrap(), None);
    let first = json!({"pdus": {"$a": {}}});
    let stored = db.store.put_txn_response("origin.example", "t1", &first, 100).await.unwrap();
    assert_eq!(stored, first);
    let again = db.store.put_txn_response("origin.example", "t1", &json!({"pdus": {}}), 200).await.unwrap();
    assert_eq!(again, first, "a retried transaction gets the original response");
    assert_eq!(db.store.get_txn_response("origin.example", "t1").await.unwrap(), Some(first));
    // Transaction IDs are per origin.
    assert_eq!(db.store.get_txn_response("other.example", "t1").await.unwrap(), None);
}

both_backends!(first_response_is_kept);
