//! Claiming an event's evaluation: the stored verdict, read under a lock that makes a second instance wait on
//! PostgreSQL (SQLite, one process, holds nothing); many claims at once each get their own verdict.

use std::time::Duration;

use palisade_store::{Backend, StoredVerdict, VerdictClass, VerdictLookup};

use crate::harness::{TestDb, both_backends};
use crate::verdicts::verdict;

async fn a_second_instance_waits_for_the_first_ones_evaluation(db: &TestDb) {
    let first = db.store.claim_evaluation("!r:x", "$e", None).await.unwrap();
    assert_eq!(first.stored, VerdictLookup::Absent);
    if db.backend() == Backend::Sqlite {
        assert!(!first.lock.is_held());
        // Nothing is held, so a second caller is not held up.
        let second = db.store.claim_evaluation("!r:x", "$e", None).await.unwrap();
        assert!(!second.lock.is_held());
        return;
    }
    assert!(first.lock.is_held());
    let other = db.reopen().await;
    // Another event is not blocked by this one.
    let unrelated = tokio::time::timeout(Duration::from_secs(2), other.claim_evaluation("!r:x", "$f", None))
        .await
        .expect("other events are not blocked")
        .unwrap();
    drop(unrelated);
    // The same event waits until the first claim is dropped, and then sees the verdict stored under it.
    let waiter = {
        let other = other.clone();
        tokio::spawn(async move { other.claim_evaluation("!r:x", "$e", None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the second instance must wait for the first");
    let decided = verdict("!r:x", "$e", VerdictClass::Neutral);
    db.store.insert_verdict_if_absent(&decided).await.unwrap();
    drop(first);
    let second = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("released when the first claim is dropped")
        .unwrap()
        .unwrap();
    assert!(second.lock.is_held());
    assert_eq!(second.stored, VerdictLookup::Found(decided));
    // Closing waits for held claims.
    drop(second);
    other.close().await;
}

/// Claims made at one moment (on PostgreSQL, batched into shared transactions) each get their own event's verdict.
async fn concurrent_claims_each_get_their_own_verdict(db: &TestDb) {
    let stored: Vec<StoredVerdict> =
        (0..50).map(|i| verdict("!r:x", &format!("$e{i}"), VerdictClass::Neutral)).collect();
    db.store.insert_verdicts_if_absent(&stored).await.unwrap();
    let claims: Vec<_> = (0..200)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(
                async move { store.claim_evaluation("!r:x", &format!("$e{i}"), None).await.unwrap() },
            )
        })
        .collect();
    let mut held = Vec::new();
    for (i, claim) in claims.into_iter().enumerate() {
        let claim = claim.await.unwrap();
        match claim.stored {
            VerdictLookup::Found(found) if i < 50 => assert_eq!(found, stored[i]),
            VerdictLookup::Absent if i >= 50 => {}
            other => panic!("claim {i} gave {other:?}"),
        }
        assert_eq!(claim.lock.is_held(), db.backend() == Backend::Postgres);
        held.push(claim.lock);
    }
}

async fn a_reused_event_id_is_a_mismatch_through_a_claim(db: &TestDb) {
    let mut v1 = verdict("!r:x", "$reused", VerdictClass::Neutral);
    v1.reference_hash = Some("hash-a".to_owned());
    db.store.insert_verdict_if_absent(&v1).await.unwrap();
    let mismatch = db.store.claim_evaluation("!r:x", "$reused", Some("hash-b")).await.unwrap();
    assert_eq!(mismatch.stored, VerdictLookup::ReferenceMismatch(v1.clone()));
    drop(mismatch);
    let found = db.store.claim_evaluation("!r:x", "$reused", Some("hash-a")).await.unwrap();
    assert_eq!(found.stored, VerdictLookup::Found(v1));
}

both_backends!(
    a_second_instance_waits_for_the_first_ones_evaluation,
    concurrent_claims_each_get_their_own_verdict,
    a_reused_event_id_is_a_mismatch_through_a_claim
);
