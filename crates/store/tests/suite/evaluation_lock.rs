//! One evaluation per event across instances: PostgreSQL makes a second instance wait for the
//! first one's lock; SQLite (one process) needs no lock at all.

use std::time::Duration;

use palisade_store::Backend;

use crate::harness::{TestDb, both_backends};

async fn a_second_instance_waits_for_the_first_ones_evaluation(db: &TestDb) {
    let first = db.store.lock_evaluation("!r:x", "$e").await.unwrap();
    if db.backend() == Backend::Sqlite {
        assert!(!first.is_held());
        // Nothing is held, so a second caller is not held up.
        let second = db.store.lock_evaluation("!r:x", "$e").await.unwrap();
        assert!(!second.is_held());
        return;
    }
    assert!(first.is_held());
    let other = db.reopen().await;
    // Another event is not blocked by this one.
    let unrelated = tokio::time::timeout(Duration::from_secs(2), other.lock_evaluation("!r:x", "$f"))
        .await
        .expect("other events are not blocked")
        .unwrap();
    drop(unrelated);
    // The same event waits until the first lock is dropped.
    let waiter = {
        let other = other.clone();
        tokio::spawn(async move { other.lock_evaluation("!r:x", "$e").await.map(|lock| lock.is_held()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the second instance must wait for the first");
    drop(first);
    let held = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("released when the first lock is dropped")
        .unwrap()
        .unwrap();
    assert!(held);
    other.close().await;
}

both_backends!(a_second_instance_waits_for_the_first_ones_evaluation);
