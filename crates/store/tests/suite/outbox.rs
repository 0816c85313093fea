//! The outbox: queued side effects are leased once, retried when due, and gone when acked.

use serde_json::json;

use crate::harness::{TestDb, both_backends};

async fn lease_retry_ack(db: &TestDb) {
    let store = &db.store;
    let a = store.enqueue_outbox("webhook", "https://a.example/hook", &json!({"n": 1}), 100).await.unwrap();
    let b = store.enqueue_outbox("webhook", "https://b.example/hook", &json!({"n": 2}), 100).await.unwrap();
    store.enqueue_outbox("other", "x", &json!({}), 100).await.unwrap();
    assert_eq!(store.outbox_len("webhook").await.unwrap(), 2);

    let taken = store.take_outbox("webhook", 10, 100, 1_000).await.unwrap();
    assert_eq!(taken.iter().map(|i| i.id).collect::<Vec<_>>(), [a, b]);
    assert_eq!(taken[0].payload, json!({"n": 1}));
    assert_eq!(taken[0].target, "https://a.example/hook");
    assert_eq!(taken[0].attempts, 0);
    // Leased: another worker (or instance) gets nothing until the lease ends.
    assert!(store.take_outbox("webhook", 10, 500, 1_000).await.unwrap().is_empty());
    let other = db.reopen().await;
    assert!(other.take_outbox("webhook", 10, 500, 1_000).await.unwrap().is_empty());

    // a failed: due again at 2_000, with one attempt recorded; b delivered.
    assert!(store.retry_outbox(a, 2_000, "HTTP 503").await.unwrap());
    assert!(store.ack_outbox(b).await.unwrap());
    assert!(!store.ack_outbox(b).await.unwrap());
    assert!(store.take_outbox("webhook", 10, 1_999, 1_000).await.unwrap().is_empty());
    let again = store.take_outbox("webhook", 10, 2_000, 1_000).await.unwrap();
    assert_eq!((again.len(), again[0].id, again[0].attempts), (1, a, 1));
    // An expired lease makes the item available again (its worker died).
    let after_lease = other.take_outbox("webhook", 10, 3_001, 1_000).await.unwrap();
    assert_eq!(after_lease.len(), 1);
    assert!(store.ack_outbox(a).await.unwrap());
    assert_eq!(store.outbox_len("webhook").await.unwrap(), 0);
    assert_eq!(store.outbox_len("other").await.unwrap(), 1);
}

async fn concurrent_takers_never_share_an_item(db: &TestDb) {
    for n in 0..20 {
        db.store.enqueue_outbox("webhook", "https://a.example/", &json!({"n": n}), 0).await.unwrap();
    }
    let other = db.reopen().await;
    let (x, y) = tokio::join!(
        db.store.take_outbox("webhook", 15, 10, 1_000),
        other.take_outbox("webhook", 15, 10, 1_000)
    );
    let mut ids: Vec<i64> = x.unwrap().iter().chain(y.unwrap().iter()).map(|i| i.id).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "an item was leased twice");
    assert!(total >= 15);
}

both_backends!(lease_retry_ack, concurrent_takers_never_share_an_item);
