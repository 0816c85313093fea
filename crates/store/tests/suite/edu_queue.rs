//! The outbound EDU queue: leases, pinned transaction IDs, ack, failure backoff, catch-up.

use palisade_store::{EduRetry, edu_retry_delay_ms};
use serde_json::{Value, json};

use crate::harness::{TestDb, both_backends};

fn edu(n: u32) -> Value {
    json!({"edu_type": "m.typing", "content": {"n": n}})
}

fn contents(batch: &palisade_store::EduBatch) -> Vec<Value> {
    batch.edus.iter().map(|e| e.edu.clone()).collect()
}

const LEASE: i64 = 60_000;

async fn batches_ack_and_retry_with_same_txn(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.take_edu_batch("hs.example", 10, 0, LEASE).await.unwrap(), None, "unknown destination");
    for n in 0..3 {
        s.enqueue_edu("hs.example", &edu(n), 0).await.unwrap();
    }
    assert_eq!(s.destinations_needing_catchup(0).await.unwrap(), vec!["hs.example".to_owned()]);

    let first = s.take_edu_batch("hs.example", 2, 0, LEASE).await.unwrap().unwrap();
    assert_eq!(contents(&first), vec![edu(0), edu(1)], "oldest first, at most max");
    assert!(s.take_edu_batch("hs.example", 2, 1, LEASE).await.unwrap().is_none(), "leased to one sender");
    assert!(s.destinations_needing_catchup(1).await.unwrap().is_empty());

    // Failure: EDUs stay, the destination backs off, the retry reuses the transaction.
    let retry = s.fail_edu_batch("hs.example", &first.txn_id, 100).await.unwrap();
    assert_eq!(retry, EduRetry { failures: 1, next_attempt_ms: 100 + edu_retry_delay_ms(1) });
    assert!(s.take_edu_batch("hs.example", 2, 101, LEASE).await.unwrap().is_none(), "backing off");
    assert!(s.destinations_needing_catchup(101).await.unwrap().is_empty());
    let later = retry.next_attempt_ms;
    assert_eq!(s.destinations_needing_catchup(later).await.unwrap(), vec!["hs.example".to_owned()]);
    let again = s.take_edu_batch("hs.example", 2, later, LEASE).await.unwrap().unwrap();
    assert_eq!(again, first, "same transaction ID and EDUs on retry");

    let second_failure = s.fail_edu_batch("hs.example", &again.txn_id, later).await.unwrap();
    assert_eq!(second_failure.failures, 2);
    let at = second_failure.next_attempt_ms;
    let third = s.take_edu_batch("hs.example", 2, at, LEASE).await.unwrap().unwrap();

    // Success: the batch is deleted, backoff reset, the rest goes in a new transaction.
    assert_eq!(s.ack_edu_batch("hs.example", &third.txn_id).await.unwrap(), 2);
    let rest = s.take_edu_batch("hs.example", 2, at, LEASE).await.unwrap().unwrap();
    assert_ne!(rest.txn_id, first.txn_id);
    assert_eq!(contents(&rest), vec![edu(2)]);
    assert_eq!(s.ack_edu_batch("hs.example", &rest.txn_id).await.unwrap(), 1);
    assert!(s.destinations_needing_catchup(at).await.unwrap().is_empty());
    assert!(s.take_edu_batch("hs.example", 2, at, LEASE).await.unwrap().is_none(), "queue drained");
    // A late duplicate ack removes nothing.
    assert_eq!(s.ack_edu_batch("hs.example", &rest.txn_id).await.unwrap(), 0);
}

async fn expired_lease_is_taken_over(db: &TestDb) {
    let s = &db.store;
    s.enqueue_edu("hs.example", &edu(1), 0).await.unwrap();
    let crashed = s.take_edu_batch("hs.example", 10, 0, 1_000).await.unwrap().unwrap();
    assert!(s.take_edu_batch("hs.example", 10, 999, 1_000).await.unwrap().is_none());
    // The first sender died without acking: after its lease the batch is offered again, same txn.
    let taken_over = s.take_edu_batch("hs.example", 10, 1_000, 1_000).await.unwrap().unwrap();
    assert_eq!(taken_over, crashed);
}

async fn destinations_are_independent(db: &TestDb) {
    let s = &db.store;
    s.enqueue_edu("a.example", &edu(1), 0).await.unwrap();
    s.enqueue_edu("b.example", &edu(2), 0).await.unwrap();
    let a = s.take_edu_batch("a.example", 10, 0, LEASE).await.unwrap().unwrap();
    s.fail_edu_batch("a.example", &a.txn_id, 0).await.unwrap();
    assert_eq!(s.destinations_needing_catchup(1).await.unwrap(), vec!["b.example".to_owned()]);
    let b = s.take_edu_batch("b.example", 10, 1, LEASE).await.unwrap().unwrap();
    assert_eq!(contents(&b), vec![edu(2)]);
    // EDUs queued while a destination backs off wait for the backoff too.
    s.enqueue_edu("a.example", &edu(3), 2).await.unwrap();
    assert!(s.take_edu_batch("a.example", 10, 2, LEASE).await.unwrap().is_none());
}

/// Senders at two instances race for one destination: exactly one gets the batch.
async fn concurrent_takers_get_one_lease(db: &TestDb) {
    let other = db.reopen().await;
    db.store.enqueue_edu("hs.example", &edu(1), 0).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { db.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move { store.take_edu_batch("hs.example", 10, 0, LEASE).await }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    other.close().await;
}

both_backends!(
    batches_ack_and_retry_with_same_txn,
    expired_lease_is_taken_over,
    destinations_are_independent,
    concurrent_takers_get_one_lease
);
