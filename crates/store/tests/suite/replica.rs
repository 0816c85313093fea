//! An optional PostgreSQL read replica: lag-tolerant reads go to it, everything that must be current stays on
//! the primary. Tested with a second database standing in for the replica, holding different rows, so where
//! each read went is visible.

use palisade_store::{StoreError, open_with_replica};
use serde_json::json;

use crate::harness::{postgres, sqlite};
use crate::rooms::room;
use crate::verdicts::verdict;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_tolerant_reads_go_to_the_replica_and_the_rest_to_the_primary() {
    let Some(primary) = postgres().await else { return };
    let Some(replica) = postgres().await else { return };
    primary.store.put_keyword_template("t", "primary body").await.unwrap();
    primary.store.put_trust_data("muninn_hall", "", &json!({"server_names": ["p.example"]})).await.unwrap();
    replica.store.put_keyword_template("t", "replica body").await.unwrap();
    replica.store.put_room(&room("!only-on-replica:x", "default")).await.unwrap();

    let store = open_with_replica(&primary.url, Some(&replica.url)).await.unwrap();
    // Read from the replica.
    assert_eq!(store.get_keyword_template("t").await.unwrap().as_deref(), Some("replica body"));
    assert_eq!(
        store.list_keyword_templates().await.unwrap(),
        vec![("t".to_owned(), "replica body".to_owned())]
    );
    assert_eq!(store.get_trust_data("muninn_hall", "").await.unwrap(), None);
    assert_eq!(store.list_rooms().await.unwrap().len(), 1);
    // Must be current: the primary.
    assert!(store.get_room("!only-on-replica:x").await.unwrap().is_none());
    store.put_room(&room("!r:x", "default")).await.unwrap();
    assert!(store.get_room("!r:x").await.unwrap().is_some());
    let v = verdict("!r:x", "$e", palisade_store::VerdictClass::Neutral);
    store.insert_verdict_if_absent(&v).await.unwrap();
    assert!(matches!(
        store.get_verdict("!r:x", "$e", None).await.unwrap(),
        palisade_store::VerdictLookup::Found(_)
    ));
    assert!(primary.store.get_room("!r:x").await.unwrap().is_some());
    assert!(replica.store.get_room("!r:x").await.unwrap().is_none());
    store.close().await;
    primary.cleanup().await;
    replica.cleanup().await;
}

#[tokio::test]
async fn sqlite_has_no_replica() {
    let db = sqlite().await;
    let err = open_with_replica(&db.url, Some("postgres://u@127.0.0.1/x")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unsupported { .. }), "{err}");
    // Without a replica it is plain `open`.
    open_with_replica(&db.url, None).await.unwrap().close().await;
    db.cleanup().await;
}
