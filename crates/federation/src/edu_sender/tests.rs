//! The EDU sender against a local HTTPS homeserver that checks our X-Matrix signature, records transactions and
//! can be made to fail.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::put,
};
use palisade_matrix::x_matrix::{RequestTarget, XMatrixAuth};
use serde_json::{Value, json};

use super::*;
use crate::{
    StaticResolver,
    test_support::{TestPki, client, client_key, closed_port, spawn_https, test_config},
};

/// The fake receiver: answers 503 while `failing` is above zero (counting down), then 200.
#[derive(Clone, Default)]
struct Receiver {
    failing: Arc<AtomicU32>,
    /// `(txn_id, body)` of every correctly signed request, accepted or not.
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    /// Bodies of accepted transactions.
    accepted: Arc<Mutex<Vec<(String, Value)>>>,
    /// Requests whose signature did not verify.
    unsigned: Arc<AtomicU32>,
}

async fn send(
    State(receiver): State<Receiver>,
    Path(txn_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| XMatrixAuth::parse(h).ok());
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let verified = auth.as_ref().is_some_and(|auth| {
        let destination = auth.destination.clone().unwrap();
        let target = RequestTarget { method: "PUT", uri: &path, body: &body };
        auth.origin == "palisade.test"
            && auth.verify(target, &destination, &client_key().public_key()).is_ok()
    });
    if !verified {
        receiver.unsigned.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, r#"{"errcode":"M_UNAUTHORIZED","error":"bad signature"}"#)
            .into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap();
    receiver.seen.lock().unwrap().push((txn_id.clone(), body.clone()));
    let failing = receiver.failing.load(Ordering::SeqCst);
    if failing > 0 {
        receiver.failing.store(failing - 1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, r#"{"errcode":"M_UNKNOWN","error":"down"}"#)
            .into_response();
    }
    receiver.accepted.lock().unwrap().push((txn_id, body));
    axum::Json(json!({"pdus": {}})).into_response()
}

async fn start(pki: &TestPki, receiver: Receiver) -> SocketAddr {
    let router = Router::new().route("/_matrix/federation/v1/send/{txn_id}", put(send)).with_state(receiver);
    spawn_https(pki, "127.0.0.1:0".parse().unwrap(), router).await
}

fn to_device(n: u32) -> Value {
    json!({"edu_type": "m.direct_to_device", "content": {"message_id": format!("m{n}"), "messages": {}}})
}

async fn sender(pki: &TestPki, settings: EduSenderSettings) -> (EduSender, Arc<dyn Store>) {
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let resolver = StaticResolver::new().with_host("example.test", "127.0.0.1".parse().unwrap());
    let client = Arc::new(client(resolver, test_config(pki, closed_port().await)));
    (EduSender::new(client, store.clone(), settings), store)
}

/// Queued EDUs reach the receiver in one signed transaction and leave the queue only after its 200; while the
/// receiver fails, the same transaction is kept, backed off exponentially and resent once it is due.
#[tokio::test]
async fn delivers_after_failures_with_the_same_transaction_and_backoff() {
    let pki = TestPki::new();
    let receiver = Receiver::default();
    receiver.failing.store(2, Ordering::SeqCst);
    let address = start(&pki, receiver.clone()).await;
    let (sender, store) = sender(&pki, EduSenderSettings::default()).await;
    let destination = format!("example.test:{}", address.port());
    for n in 0..3 {
        store.enqueue_edu(&destination, &to_device(n), 0).await.unwrap();
    }

    let first = sender.send_to(&destination, 1_000).await;
    let EduDelivery::Retrying { txn_id, failures: 1, next_attempt_ms: 6_000, .. } = first.clone() else {
        panic!("{first:?}")
    };
    assert_eq!(sender.send_to(&destination, 5_999).await, EduDelivery::Idle, "backing off");
    assert!(sender.run_once(5_999).await.is_empty(), "not due yet");
    let second = sender.send_to(&destination, 6_000).await;
    assert!(
        matches!(&second, EduDelivery::Retrying { txn_id: t, failures: 2, next_attempt_ms: 16_000, .. } if *t == txn_id),
        "{second:?}"
    );
    assert_eq!(store.destinations_needing_catchup(16_000).await.unwrap(), vec![destination.clone()]);

    let results = sender.run_once(16_000).await;
    assert_eq!(
        results,
        vec![(destination.clone(), EduDelivery::Delivered { txn_id: txn_id.clone(), edus: 3 })]
    );
    assert_eq!(sender.send_to(&destination, 16_001).await, EduDelivery::Idle, "queue drained");

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|(t, _)| *t == txn_id), "one transaction ID for every attempt");
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    let body = &accepted[0].1;
    assert_eq!(body["origin"], "palisade.test");
    assert_eq!(body["origin_server_ts"], 16_000);
    assert_eq!(body["pdus"], json!([]));
    assert_eq!(body["edus"], json!([to_device(0), to_device(1), to_device(2)]));
    assert_eq!(receiver.unsigned.load(Ordering::SeqCst), 0);
}

/// Batches hold at most `batch_size` EDUs, and each batch gets its own transaction ID.
#[tokio::test]
async fn batches_get_unique_transaction_ids() {
    let pki = TestPki::new();
    let receiver = Receiver::default();
    let address = start(&pki, receiver.clone()).await;
    let settings = EduSenderSettings { batch_size: 2, ..EduSenderSettings::default() };
    let (sender, store) = sender(&pki, settings).await;
    let destination = format!("example.test:{}", address.port());
    for n in 0..5 {
        store.enqueue_edu(&destination, &to_device(n), 0).await.unwrap();
    }
    let mut delivered = Vec::new();
    loop {
        match sender.send_to(&destination, 10).await {
            EduDelivery::Delivered { txn_id, edus } => delivered.push((txn_id, edus)),
            EduDelivery::Idle => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delivered.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [2, 2, 1]);
    let mut ids: Vec<&String> = delivered.iter().map(|(t, _)| t).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{delivered:?}");
    let accepted = receiver.accepted.lock().unwrap().clone();
    let all: Vec<Value> = accepted.iter().flat_map(|(_, b)| b["edus"].as_array().unwrap().clone()).collect();
    assert_eq!(all, (0..5).map(to_device).collect::<Vec<_>>(), "in queue order");
}

/// A destination the SSRF guard refuses is never connected to; its EDUs are dropped (retrying cannot help).
#[tokio::test]
async fn refused_addresses_are_dropped_without_connecting() {
    let pki = TestPki::new();
    let receiver = Receiver::default();
    let address = start(&pki, receiver.clone()).await;
    let (sender, store) = sender(&pki, EduSenderSettings::default()).await;
    // 10.0.0.1 is outside the loopback-only test policy.
    let destination = "10.0.0.1:8448";
    store.enqueue_edu(destination, &to_device(1), 0).await.unwrap();
    let outcome = sender.send_to(destination, 1).await;
    assert!(
        matches!(&outcome, EduDelivery::Dropped { reason, .. } if reason.contains("denied")),
        "{outcome:?}"
    );
    assert!(store.destinations_needing_catchup(i64::MAX / 2).await.unwrap().is_empty());
    assert!(receiver.seen.lock().unwrap().is_empty());
    let _ = address;
}
