//! Group commit: many concurrent callers, one stored verdict per event, durable answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use palisade_store::{GroupCommit, StoredVerdict, VerdictClass, VerdictLookup, VerdictWriter};

use crate::harness::{TestDb, both_backends};
use crate::verdicts::verdict;

/// 40 events, each submitted by 5 concurrent callers with different classes.
async fn concurrent_callers_agree(db: &TestDb) {
    let writer = VerdictWriter::spawn(
        db.store.clone(),
        GroupCommit { max_batch: 16, max_wait: Duration::from_millis(1), queue: 64 },
    );
    let classes = [VerdictClass::Neutral, VerdictClass::Prohibited, VerdictClass::Allowed];
    let mut tasks = Vec::new();
    for caller in 0..5 {
        for event in 0..40 {
            let writer = writer.clone();
            let v = verdict("!r:x", &format!("$e{event}"), classes[(caller + event) % 3]);
            tasks.push(tokio::spawn(async move { writer.insert(v).await }));
        }
    }
    let mut answers: HashMap<String, Vec<StoredVerdict>> = HashMap::new();
    for task in tasks {
        let stored = task.await.unwrap().unwrap();
        answers.entry(stored.event_id.clone()).or_default().push(stored);
    }
    assert_eq!(answers.len(), 40);
    let stats = writer.stats();
    eprintln!("group commit: {stats:?}");
    assert_eq!(stats.verdicts, 200);
    assert!(stats.batches < stats.verdicts, "concurrent inserts were grouped: {stats:?}");
    // Every answer is durable: a separate handle (another instance) reads the same verdict.
    let other = db.reopen().await;
    for (event_id, stored) in &answers {
        assert_eq!(stored.len(), 5);
        assert!(stored.iter().all(|s| s == &stored[0]), "callers of {event_id} disagree: {stored:?}");
        let lookup = other.get_verdict("!r:x", event_id, None).await.unwrap();
        assert_eq!(lookup, VerdictLookup::Found(stored[0].clone()));
    }
    other.close().await;
}

/// Two instances, each with its own writer, racing on the same events.
async fn two_instances_race(db: &TestDb) {
    let other = db.reopen().await;
    let writers = [
        VerdictWriter::spawn(db.store.clone(), GroupCommit::default()),
        VerdictWriter::spawn(Arc::clone(&other), GroupCommit::default()),
    ];
    let mut tasks = Vec::new();
    for event in 0..30 {
        for (i, writer) in writers.iter().enumerate() {
            let class = if i == 0 { VerdictClass::Neutral } else { VerdictClass::Prohibited };
            let (writer, v) = (writer.clone(), verdict("!r:x", &format!("$race{event}"), class));
            tasks.push(tokio::spawn(async move { writer.insert(v).await }));
        }
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    for pair in results.chunks(2) {
        assert_eq!(pair[0], pair[1], "one evaluation wins at both instances");
    }
    other.close().await;
}

both_backends!(concurrent_callers_agree, two_instances_race);

/// SQLite's verdict inserts leave the WAL checkpoint to `upkeep`, so a commit returns (and its callers are
/// answered) without waiting for one; `upkeep` then copies the WAL into the database file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_after_answering_not_in_the_commit() {
    let db = crate::harness::sqlite().await;
    let inserts = db.store.blocking_verdict_inserts().expect("SQLite files insert on the writer's thread");
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let file_len = || std::fs::metadata(&file).expect("database file").len();
    let before = file_len();
    // Single-verdict commits, each a few WAL pages, to well past the checkpoint threshold (250 pages).
    for event in 0..300 {
        inserts
            .insert_verdicts_if_absent(&[verdict("!r:x", &format!("$wal{event}"), VerdictClass::Neutral)])
            .unwrap();
    }
    assert_eq!(file_len(), before, "no commit checkpointed: the new pages are all in the WAL");
    inserts.upkeep();
    assert!(file_len() > before, "upkeep copied the WAL into the database file");
    let other = db.reopen().await;
    let lookup = other.get_verdict("!r:x", "$wal299", None).await.unwrap();
    assert!(matches!(lookup, VerdictLookup::Found(_)), "{lookup:?}");
    other.close().await;
    db.cleanup().await;
}

/// The group-commit loop does that upkeep itself: the WAL of a SQLite store written only through it is
/// checkpointed as it goes, and does not grow without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writer_checkpoints_as_it_goes() {
    let db = crate::harness::sqlite().await;
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let before = std::fs::metadata(&file).expect("database file").len();
    let writer = VerdictWriter::spawn(db.store.clone(), GroupCommit::default());
    for event in 0..300 {
        writer.insert(verdict("!r:x", &format!("$loop{event}"), VerdictClass::Neutral)).await.unwrap();
    }
    let after = std::fs::metadata(&file).expect("database file").len();
    assert!(after > before, "the writer checkpointed: the database file grew from {before} to {after} bytes");
    db.cleanup().await;
}

/// The group-commit loop also keeps SQLite's verdict index: past a few thousand verdicts their keys are written out
/// as a run, and every verdict is still found, through a fresh handle too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writer_writes_the_verdict_index_as_it_goes() {
    let db = crate::harness::sqlite().await;
    let writer = VerdictWriter::spawn(db.store.clone(), GroupCommit::default());
    let events = 5_000;
    let mut tasks = Vec::new();
    for event in 0..events {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            writer.insert(verdict("!r:x", &format!("$run{event}"), VerdictClass::Neutral)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // The run is written between batches; the last batch's upkeep may still be under way.
    let mut runs = Vec::new();
    for _ in 0..200 {
        runs = db.query_texts("SELECT CAST(entries AS TEXT) FROM verdict_key_runs").await;
        if !runs.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(runs.len(), 1, "one run of level 0: {runs:?}");
    let other = db.reopen().await;
    for event in [0, 1, 2_500, events - 1] {
        let lookup = other.get_verdict("!r:x", &format!("$run{event}"), None).await.unwrap();
        assert!(matches!(lookup, VerdictLookup::Found(_)), "$run{event}: {lookup:?}");
    }
    other.close().await;
    db.cleanup().await;
}
