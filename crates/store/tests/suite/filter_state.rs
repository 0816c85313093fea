//! Shared filter state: hellbans with expiry and sliding-window frequency counters.

use palisade_store::{GroupCommit, VerdictClass, VerdictWriter};

use crate::harness::{TestDb, both_backends};
use crate::verdicts::verdict;

async fn hellbans_expire_and_extend(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.hellban_expiry("c1", "@u:x", 0).await.unwrap(), None);
    s.hellban("c1", "@u:x", 1_000).await.unwrap();
    assert_eq!(s.hellban_expiry("c1", "@u:x", 999).await.unwrap(), Some(1_000));
    assert_eq!(s.hellban_expiry("c1", "@u:x", 1_000).await.unwrap(), None, "expired at its expiry time");
    assert_eq!(s.hellban_expiry("c2", "@u:x", 500).await.unwrap(), None, "per community");

    s.hellban("c1", "@u:x", 5_000).await.unwrap();
    s.hellban("c1", "@u:x", 2_000).await.unwrap();
    assert_eq!(s.hellban_expiry("c1", "@u:x", 1_500).await.unwrap(), Some(5_000), "longer ban kept");

    assert!(s.lift_hellban("c1", "@u:x").await.unwrap());
    assert!(!s.lift_hellban("c1", "@u:x").await.unwrap());
    assert_eq!(s.hellban_expiry("c1", "@u:x", 1_500).await.unwrap(), None);
}

async fn frequency_window_slides(db: &TestDb) {
    let s = &db.store;
    let hit = |key: &'static str, now: i64| s.record_and_count("c1", "ff", key, now, 100);
    assert_eq!(hit("@u:x", 0).await.unwrap(), 1);
    assert_eq!(hit("@u:x", 10).await.unwrap(), 2);
    assert_eq!(hit("@other:x", 20).await.unwrap(), 1, "keys are counted separately");
    assert_eq!(hit("@u:x", 50).await.unwrap(), 3);
    // At 110 the window is (10, 110]: the hit at 0 and the one at 10 have left it.
    assert_eq!(hit("@u:x", 110).await.unwrap(), 2);
    assert_eq!(s.count_recent("c1", "ff", "@u:x", 110, 100).await.unwrap(), 2);
    assert_eq!(s.count_recent("c1", "ff", "@u:x", 1_000, 100).await.unwrap(), 0);
    assert_eq!(s.count_recent("c1", "fm", "@u:x", 110, 100).await.unwrap(), 0, "counters are separate");
    assert_eq!(s.count_recent("c2", "ff", "@u:x", 110, 100).await.unwrap(), 0, "communities are separate");
    // A hit dated in the future (clock skew between instances) still counts.
    assert_eq!(s.record_and_count("c1", "ff", "@skew:x", 5_000, 100).await.unwrap(), 1);
    assert_eq!(s.count_recent("c1", "ff", "@skew:x", 1_000, 100).await.unwrap(), 1);
}

/// Two handles on one database (two instances) share the counts and hellbans.
async fn state_is_shared_between_handles(db: &TestDb) {
    let other = db.reopen().await;
    assert_eq!(db.store.record_and_count("c1", "ff", "@u:x", 1_000, 60_000).await.unwrap(), 1);
    assert_eq!(other.record_and_count("c1", "ff", "@u:x", 1_001, 60_000).await.unwrap(), 2);
    assert_eq!(db.store.record_and_count("c1", "ff", "@u:x", 1_002, 60_000).await.unwrap(), 3);
    db.store.hellban("c1", "@u:x", 10_000).await.unwrap();
    assert_eq!(other.hellban_expiry("c1", "@u:x", 2_000).await.unwrap(), Some(10_000));
    other.close().await;
}

/// Hellban lookups are answered from memory; a ban or lift written by another instance or process (the CLI, or
/// SQL by hand) is seen within a few seconds all the same: at once by PostgreSQL's `NOTIFY`, within the watch's
/// poll by SQLite.
async fn hellbans_written_elsewhere_are_seen(db: &TestDb) {
    let other = db.reopen().await;
    assert_eq!(db.store.hellban_expiry("c1", "@u:x", 0).await.unwrap(), None, "loads the (empty) table");
    other.hellban("c1", "@u:x", i64::MAX).await.unwrap();
    let seen = async {
        while db.store.hellban_expiry("c1", "@u:x", 0).await.unwrap().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(4), seen).await.expect("ban seen within 4 s");
    assert!(other.lift_hellban("c1", "@u:x").await.unwrap());
    let lifted = async {
        while db.store.hellban_expiry("c1", "@u:x", 0).await.unwrap().is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(4), lifted).await.expect("lift seen within 4 s");
    db.exec_raw("INSERT INTO hellbans (community_id, user_id, expires_at_ms) VALUES ('c2', '@v:x', 7000)")
        .await;
    let by_hand = async {
        while db.store.hellban_expiry("c2", "@v:x", 0).await.unwrap().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(4), by_hand).await.expect("SQL ban seen within 4 s");
    assert_eq!(db.store.hellban_expiry("c2", "@v:x", 0).await.unwrap(), Some(7000));
    other.close().await;
}

/// A spam wave: bans of many senders at once, among verdicts being committed (on SQLite they share the verdict
/// connection's transactions). Every ban is durable when its call returns, at the later expiry where a sender
/// was banned twice, and one lifted is not written again by a later transaction.
async fn concurrent_bans_among_verdicts_are_durable(db: &TestDb) {
    let writer = VerdictWriter::spawn(db.store.clone(), GroupCommit::default());
    let mut tasks = Vec::new();
    for n in 0..60_i64 {
        let (store, writer) = (db.store.clone(), writer.clone());
        tasks.push(tokio::spawn(async move {
            writer.insert(verdict("!r:x", &format!("$spam{n}"), VerdictClass::Prohibited)).await.unwrap();
            store.hellban("c1", &format!("@s{}:x", n % 40), 1_000 + n).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(db.store.lift_hellban("c1", "@s0:x").await.unwrap());
    writer.insert(verdict("!r:x", "$after-lift", VerdictClass::Neutral)).await.unwrap();
    db.store.hellban("c1", "@late:x", 5_000).await.unwrap();

    let other = db.reopen().await;
    assert_eq!(other.hellban_expiry("c1", "@s0:x", 0).await.unwrap(), None, "lifted stays lifted");
    for user in 1..40_i64 {
        let expected = if user < 20 { 1_040 + user } else { 1_000 + user };
        assert_eq!(other.hellban_expiry("c1", &format!("@s{user}:x"), 0).await.unwrap(), Some(expected));
    }
    assert_eq!(other.hellban_expiry("c1", "@late:x", 0).await.unwrap(), Some(5_000));
    other.close().await;
}

both_backends!(
    concurrent_bans_among_verdicts_are_durable,
    hellbans_expire_and_extend,
    frequency_window_slides,
    state_is_shared_between_handles,
    hellbans_written_elsewhere_are_seen
);
