//! Two instances on one PostgreSQL database: two `AppState`s, each with its own store connection pool, evaluator
//! and verdict writer, as two `palisade serve` processes behind a load balancer would have. Each test runs on a
//! fresh database (skipped with a notice when PostgreSQL is unreachable, failing when `CI=true`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use palisade_federation::{Keyring, KeyringConfig, StoreKeyCache};
use palisade_matrix::{CanonicalObject, RoomPolicy, event_id::room_id_from_create_event};
use palisade_store::{ConfigChange, Room, ServerKey, StateEvent};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use super::{
    Evaluator, SignOutcome, sign,
    test_room::{ORIGIN, US, bytes, origin, origin_key, signed, v12},
};
use crate::http::{AppState, test_support};

#[path = "../../tests/support/postgres.rs"]
mod postgres;

use postgres::ScratchDb;

/// Two instances sharing one database and one protected room.
struct Cluster {
    a: AppState,
    b: AppState,
    room_id: String,
    db: ScratchDb,
}

/// One instance: its own connection pool (migrations are applied by whichever starts first), evaluator with a
/// group-commit writer, and key cache, all on the shared database.
async fn instance(url: &str) -> AppState {
    let mut state = test_support::state().await;
    let store = palisade_store::open(url).await.unwrap();
    let cache = Arc::new(StoreKeyCache::new(store.clone()));
    state.federation.keyring =
        Arc::new(Keyring::new(state.federation.client.clone(), cache, KeyringConfig::default()));
    let writer = palisade_store::VerdictWriter::spawn(store.clone(), palisade_store::GroupCommit::default());
    state.evaluator = Arc::new(
        Evaluator::new(
            palisade_policy::CommunityConfig::default(),
            palisade_policy::InstanceSettings { local_user_id: Some(US.to_owned()), ..Default::default() },
            Vec::new(),
        )
        .with_verdict_writer(writer),
    );
    state.store = store;
    state
}

impl Cluster {
    async fn start() -> Option<Self> {
        let db = ScratchDb::create("cluster").await?;
        // Both start at once, as a deployment's instances do; the migrator serialises them.
        let (a, b) = tokio::join!(instance(&db.url), instance(&db.url));
        let create = signed(json!({
            "type": "m.room.create", "state_key": "", "sender": format!("@alice:{ORIGIN}"), "origin_server_ts": 1,
            "depth": 1, "prev_events": [], "auth_events": [], "content": {"room_version": "12"},
        }));
        let room_id = room_id_from_create_event(&create, &v12()).unwrap().to_string();
        let store = &a.store;
        store.put_room(&Room::joined(room_id.clone(), "12", "default")).await.unwrap();
        store
            .put_server_key(&ServerKey {
                server_name: ORIGIN.to_owned(),
                key_id: origin_key().key_id(),
                public_key: origin_key().public_key_base64(),
                valid_until_ts: i64::MAX / 2,
                expired_ts: None,
            })
            .await
            .unwrap();
        let policy = RoomPolicy::new(a.server_name.as_ref(), a.keys.policy.public_key());
        let cluster = Self { a, b, room_id, db };
        cluster.put_state("m.room.policy", "", policy.stable_content(), 3).await;
        cluster.put_state("m.room.member", US, json!({"membership": "join"}), 10).await;
        Some(cluster)
    }

    async fn put_state(&self, event_type: &str, state_key: &str, content: Value, depth: i64) {
        let event_id = format!("${event_type}{state_key}");
        let event = json!({
            "type": event_type, "state_key": state_key, "room_id": self.room_id, "sender": format!("@alice:{ORIGIN}"),
            "content": content, "depth": depth, "origin_server_ts": 1, "event_id": event_id,
        });
        let row = StateEvent {
            event_type: event_type.to_owned(),
            state_key: state_key.to_owned(),
            event_id,
            event,
        };
        self.a.store.put_state_events(&self.room_id, &[row]).await.unwrap();
    }

    fn message(&self, sender: &str, body: &str, depth: i64) -> CanonicalObject {
        signed(json!({
            "type": "m.room.message", "room_id": self.room_id, "sender": format!("@{sender}:{ORIGIN}"),
            "origin_server_ts": 1_700_000_000_000_i64 + depth, "depth": depth, "prev_events": ["$p"],
            "auth_events": ["$a"], "content": {"msgtype": "m.text", "body": body},
        }))
    }

    fn evaluations(&self) -> u64 {
        self.a.evaluator.evaluations() + self.b.evaluator.evaluations()
    }

    async fn verdict_rows(&self, event: &CanonicalObject) -> i64 {
        let event_id =
            palisade_matrix::Pdu::from_object(event.clone(), &v12()).unwrap().event_id().to_string();
        self.db.count(&format!("SELECT COUNT(*) FROM verdicts WHERE event_id = '{event_id}'")).await
    }

    async fn stop(self) {
        self.a.store.close().await;
        self.b.store.close().await;
        self.db.drop_database().await;
    }
}

async fn ask(state: &AppState, event: &CanonicalObject) -> SignOutcome {
    sign(state, origin(), &bytes(event)).await.unwrap()
}

/// Asks about `event` from eight servers at each instance at the same moment; every answer is the same.
async fn ask_everywhere_at_once(cluster: &Arc<Cluster>, event: &CanonicalObject) -> SignOutcome {
    let barrier = Arc::new(Barrier::new(16));
    let asks: Vec<_> = (0..16)
        .map(|i| {
            let (cluster, event, barrier) = (cluster.clone(), event.clone(), barrier.clone());
            tokio::spawn(async move {
                let state = if i % 2 == 0 { &cluster.a } else { &cluster.b };
                barrier.wait().await;
                ask(state, &event).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in asks {
        answers.push(handle.await.unwrap());
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]), "{answers:?}");
    answers.remove(0)
}

/// With the default filters a second decision would change nothing (a hellban started twice is one hellban), so
/// each instance may decide once; there is still one stored verdict and one answer everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_event_asked_at_both_instances_at_once_gets_one_answer() {
    let Some(cluster) = Cluster::start().await else { return };
    let cluster = Arc::new(cluster);
    let events =
        [cluster.message("bob", "hello from bob", 20), cluster.message("carol", "buy spammy spam now", 21)];
    for (n, event) in events.iter().enumerate() {
        let before = cluster.evaluations();
        let answer = ask_everywhere_at_once(&cluster, event).await;
        assert_eq!(answer.is_signed(), n == 0, "{answer:?}");
        assert!(cluster.evaluations() - before <= 2, "event {n}: at most once per instance");
        assert_eq!(cluster.verdict_rows(event).await, 1);
        // Later asks at either instance give the stored verdict.
        assert_eq!(ask(&cluster.b, event).await, answer);
        assert_eq!(ask(&cluster.a, event).await, answer);
    }
    Arc::into_inner(cluster).unwrap().stop().await;
}

/// A rate counter counts every decision, so with one enabled an event is decided once across both instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_counting_filter_the_same_event_is_evaluated_once_across_instances() {
    let Some(cluster) = Cluster::start().await else { return };
    let config = json!({"mention_frequency_filter_rate_limit": 100.0});
    assert!(cluster.a.store.set_community_config("default", &config).await.unwrap());
    let cluster = Arc::new(cluster);
    let events =
        [cluster.message("bob", "hello from bob", 20), cluster.message("carol", "buy spammy spam now", 21)];
    for (n, event) in events.iter().enumerate() {
        let before = cluster.evaluations();
        let answer = ask_everywhere_at_once(&cluster, event).await;
        assert_eq!(answer.is_signed(), n == 0, "{answer:?}");
        assert_eq!(cluster.evaluations() - before, 1, "event {n} evaluated once across both instances");
        assert_eq!(cluster.verdict_rows(event).await, 1);
        // Later asks at either instance read the stored verdict.
        assert_eq!(ask(&cluster.b, event).await, answer);
        assert_eq!(ask(&cluster.a, event).await, answer);
        assert_eq!(cluster.evaluations() - before, 1);
    }
    // Each instance wrote through its group-commit writer.
    let written = cluster.a.evaluator.writer_stats().verdicts + cluster.b.evaluator.writer_stats().verdicts;
    assert_eq!(written, 2);
    Arc::into_inner(cluster).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_rate_limited_at_one_instance_is_limited_at_the_other() {
    let Some(cluster) = Cluster::start().await else { return };
    // One message a minute; no hellban, so only the shared frequency window can refuse.
    let config = json!({
        "frequency_filter_rate_limit": 1.0 / 60.0,
        "frequency_filter_event_types": ["m.room.message"],
        "hellban_postfilter_minutes": 0,
    });
    assert!(cluster.a.store.set_community_config("default", &config).await.unwrap());

    let first = ask(&cluster.a, &cluster.message("dave", "first", 30)).await;
    assert!(first.is_signed(), "{first:?}");
    let second = ask(&cluster.b, &cluster.message("dave", "second", 31)).await;
    let SignOutcome::Refused { harms, expiry_ms, .. } = &second else {
        panic!("not limited at B: {second:?}")
    };
    assert!(harms.iter().any(|h| h.contains("flooding")), "{harms:?}");
    assert!(expiry_ms.is_some());
    // Only that sender: someone else is still signed at B, and at A.
    assert!(ask(&cluster.b, &cluster.message("erin", "hi", 32)).await.is_signed());
    let third = ask(&cluster.a, &cluster.message("dave", "third", 33)).await;
    assert!(!third.is_signed(), "{third:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_community_config_change_made_at_one_instance_applies_at_the_other_within_a_second() {
    let Some(cluster) = Cluster::start().await else { return };
    let mut changes = cluster.b.store.subscribe_changes().await.unwrap();
    let before = ask(&cluster.b, &cluster.message("frank", "a forbidden phrase", 40)).await;
    assert!(before.is_signed(), "{before:?}");

    let changed_at = Instant::now();
    let config = json!({"keyword_filter_keywords": ["forbidden phrase"], "hellban_postfilter_minutes": 0});
    assert!(cluster.a.store.set_community_config("default", &config).await.unwrap());
    // B is told (LISTEN/NOTIFY) ...
    let change = tokio::time::timeout(Duration::from_secs(1), changes.recv()).await.unwrap().unwrap();
    assert_eq!(change, ConfigChange::Community("default".to_owned()));
    // ... and its next decision uses the new config.
    let after = ask(&cluster.b, &cluster.message("grace", "a forbidden phrase again", 41)).await;
    let elapsed = changed_at.elapsed();
    assert!(matches!(after, SignOutcome::Refused { .. }), "{after:?}");
    assert!(elapsed < Duration::from_secs(1), "applied after {elapsed:?}");
    // Room overrides changed at B apply at A the same way.
    let overrides = json!({"keyword_filter_keywords": []});
    assert!(cluster.b.store.set_room_overrides(&cluster.room_id, Some(&overrides)).await.unwrap());
    assert!(ask(&cluster.a, &cluster.message("heidi", "a forbidden phrase once more", 42)).await.is_signed());
    cluster.stop().await;
}
