//! Community webhooks through the durable outbox, against local fake receivers: queued before sending, retried
//! with backoff while the receiver is down or failing, delivered once it is back (also by another store handle,
//! as after a restart), and never sent to a private address or a domain the operator did not allow.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use std::{
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use palisade_federation::{NetworkPolicy, StaticResolver};
use palisade_policy::{ContentClass, Verdict};
use palisade_server::{
    notify::{
        WebhookNotifier, WebhookRetry, WebhookSettings,
        webhook::{Delivery, KIND, deliver},
    },
    outside::{AddressGuard, OutsideHttp},
};
use serde_json::{Value, json};

/// Answers 503 to the first `failures` requests, then 200; keeps what it accepted.
#[derive(Clone, Default)]
struct Receiver {
    failures: u32,
    seen: Arc<AtomicU32>,
    accepted: Arc<Mutex<Vec<Value>>>,
}

async fn hook(State(receiver): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
    let n = receiver.seen.fetch_add(1, Ordering::SeqCst);
    if n < receiver.failures {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    receiver.accepted.lock().unwrap().push(body);
    StatusCode::OK
}

async fn serve_on(port: u16, receiver: Receiver) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let app = Router::new().route("/hook", post(hook)).with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

fn http(resolve_to: IpAddr) -> OutsideHttp {
    let guard = Arc::new(AddressGuard::new(NetworkPolicy::default(), vec!["127.0.0.1/32".parse().unwrap()]));
    let resolver = StaticResolver::new().with_host("hooks.test", resolve_to);
    OutsideHttp::new(guard, Arc::new(resolver), Duration::from_secs(2)).unwrap()
}

fn settings(port: u16) -> WebhookSettings {
    WebhookSettings { allowed_domains: vec![format!("hooks.test:{port}")], allow_plain_http: true }
}

fn refusal() -> (Value, Verdict) {
    let event = json!({"event_id": "$spam", "sender": "@spammer:evil.example", "type": "m.room.message",
                       "origin_server_ts": 1, "content": {"body": "buy now"}});
    (event, Verdict::new(ContentClass::Prohibited, &["org.matrix.msc4456.spam"]))
}

fn fast_retry() -> WebhookRetry {
    WebhookRetry {
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
        max_attempts: 100,
        poll: Duration::from_millis(20),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_for_a_while_gets_the_webhook_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
    let port = free_port(); // nothing listens there yet: the receiver is down
    let hook_url = format!("http://hooks.test:{port}/hook");

    // Queued by one store handle, delivered by another (a restart, or another instance).
    let first = palisade_store::open(&url).await.unwrap();
    let (event, verdict) = refusal();
    WebhookNotifier::new(settings(port))
        .refused(first.as_ref(), &hook_url, "!room:example.org", &event, &verdict, 7)
        .await;
    assert_eq!(first.outbox_len(KIND).await.unwrap(), 1);
    first.close().await;

    let store = palisade_store::open(&url).await.unwrap();
    let worker = palisade_server::notify::spawn_worker(
        store.clone(),
        http(IpAddr::from([127, 0, 0, 1])),
        settings(port),
        fast_retry(),
    );
    // Down: connection refused, retried, still queued.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.outbox_len(KIND).await.unwrap(), 1, "kept while the receiver is down");

    // Back, but failing twice more before it accepts.
    let receiver = Receiver { failures: 2, ..Receiver::default() };
    serve_on(port, receiver.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.accepted.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not delivered after the receiver came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.abort();
    assert_eq!(receiver.seen.load(Ordering::SeqCst), 3, "two failures, then one delivery, and no repeat");
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["text"], "This event requires HTML.");
    assert!(accepted[0]["html"].as_str().unwrap().contains("@spammer:evil.example"));
    assert_eq!(accepted[0]["palisade"]["event_id"], "$spam");
    assert_eq!(accepted[0]["palisade"]["harms"], json!(["org.matrix.msc4456.spam"]));
    assert_eq!(store.outbox_len(KIND).await.unwrap(), 0);
}

#[tokio::test]
async fn a_webhook_name_resolving_to_a_private_address_is_refused_and_dropped() {
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let port = free_port();
    let receiver = Receiver::default();
    serve_on(port, receiver.clone()).await;
    let (event, verdict) = refusal();
    let hook_url = format!("http://hooks.test:{port}/hook");
    WebhookNotifier::new(settings(port))
        .refused(store.as_ref(), &hook_url, "!r:x", &event, &verdict, 1)
        .await;
    let items = store.take_outbox(KIND, 10, 1, 1_000).await.unwrap();
    // The allowed name points at 10.0.0.1: the guard refuses it before connecting; retrying cannot help.
    let outcome = deliver(
        store.as_ref(),
        &http(IpAddr::from([10, 0, 0, 1])),
        &settings(port),
        &fast_retry(),
        &items[0],
        2,
    )
    .await;
    let Delivery::Dropped(reason) = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("refused"), "{reason}");
    assert_eq!(store.outbox_len(KIND).await.unwrap(), 0);
    assert_eq!(receiver.seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn only_allowed_https_domains_are_queued() {
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let (event, verdict) = refusal();
    let strict = WebhookNotifier::new(WebhookSettings {
        allowed_domains: vec!["hooks.example.org".to_owned()],
        allow_plain_http: false,
    });
    for url in
        ["", "http://hooks.example.org/x", "https://elsewhere.example/x", "https://hooks.example.org:444/x"]
    {
        strict.refused(store.as_ref(), url, "!r:x", &event, &verdict, 1).await;
    }
    assert_eq!(store.outbox_len(KIND).await.unwrap(), 0);
    let neutral = Verdict::new(ContentClass::Neutral, &[] as &[&str]);
    strict.refused(store.as_ref(), "https://hooks.example.org/x", "!r:x", &event, &neutral, 1).await;
    assert_eq!(store.outbox_len(KIND).await.unwrap(), 0, "neutral verdicts send nothing");
    strict.refused(store.as_ref(), "https://hooks.example.org/x", "!r:x", &event, &verdict, 1).await;
    assert_eq!(store.outbox_len(KIND).await.unwrap(), 1);
}
