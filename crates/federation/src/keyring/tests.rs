//! The keyring against local fake origin and notary servers.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use palisade_matrix::{OwnedServerName, SigningKey, server_keys::signed_document};
use serde_json::{Value, json};

use super::*;
use crate::{
    StaticResolver,
    test_support::{TestPki, client, closed_port, countersign, spawn_https, test_config},
};

/// What a fake key server serves, and how often it was asked.
#[derive(Clone, Default)]
struct FakeKeys {
    document: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
    delay: Duration,
}

impl FakeKeys {
    fn set(&self, document: Value) {
        *self.document.lock().unwrap() = document;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_document(State(fake): State<FakeKeys>) -> Json<Value> {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.delay).await;
    Json(fake.document.lock().unwrap().clone())
}

/// A notary answers with `{"server_keys": [document]}` only when asked about a server it has (non-empty body).
async fn serve_query(State(fake): State<FakeKeys>, Json(request): Json<Value>) -> Json<Value> {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    let asked = request["server_keys"].as_object().map(|o| o.len()).unwrap_or(0);
    assert_eq!(asked, 1, "one server per query: {request}");
    Json(json!({ "server_keys": [fake.document.lock().unwrap().clone()] }))
}

async fn start_origin(pki: &TestPki, fake: FakeKeys) -> SocketAddr {
    let router = Router::new().route("/_matrix/key/v2/server", get(serve_document)).with_state(fake);
    spawn_https(pki, "127.0.0.1:0".parse().unwrap(), router).await
}

async fn start_notary(pki: &TestPki, fake: FakeKeys) -> SocketAddr {
    let router = Router::new().route("/_matrix/key/v2/query", post(serve_query)).with_state(fake);
    spawn_https(pki, "127.0.0.1:0".parse().unwrap(), router).await
}

fn origin_key() -> SigningKey {
    SigningKey::from_seed(&[11; 32], "origin1").unwrap()
}

fn notary_key() -> SigningKey {
    SigningKey::from_seed(&[12; 32], "notary1").unwrap()
}

/// A far-future expiry, in ms.
const VALID_UNTIL: i64 = 4_000_000_000_000;

fn server(name: &str) -> OwnedServerName {
    name.try_into().unwrap()
}

fn notary_config(name: &str, key: &SigningKey) -> NotaryServer {
    format!("{name},{},{}", key.key_id(), key.public_key_base64()).parse().unwrap()
}

fn keyring(pki: &TestPki, config: KeyringConfig, cache: Arc<MemoryKeyCache>) -> Keyring {
    let resolver = StaticResolver::new()
        .with_host("origin.test", "127.0.0.1".parse().unwrap())
        .with_host("notary.test", "127.0.0.1".parse().unwrap());
    let client = client(resolver, test_config(pki, 1));
    Keyring::new(Arc::new(client), cache, config)
}

#[tokio::test]
async fn direct_fetch_verifies_caches_and_serves_later_calls_from_cache() {
    let pki = TestPki::new();
    let fake = FakeKeys::default();
    let port = start_origin(&pki, fake.clone()).await.port();
    let name = server(&format!("origin.test:{port}"));
    fake.set(signed_document(name.as_str(), &origin_key(), &[], VALID_UNTIL));
    let cache = Arc::new(MemoryKeyCache::new());
    let keyring = keyring(&pki, KeyringConfig::default(), cache.clone());

    let key = keyring.verify_key(&name, "ed25519:origin1").await.unwrap();
    assert_eq!(key, origin_key().public_key());
    assert_eq!(cache.get(name.as_str()).await.unwrap().map(|k| k.valid_until_ts), Some(VALID_UNTIL));
    // Served from the cache now.
    keyring.verify_key(&name, "ed25519:origin1").await.unwrap();
    keyring.server_keys(&name).await.unwrap();
    assert_eq!(fake.hits(), 1);
    // An unknown key ID triggers one refetch, then fails.
    let unknown = keyring.verify_key(&name, "ed25519:nope").await.unwrap_err();
    assert!(matches!(unknown, KeyFetchError::UnknownKey { .. }), "{unknown}");
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn direct_fetch_refuses_forged_and_unsigned_documents() {
    let pki = TestPki::new();
    let fake = FakeKeys::default();
    let port = start_origin(&pki, fake.clone()).await.port();
    let name = server(&format!("origin.test:{port}"));
    let keyring = keyring(&pki, KeyringConfig::default(), Arc::new(MemoryKeyCache::new()));

    let mut forged = signed_document(
        name.as_str(),
        &SigningKey::from_seed(&[99; 32], "origin1").unwrap(),
        &[],
        VALID_UNTIL,
    );
    forged["verify_keys"]["ed25519:origin1"]["key"] = json!(origin_key().public_key_base64());
    let mut unsigned = signed_document(name.as_str(), &origin_key(), &[], VALID_UNTIL);
    unsigned["signatures"] = json!({});
    let other_server = signed_document("someone.else", &origin_key(), &[], VALID_UNTIL);
    for document in [forged, unsigned, other_server] {
        fake.set(document.clone());
        let error = keyring.fetch_server_keys(&name).await.unwrap_err();
        assert!(matches!(error, KeyFetchError::AllFailed { .. }), "{document}: {error}");
    }
}

#[tokio::test]
async fn notary_fetch_checks_both_signatures() {
    let pki = TestPki::new();
    let fake = FakeKeys::default();
    let notary_port = start_notary(&pki, fake.clone()).await.port();
    let notary_name = format!("notary.test:{notary_port}");
    let origin = server("origin.test:1");
    let document = signed_document(origin.as_str(), &origin_key(), &[], VALID_UNTIL);
    fake.set(countersign(document.clone(), &notary_name, &notary_key()));

    let config = KeyringConfig { direct: false, notaries: vec![notary_config(&notary_name, &notary_key())] };
    let keyring = keyring(&pki, config, Arc::new(MemoryKeyCache::new()));
    let keys = keyring.fetch_server_keys(&origin).await.unwrap();
    assert_eq!(keys.verify_keys, BTreeMap::from([("ed25519:origin1".to_owned(), origin_key().public_key())]));

    // Configured with another notary key: refused.
    let wrong = KeyringConfig {
        direct: false,
        notaries: vec![notary_config(&notary_name, &SigningKey::from_seed(&[13; 32], "notary1").unwrap())],
    };
    let keyring = self::keyring(&pki, wrong, Arc::new(MemoryKeyCache::new()));
    assert!(keyring.fetch_server_keys(&origin).await.is_err());

    // The notary's signature alone is not enough: the document must be the origin's own.
    let mut invented = document;
    invented["signatures"] = json!({});
    fake.set(countersign(invented, &notary_name, &notary_key()));
    let config = KeyringConfig { direct: false, notaries: vec![notary_config(&notary_name, &notary_key())] };
    let keyring = self::keyring(&pki, config, Arc::new(MemoryKeyCache::new()));
    assert!(keyring.fetch_server_keys(&origin).await.is_err());
}

#[tokio::test]
async fn direct_failure_falls_back_to_the_notary() {
    let pki = TestPki::new();
    let fake = FakeKeys::default();
    let notary_port = start_notary(&pki, fake.clone()).await.port();
    let notary_name = format!("notary.test:{notary_port}");
    // Nothing listens at the origin.
    let origin = server(&format!("origin.test:{}", closed_port().await));
    let document = signed_document(origin.as_str(), &origin_key(), &[], VALID_UNTIL);
    fake.set(countersign(document, &notary_name, &notary_key()));
    let config = KeyringConfig { direct: true, notaries: vec![notary_config(&notary_name, &notary_key())] };
    let keyring = keyring(&pki, config, Arc::new(MemoryKeyCache::new()));
    assert_eq!(keyring.verify_key(&origin, "ed25519:origin1").await.unwrap(), origin_key().public_key());
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn concurrent_fetches_for_one_server_make_one_request() {
    let pki = TestPki::new();
    let fake = FakeKeys { delay: Duration::from_millis(200), ..FakeKeys::default() };
    let port = start_origin(&pki, fake.clone()).await.port();
    let name = server(&format!("origin.test:{port}"));
    fake.set(signed_document(name.as_str(), &origin_key(), &[], VALID_UNTIL));
    let keyring = keyring(&pki, KeyringConfig::default(), Arc::new(MemoryKeyCache::new()));
    let (a, b, c, d) = tokio::join!(
        keyring.fetch_server_keys(&name),
        keyring.fetch_server_keys(&name),
        keyring.server_keys(&name),
        keyring.verify_key(&name, "ed25519:origin1"),
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok() && d.is_ok());
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn expired_cache_entries_are_refetched() {
    let pki = TestPki::new();
    let fake = FakeKeys::default();
    let port = start_origin(&pki, fake.clone()).await.port();
    let name = server(&format!("origin.test:{port}"));
    fake.set(signed_document(name.as_str(), &origin_key(), &[], VALID_UNTIL));
    let cache = Arc::new(MemoryKeyCache::new());
    let stale = ServerKeys {
        server_name: name.to_string(),
        verify_keys: BTreeMap::from([("ed25519:origin1".to_owned(), [0; 32])]),
        old_verify_keys: Vec::new(),
        valid_until_ts: 1,
    };
    cache.put(&stale).await.unwrap();
    let keyring = keyring(&pki, KeyringConfig::default(), cache);
    assert_eq!(keyring.verify_key(&name, "ed25519:origin1").await.unwrap(), origin_key().public_key());
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn without_sources_fetching_is_an_error() {
    let pki = TestPki::new();
    let config = KeyringConfig { direct: false, notaries: Vec::new() };
    let keyring = keyring(&pki, config, Arc::new(MemoryKeyCache::new()));
    assert_eq!(keyring.fetch_server_keys(&server("origin.test")).await, Err(KeyFetchError::NoSources));
}

/// The server spawns these futures on a multi-threaded runtime, so they must be `Send`.
#[tokio::test]
async fn client_and_keyring_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_shareable<T: Send + Sync + 'static>() {}
    assert_shareable::<Keyring>();
    assert_shareable::<crate::FederationClient>();
    let pki = TestPki::new();
    let keyring = keyring(&pki, KeyringConfig::default(), Arc::new(MemoryKeyCache::new()));
    let name = server("origin.test");
    assert_send(&keyring.fetch_server_keys(&name));
    assert_send(&keyring.verify_key(&name, "ed25519:x"));
    let client = client(StaticResolver::new(), test_config(&pki, 1));
    assert_send(&client.get_json::<Value>(&name, "/"));
    assert_send(&client.post_json::<Value, _>(&name, "/", &json!({})));
}

/// The publicly known private key (Go math/rand seed 0) whose public half is `KNOWN_UNSAFE_PUBLIC_KEYS[0]`.
fn unsafe_key() -> SigningKey {
    const SEED0: [u8; 32] = [
        0x01, 0x94, 0xfd, 0xc2, 0xfa, 0x2f, 0xfc, 0xc0, 0x41, 0xd3, 0xff, 0x12, 0x04, 0x5b, 0x73, 0xc8, 0x6e,
        0x4f, 0xf9, 0x5f, 0xf6, 0x62, 0xa5, 0xee, 0xe8, 0x2a, 0xbd, 0xf4, 0x4a, 0x2d, 0x0b, 0x75,
    ];
    SigningKey::from_seed(&SEED0, "unsafe").unwrap()
}

#[tokio::test]
async fn known_unsafe_keys_are_never_handed_out() {
    let pki = TestPki::new();
    let fake = FakeKeys::default();
    let port = start_origin(&pki, fake.clone()).await.port();
    let name = server(&format!("origin.test:{port}"));
    let unsafe_key = unsafe_key();
    assert!(palisade_matrix::keys::is_known_unsafe(&unsafe_key.public_key()));
    // A correctly self-signed document: anyone holding the public seed can make one for any server name.
    fake.set(signed_document(name.as_str(), &unsafe_key, &[], VALID_UNTIL));
    let cache = Arc::new(MemoryKeyCache::new());
    let keyring = keyring(&pki, KeyringConfig::default(), cache.clone());
    let error = keyring.verify_key(&name, "ed25519:unsafe").await.unwrap_err();
    assert!(matches!(error, KeyFetchError::UnsafeKey { .. }), "{error}");
    // Also when the key comes from the cache.
    let error = keyring.verify_key(&name, "ed25519:unsafe").await.unwrap_err();
    assert!(matches!(error, KeyFetchError::UnsafeKey { .. }), "{error}");
    assert!(!palisade_matrix::keys::is_known_unsafe(&origin_key().public_key()));
}
