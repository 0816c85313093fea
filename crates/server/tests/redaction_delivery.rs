//! Refusals' redaction requests delivered to local fake servers:
//!
//! * the signed `redact` command, queued as a to-device EDU, reaches a fake homeserver over HTTPS with
//!   `PUT /_matrix/federation/v1/send/{txnId}`; the fake checks the X-Matrix signature against the key Palisade
//!   publishes at `/_matrix/key/v2/server`, and the bot's command against the key at
//!   `/.well-known/matrix/policy_server`. While the receiver is down or failing the EDU stays queued and is retried
//!   with backoff; it leaves the queue after the receiver's 200.
//! * the legacy redaction with a moderator's access token reaches a fake client-server API.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use std::{
    net::IpAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes, to_bytes},
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use palisade_federation::{
    EduDelivery, EduSender, EduSenderSettings, FederationClient, FederationConfig, Keyring, KeyringConfig,
    NetworkPolicy, StaticResolver, StoreKeyCache, WellKnownConfig, membership::Membership,
};
use palisade_matrix::{
    OwnedServerName, ServerName, SigningKey,
    keys::lenient_base64,
    policy_command,
    x_matrix::{RequestTarget, XMatrixAuth},
};
use palisade_server::{
    federation_setup::Federation,
    http::{
        AppState, Services,
        federation::{DiscardPdus, InboundFederation, InboundSettings},
        router,
    },
    key_files::ServerKeyPair,
    notify::{
        ModeratorRedactor, WebhookRetry,
        moderator::{self, Redaction},
        to_device,
    },
    outside::{AddressGuard, OutsideHttp},
    rooms::Rooms,
    sign::{Evaluator, RateLimiter},
};
use palisade_store::{JoinState, Room};
use serde_json::{Value, json};
use tower::ServiceExt;

const US: &str = "palisade.example.org";

/// Palisade's state (its router publishes the keys) with a federation client that trusts the test CA and may reach
/// loopback, resolving `mod.test` to 127.0.0.1.
async fn palisade(ca_file: PathBuf) -> AppState {
    let server_name: OwnedServerName = US.try_into().unwrap();
    let keys = ServerKeyPair {
        federation: Arc::new(SigningKey::from_seed(&[11; 32], "a_fed").unwrap()),
        policy: SigningKey::from_seed(&[12; 32], "policy_server").unwrap(),
    };
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let resolver = StaticResolver::new().with_host("mod.test", IpAddr::from([127, 0, 0, 1]));
    let config = FederationConfig {
        network_policy: NetworkPolicy::from_cidrs(["127.0.0.1/32"], Vec::<&str>::new()).unwrap(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        extra_ca_files: vec![ca_file],
        well_known: WellKnownConfig { port: free_port(), ..WellKnownConfig::default() },
        ..FederationConfig::default()
    };
    let client = Arc::new(
        FederationClient::new(server_name.clone(), keys.federation.clone(), Arc::new(resolver), config)
            .unwrap(),
    );
    let keyring = Arc::new(Keyring::new(
        client.clone(),
        Arc::new(StoreKeyCache::new(store.clone())),
        KeyringConfig::default(),
    ));
    let membership = Membership::new(client.clone(), keyring.clone(), store.clone(), keys.federation.clone());
    let rooms = Arc::new(Rooms::new(
        membership,
        store.clone(),
        "@policyserv:palisade.example.org".try_into().unwrap(),
        None,
    ));
    AppState::from(Services {
        server_name,
        keys: Arc::new(keys),
        store,
        federation: Federation { client, keyring },
        evaluator: Arc::new(Evaluator::default()),
        sign_limiter: Arc::new(RateLimiter::default()),
        sign_shedder: Arc::default(),
        inbound: InboundFederation { pdu_sink: Arc::new(DiscardPdus), settings: InboundSettings::default() },
        rooms,
    })
}

/// A throwaway CA and a certificate for `mod.test`, as PEM files; returns (CA file, TLS server config).
fn pki(dir: &std::path::Path) -> (PathBuf, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["mod.test".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    let (ca_file, cert_file, key_file) = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (ca_file, palisade_server::tls::load_server_config(&cert_file, &key_file).unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GETs a JSON document from Palisade's own router, as a remote server would.
async fn published(state: &AppState, path: &str) -> Value {
    let response =
        router(state.clone()).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    serde_json::from_slice(&to_bytes(response.into_body(), 1 << 20).await.unwrap()).unwrap()
}

fn key_bytes(base64: &str) -> [u8; 32] {
    lenient_base64::decode(base64).unwrap().try_into().unwrap()
}

/// The fake homeserver: 500 while `failing` is above zero (counting down), then 200. It keeps every transaction
/// it accepted and counts requests whose X-Matrix signature did not verify against `origin_key`.
#[derive(Clone)]
struct Homeserver {
    name: String,
    origin_key: (String, [u8; 32]),
    failing: Arc<AtomicU32>,
    attempts: Arc<Mutex<Vec<String>>>,
    accepted: Arc<Mutex<Vec<(String, Value)>>>,
    bad_signatures: Arc<AtomicU32>,
}

async fn receive(
    State(hs): State<Homeserver>,
    Path(txn_id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| XMatrixAuth::parse(h).ok());
    let path = uri.path_and_query().unwrap().as_str().to_owned();
    let our_name = <&ServerName>::try_from(hs.name.as_str()).unwrap();
    let verified = auth.is_some_and(|auth| {
        auth.origin == US
            && auth.key_id == hs.origin_key.0
            && auth
                .verify(RequestTarget { method: "PUT", uri: &path, body: &body }, our_name, &hs.origin_key.1)
                .is_ok()
    });
    if !verified {
        hs.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, r#"{"errcode":"M_UNAUTHORIZED","error":"bad signature"}"#)
            .into_response();
    }
    hs.attempts.lock().unwrap().push(txn_id.clone());
    if hs.failing.load(Ordering::SeqCst) > 0 {
        hs.failing.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, r#"{"errcode":"M_UNKNOWN","error":"busy"}"#)
            .into_response();
    }
    hs.accepted.lock().unwrap().push((txn_id, serde_json::from_slice(&body).unwrap()));
    axum::Json(json!({"pdus": {}})).into_response()
}

#[tokio::test]
async fn the_signed_redact_command_reaches_the_bots_homeserver_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, tls) = pki(dir.path());
    let state = palisade(ca_file).await;
    let port = free_port(); // nothing listens there yet: the bot's homeserver is down
    let hs_name = format!("mod.test:{port}");
    let bot = format!("@bot:{hs_name}");

    // What Palisade publishes: the federation key (signs requests) and the policy key (signs commands).
    let server_keys = published(&state, "/_matrix/key/v2/server").await;
    let (key_id, key) = server_keys["verify_keys"].as_object().unwrap().iter().next().unwrap();
    let origin_key = (key_id.clone(), key_bytes(key["key"].as_str().unwrap()));
    let policy_key = key_bytes(
        published(&state, "/.well-known/matrix/policy_server").await["public_keys"]["ed25519"]
            .as_str()
            .unwrap(),
    );

    to_device::queue_redact(
        state.store.as_ref(),
        US,
        &state.keys.policy,
        "@policyserv:palisade.example.org",
        &bot,
        "!room:example.org",
        "$spam",
        0,
    )
    .await;
    let sender =
        EduSender::new(state.federation.client.clone(), state.store.clone(), EduSenderSettings::default());

    // Down: connection refused, kept and backed off (5 s).
    let down = sender.run_once(1_000).await;
    assert!(
        matches!(&down[..], [(d, EduDelivery::Retrying { failures: 1, next_attempt_ms: 6_000, .. })] if *d == hs_name),
        "{down:?}"
    );
    assert!(sender.run_once(5_999).await.is_empty(), "backing off");

    // Back, but failing once more before it accepts.
    let hs = Homeserver {
        name: hs_name.clone(),
        origin_key,
        failing: Arc::new(AtomicU32::new(1)),
        attempts: Arc::default(),
        accepted: Arc::default(),
        bad_signatures: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let app =
        Router::new().route("/_matrix/federation/v1/send/{txn_id}", put(receive)).with_state(hs.clone());
    tokio::spawn(async move {
        axum::serve(palisade_server::tls::TlsListener::new(listener, tls).unwrap(), app).await
    });

    let failed = sender.run_once(6_000).await;
    assert!(
        matches!(&failed[..], [(_, EduDelivery::Retrying { failures: 2, next_attempt_ms: 16_000, .. })]),
        "{failed:?}"
    );
    assert!(hs.accepted.lock().unwrap().is_empty());
    assert_eq!(
        state.store.destinations_needing_catchup(16_000).await.unwrap(),
        vec![hs_name.clone()],
        "still queued"
    );

    let delivered = sender.run_once(16_000).await;
    assert!(matches!(&delivered[..], [(_, EduDelivery::Delivered { edus: 1, .. })]), "{delivered:?}");
    assert!(
        state.store.destinations_needing_catchup(i64::MAX / 2).await.unwrap().is_empty(),
        "gone after the 200"
    );
    assert!(sender.run_once(i64::MAX / 2).await.is_empty());

    assert_eq!(hs.bad_signatures.load(Ordering::SeqCst), 0);
    let attempts = hs.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    let accepted = hs.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    let (txn_id, body) = &accepted[0];
    assert_eq!(attempts, [txn_id.clone(), txn_id.clone()], "a retry resends the same transaction");
    assert_eq!(body["origin"], US);
    assert_eq!(body["pdus"], json!([]));
    let edus = body["edus"].as_array().unwrap();
    assert_eq!(edus.len(), 1);
    assert_eq!(edus[0]["edu_type"], "m.direct_to_device");
    let content = &edus[0]["content"];
    assert_eq!(content["sender"], "@policyserv:palisade.example.org");
    assert_eq!(content["type"], "org.matrix.policyserv.command");
    assert!(content["message_id"].as_str().is_some_and(|id| !id.is_empty()));
    let command = &content["messages"][&bot]["*"];
    assert_eq!(
        (&command["command"], &command["room_id"], &command["event_id"]),
        (&json!("redact"), &json!("!room:example.org"), &json!("$spam"))
    );
    policy_command::verify_command(command, US, &policy_key).unwrap();
}

/// A redaction the fake client-server API received: path, `Authorization` header, body.
type SeenRedaction = (String, Option<String>, Value);

/// The fake client-server API: `whoami` for one token, redactions recorded; 503 while `failing` counts down.
#[derive(Clone, Default)]
struct ClientApi {
    failing: Arc<AtomicU32>,
    redactions: Arc<Mutex<Vec<SeenRedaction>>>,
}

const TOKEN: &str = "syt_moderator_secret";

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).map(str::to_owned)
}

async fn whoami(headers: HeaderMap) -> Response {
    if bearer(&headers).as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, r#"{"errcode":"M_UNKNOWN_TOKEN","error":"no"}"#).into_response();
    }
    axum::Json(json!({"user_id": "@mod:mod.example.net"})).into_response()
}

async fn redact(
    State(api): State<ClientApi>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if api.failing.load(Ordering::SeqCst) > 0 {
        api.failing.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = serde_json::from_slice(&body).unwrap();
    api.redactions.lock().unwrap().push((uri.path().to_owned(), bearer(&headers), body));
    axum::Json(json!({"event_id": "$redaction"})).into_response()
}

fn outside_http() -> OutsideHttp {
    let guard = Arc::new(AddressGuard::new(NetworkPolicy::default(), vec!["127.0.0.1/32".parse().unwrap()]));
    let resolver = StaticResolver::new().with_host("cs.test", IpAddr::from([127, 0, 0, 1]));
    OutsideHttp::new(guard, Arc::new(resolver), Duration::from_secs(2)).unwrap()
}

fn room(moderator: Option<&str>) -> Room {
    Room {
        room_id: "!room:example.org".to_owned(),
        room_version: "12".to_owned(),
        community_id: "default".to_owned(),
        join_state: JoinState::Joined,
        moderator_user_id: moderator.map(str::to_owned),
        overrides: None,
        last_state_update_ms: 0,
    }
}

fn retry() -> WebhookRetry {
    WebhookRetry {
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
        max_attempts: 10,
        poll: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn the_legacy_redaction_uses_the_moderators_token_and_is_retried() {
    let api = ClientApi::default();
    api.failing.store(1, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/_matrix/client/v3/account/whoami", get(whoami))
        .route("/_matrix/client/v3/rooms/{room}/redact/{event}/{txn}", put(redact))
        .with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let host = format!("cs.test:{port}");
    let redactor = ModeratorRedactor::new([(host.as_str(), TOKEN)]).with_plain_http();
    // The sender is on the moderator's server: skipped (assumed blocked there); no moderator: nothing.
    redactor
        .queue(store.as_ref(), &room(Some("@mod:mod.example.net")), "@spammer:mod.example.net", "$a", 1)
        .await;
    redactor.queue(store.as_ref(), &room(None), "@spammer:evil.example", "$a", 1).await;
    assert_eq!(store.outbox_len(moderator::KIND).await.unwrap(), 0);
    redactor
        .queue(store.as_ref(), &room(Some("@mod:mod.example.net")), "@spammer:evil.example", "$spam:x", 1)
        .await;
    assert_eq!(store.outbox_len(moderator::KIND).await.unwrap(), 1);

    let worker = moderator::spawn_worker(store.clone(), outside_http(), redactor, retry());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while api.redactions.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "not redacted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.abort();
    let redactions = api.redactions.lock().unwrap().clone();
    assert_eq!(redactions.len(), 1, "{redactions:?}");
    let (path, auth, body) = &redactions[0];
    assert_eq!(
        path,
        "/_matrix/client/v3/rooms/%21room%3Aexample.org/redact/%24spam%3Ax/policyserv_%24spam%3Ax"
    );
    assert_eq!(auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(body, &json!({"reason": "Detected as probable spam"}));
    assert_eq!(store.outbox_len(moderator::KIND).await.unwrap(), 0);
}

#[tokio::test]
async fn a_moderator_without_a_token_or_on_a_private_address_is_dropped() {
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let api = ClientApi::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/_matrix/client/v3/account/whoami", get(whoami)).with_state(api.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The token belongs to @mod, the room's moderator is someone else: nothing can redact for them.
    let host = format!("cs.test:{port}");
    let redactor = ModeratorRedactor::new([(host.as_str(), TOKEN)]).with_plain_http();
    redactor.queue(store.as_ref(), &room(Some("@other:mod.example.net")), "@s:evil.example", "$e", 1).await;
    let items = store.take_outbox(moderator::KIND, 10, 2, 1_000).await.unwrap();
    let outcome = redactor.deliver(store.as_ref(), &outside_http(), &retry(), &items[0], 2).await;
    assert!(
        matches!(&outcome, Redaction::Dropped(reason) if reason.contains("no access token")),
        "{outcome:?}"
    );

    // A homeserver host on a private address: the SSRF guard refuses it before connecting.
    let private = ModeratorRedactor::new([("10.0.0.1:8008", TOKEN)]).with_plain_http();
    private.queue(store.as_ref(), &room(Some("@mod:mod.example.net")), "@s:evil.example", "$f", 3).await;
    let items = store.take_outbox(moderator::KIND, 10, 4, 1_000).await.unwrap();
    let outcome = private.deliver(store.as_ref(), &outside_http(), &retry(), &items[0], 4).await;
    // whoami cannot be asked there, so the token identifies nobody: dropped, nothing sent.
    assert!(
        matches!(&outcome, Redaction::Dropped(reason) if reason.contains("no access token")),
        "{outcome:?}"
    );
    assert!(!format!("{outcome:?}").contains(TOKEN), "the token never appears in errors");
    assert!(api.redactions.lock().unwrap().is_empty());
}
