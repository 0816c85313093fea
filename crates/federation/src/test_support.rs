//! Shared pieces of the crate's tests: a local CA, HTTPS test servers on loopback, and clients configured for them.
//! All traffic stays on 127.0.0.1 / ::1.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use palisade_matrix::{OwnedServerName, SigningKey, canonical_json};

use crate::{BackoffPolicy, FederationClient, FederationConfig, NetworkPolicy, Resolver, WellKnownConfig};

mod pki;
mod tls_listener;

pub(crate) use pki::TestPki;

/// Starts `router` on HTTPS at `bind` (port 0 picks one) and returns the bound address.
pub(crate) async fn spawn_https(pki: &TestPki, bind: SocketAddr, router: axum::Router) -> SocketAddr {
    let tcp = tokio::net::TcpListener::bind(bind).await.unwrap();
    let address = tcp.local_addr().unwrap();
    let listener = tls_listener::TlsListener::new(tcp, pki.server_config());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}

/// The key our test client signs with.
pub(crate) fn client_key() -> Arc<SigningKey> {
    Arc::new(SigningKey::from_seed(&[42; 32], "client1").unwrap())
}

/// A policy allowing only loopback, as vector 62 does.
pub(crate) fn loopback_policy() -> NetworkPolicy {
    NetworkPolicy::from_cidrs(["127.0.0.1/32", "::1/128"], Vec::<&str>::new()).unwrap()
}

/// Test client settings: the local CA, short timeouts, loopback allowed, well-known on `well_known_port`.
pub(crate) fn test_config(pki: &TestPki, well_known_port: u16) -> FederationConfig {
    FederationConfig {
        network_policy: loopback_policy(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_response_bytes: 64 * 1024,
        extra_ca_files: vec![pki.ca_file()],
        backoff: BackoffPolicy { initial: Duration::from_secs(30), max: Duration::from_secs(60) },
        well_known: WellKnownConfig { port: well_known_port, ..WellKnownConfig::default() },
        user_agent: "palisade-test".to_owned(),
    }
}

/// A client named `palisade.test` over `resolver` with `config`.
pub(crate) fn client(resolver: impl Resolver + 'static, config: FederationConfig) -> FederationClient {
    let name: OwnedServerName = "palisade.test".try_into().unwrap();
    FederationClient::new(name, client_key(), Arc::new(resolver), config).unwrap()
}

/// A path for a file that lives as long as the test process.
pub(crate) fn temp_path(name: &str) -> PathBuf {
    let dir = tempfile::Builder::new().prefix("palisade-federation-").tempdir().unwrap().keep();
    dir.join(name)
}

/// Adds `name`'s signature with `key` to a JSON document, as a notary countersigns a server's key document.
pub(crate) fn countersign(
    mut document: serde_json::Value,
    name: &str,
    key: &SigningKey,
) -> serde_json::Value {
    let mut object = canonical_json::from_value(document.clone()).unwrap();
    object.remove("signatures");
    object.remove("unsigned");
    let signature = key.sign_base64(canonical_json::to_canonical_string(&object).as_bytes());
    document["signatures"][name][key.key_id()] = serde_json::json!(signature);
    document
}

/// A loopback port with nothing listening on it.
pub(crate) async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
