//! Config change notification: PostgreSQL reaches every instance, SQLite every subscriber in-process.

use std::sync::Arc;
use std::time::Duration;

use palisade_store::{Backend, Community, ConfigChange, JoinState, StateEvent, Store};
use serde_json::json;
use tokio::sync::broadcast;

use crate::harness::{TestDb, both_backends};
use crate::rooms::room;

/// The next change, failing the test if none arrives within a second.
async fn next(rx: &mut broadcast::Receiver<ConfigChange>) -> ConfigChange {
    tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .expect("change seen within 1 s")
        .expect("channel open")
}

/// The store that observes changes made through `db.store`: another instance for PostgreSQL;
/// for SQLite (in-process notification) the same store.
async fn observer(db: &TestDb) -> Arc<dyn Store> {
    match db.backend() {
        Backend::Postgres => db.reopen().await,
        Backend::Sqlite => db.store.clone(),
    }
}

async fn changes_reach_subscribers(db: &TestDb) {
    let observer = observer(db).await;
    let mut rx = observer.subscribe_changes().await.unwrap();
    let writer = &db.store;

    writer.put_community(&Community::new("c1", "One")).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::Community("c1".to_owned()));
    writer.set_community_config("c1", &json!({"x": 1})).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::Community("c1".to_owned()));

    writer.put_room(&room("!r:x", "c1")).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::Room("!r:x".to_owned()));
    writer.set_room_overrides("!r:x", Some(&json!({"y": 2}))).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::Room("!r:x".to_owned()));
    writer.set_room_join_state("!r:x", JoinState::Left).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::Room("!r:x".to_owned()));

    writer.put_keyword_template("t", "body").await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::KeywordTemplate("t".to_owned()));

    // Room state is announced, for cached room snapshots (and the policy lists they read).
    let topic = StateEvent {
        event_type: "m.room.topic".to_owned(),
        state_key: String::new(),
        event_id: "$topic".to_owned(),
        event: json!({"type": "m.room.topic", "state_key": "", "content": {"topic": "t"}}),
    };
    writer.put_state_events("!r:x", std::slice::from_ref(&topic)).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::RoomState("!r:x".to_owned()));
    writer.replace_room_state("!r:x", &[topic], 5).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::RoomState("!r:x".to_owned()));
    writer.replace_room_state("!r:x", &[], 6).await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::RoomState("!r:x".to_owned()));

    // Other writes are not announced.
    writer.hellban("c1", "@u:x", 10).await.unwrap();
    writer.delete_room("!r:x").await.unwrap();
    assert_eq!(next(&mut rx).await, ConfigChange::Room("!r:x".to_owned()), "deletion is the next change");
    if !Arc::ptr_eq(&observer, writer) {
        observer.close().await;
    }
}

both_backends!(changes_reach_subscribers);

/// PostgreSQL only: when the LISTEN connection dies, subscribers are told to resync and
/// notifications resume once the listener has reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listener_reconnects_and_asks_for_resync() {
    let Some(db) = crate::harness::postgres().await else { return };
    let observer = db.reopen().await;
    let mut rx = observer.subscribe_changes().await.unwrap();
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    db.exec_raw(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{database}' AND query LIKE 'LISTEN%'"
    ))
    .await;
    let resync = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("resync within 5 s");
    assert_eq!(resync.unwrap(), ConfigChange::Resync);
    // Keep changing until one arrives: the listener re-LISTENs after its reconnect.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no change seen after reconnect");
        db.store.put_keyword_template("after-reconnect", "x").await.unwrap();
        match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            Ok(Ok(ConfigChange::KeywordTemplate(name))) => {
                assert_eq!(name, "after-reconnect");
                break;
            }
            Ok(Ok(ConfigChange::Resync)) | Err(_) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
    observer.close().await;
    db.cleanup().await;
}

/// SQLite: a write by another process on the same file (here: a second store on it, with its own connections) is
/// announced as a resync within a couple of seconds, so the server's caches see changes made with the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_announces_writes_by_other_processes_as_resync() {
    let db = crate::harness::sqlite().await;
    let mut rx = db.store.subscribe_changes().await.unwrap();
    let other = db.reopen().await;
    other.put_community(&Community::new("c2", "Two")).await.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await.expect("announced within 3 s");
    assert_eq!(change.unwrap(), ConfigChange::Resync);
    other.close().await;
}

/// SQLite: this process's own hellbans and verdicts, written together for a few polls of the watch, are not taken
/// for another process's writes (a resync reloads every room context and the hellban mirror). Written on the
/// second connection, each ban had moved the verdict connection's `data_version`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_own_hellbans_among_verdicts_are_no_resync() {
    let db = crate::harness::sqlite().await;
    let mut rx = db.store.subscribe_changes().await.unwrap();
    let writer =
        palisade_store::VerdictWriter::spawn(db.store.clone(), palisade_store::GroupCommit::default());
    let until = tokio::time::Instant::now() + Duration::from_millis(2_500);
    let mut n = 0;
    while tokio::time::Instant::now() < until {
        let spam =
            crate::verdicts::verdict("!r:x", &format!("$spam{n}"), palisade_store::VerdictClass::Prohibited);
        writer.insert(spam).await.unwrap();
        db.store.hellban("c1", &format!("@s{n}:x"), i64::MAX).await.unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Empty)), "no change announced");
    db.cleanup().await;
}
