//! Each step of the spec's list, with an in-memory DNS and a local HTTPS well-known server.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode, Uri, header},
    response::IntoResponse,
    routing::get,
};

use super::*;
use crate::{
    FederationClient, StaticResolver,
    test_support::{TestPki, client, closed_port, spawn_https, test_config},
};

const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A client whose well-known lookups go to a closed port (so they fail fast) unless `well_known_port` is given.
async fn client_with(resolver: StaticResolver, well_known_port: Option<u16>) -> FederationClient {
    let pki = TestPki::new();
    let port = match well_known_port {
        Some(port) => port,
        None => closed_port().await,
    };
    client(resolver, test_config(&pki, port))
}

#[tokio::test]
async fn step_1_ip_literals_with_and_without_port() {
    let client = client_with(StaticResolver::new(), None).await;
    let cases = [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1:8448"),
        ("127.0.0.1:1234", "127.0.0.1", "127.0.0.1:1234"),
        ("[::1]", "[::1]", "[::1]:8448"),
        ("[::1]:1234", "[::1]", "[::1]:1234"),
    ];
    for (name, tls_name, address) in cases {
        let destination = client.discovery().resolve(name).await.unwrap();
        assert_eq!(destination.step, Step::IpLiteral, "{name}");
        assert_eq!(destination.host_header, name);
        assert_eq!(destination.tls_name, tls_name);
        assert_eq!(destination.addresses, vec![addr(address)]);
        assert!(destination.is_ip_literal());
    }
}

#[tokio::test]
async fn step_2_explicit_port_resolves_the_hostname_without_well_known() {
    let resolver = StaticResolver::new()
        .with_host("example.test", LOCALHOST)
        .with_host("example.test", "::1".parse().unwrap())
        // An SRV record must be ignored when a port is given.
        .with_srv("_matrix-fed._tcp.example.test", 0, 0, 9999, "example.test");
    let client = client_with(resolver, None).await;
    let destination = client.discovery().resolve("Example.test:1234").await.unwrap();
    assert_eq!(destination.step, Step::ExplicitPort);
    assert_eq!(destination.host_header, "Example.test:1234");
    assert_eq!(destination.tls_name, "example.test");
    assert_eq!(destination.addresses, vec![addr("127.0.0.1:1234"), addr("[::1]:1234")]);
    assert_eq!(destination.delegated_to, None);
}

#[tokio::test]
async fn step_4_srv_matrix_fed_in_priority_then_weight_order() {
    let resolver = StaticResolver::new()
        .with_srv("_matrix-fed._tcp.srv.test", 20, 0, 3000, "late.test")
        .with_srv("_matrix-fed._tcp.srv.test", 10, 1, 2000, "light.test")
        .with_srv("_matrix-fed._tcp.srv.test", 10, 5, 1000, "heavy.test")
        .with_srv("_matrix._tcp.srv.test", 0, 0, 4000, "legacy.test")
        .with_host("late.test", LOCALHOST)
        .with_host("light.test", LOCALHOST)
        .with_host("heavy.test", "::1".parse().unwrap())
        .with_host("legacy.test", LOCALHOST);
    let client = client_with(resolver, None).await;
    let destination = client.discovery().resolve("srv.test").await.unwrap();
    assert_eq!(destination.step, Step::SrvFederation);
    assert_eq!(destination.host_header, "srv.test");
    assert_eq!(destination.tls_name, "srv.test");
    assert_eq!(
        destination.addresses,
        vec![addr("[::1]:1000"), addr("127.0.0.1:2000"), addr("127.0.0.1:3000")]
    );
}

#[tokio::test]
async fn step_5_deprecated_matrix_srv_when_no_matrix_fed() {
    let resolver = StaticResolver::new()
        .with_srv("_matrix._tcp.old.test", 0, 0, 4000, "legacy.test")
        .with_host("legacy.test", LOCALHOST);
    let client = client_with(resolver, None).await;
    let destination = client.discovery().resolve("old.test").await.unwrap();
    assert_eq!(destination.step, Step::SrvLegacy);
    assert_eq!(destination.addresses, vec![addr("127.0.0.1:4000")]);
    assert_eq!(destination.host_header, "old.test");
}

#[tokio::test]
async fn step_6_port_8448_when_nothing_else_applies() {
    let resolver = StaticResolver::new()
        .with_srv("_matrix-fed._tcp.plain.test", 0, 0, 1, ".")
        .with_host("plain.test", LOCALHOST);
    let client = client_with(resolver, None).await;
    let destination = client.discovery().resolve("plain.test").await.unwrap();
    assert_eq!(destination.step, Step::DefaultPort);
    assert_eq!(destination.addresses, vec![addr("127.0.0.1:8448")]);
    assert_eq!(destination.host_header, "plain.test");
}

#[tokio::test]
async fn unknown_names_and_dns_failures_are_errors() {
    let resolver = StaticResolver::new().with_failure("_matrix-fed._tcp.broken.test");
    let client = client_with(resolver, None).await;
    assert_eq!(
        client.discovery().resolve("nowhere.test").await,
        Err(DiscoveryError::NoAddresses("nowhere.test".into()))
    );
    assert!(matches!(client.discovery().resolve("broken.test").await, Err(DiscoveryError::Dns(_))));
    assert!(matches!(
        client.discovery().resolve("bad name").await,
        Err(DiscoveryError::InvalidServerName(_))
    ));
}

#[tokio::test]
async fn refused_addresses_are_dropped_and_all_refused_is_denied() {
    // Loopback policy: 127.0.0.1 and ::1 allowed, everything else not.
    let resolver = StaticResolver::new()
        .with_host("mixed.test", "10.0.0.1".parse().unwrap())
        .with_host("mixed.test", LOCALHOST)
        .with_host("internal.test", "169.254.169.254".parse().unwrap())
        .with_srv("_matrix-fed._tcp.srvinternal.test", 0, 0, 80, "internal.test");
    let client = client_with(resolver, None).await;
    let mixed = client.discovery().resolve("mixed.test:80").await.unwrap();
    assert_eq!(mixed.addresses, vec![addr("127.0.0.1:80")]);
    for name in ["internal.test:80", "srvinternal.test", "10.1.1.1", "[::ffff:10.0.0.1]:80", "127.0.0.2"] {
        let error = client.discovery().resolve(name).await.unwrap_err();
        assert!(matches!(error, DiscoveryError::Denied(_)), "{name}: {error}");
        assert!(error.to_string().contains("is denied"), "{error}");
    }
}

/// A well-known server answering per `Host`, counting requests.
async fn well_known_server(pki: &TestPki, hits: Arc<AtomicUsize>) -> SocketAddr {
    let handler = move |uri: Uri, headers: HeaderMap| {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            // HTTP/1.1 sends `Host`; HTTP/2 sends the authority in the request URI instead.
            let host =
                headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(uri.host()).unwrap_or_default();
            let host = host.split(':').next().unwrap_or_default().to_owned();
            let json = |server: &str| {
                ([(header::CONTENT_TYPE, "application/json")], format!(r#"{{"m.server":"{server}"}}"#))
                    .into_response()
            };
            match host.as_str() {
                "wk-ip.test" => json("127.0.0.1:9999"),
                "wk-port.test" => json("delegated.test:7777"),
                "wk-srv.test" => json("srvdelegated.test"),
                "wk-legacy.test" => json("legacydelegated.test"),
                "wk-default.test" => json("defaultdelegated.test"),
                "wk-bad.test" => json("not a server name!"),
                "wk-redirect.test" => {
                    (StatusCode::FOUND, [(header::LOCATION, "https://wk-port.test/")]).into_response()
                }
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    spawn_https(pki, addr("127.0.0.1:0"), Router::new().route("/.well-known/matrix/server", get(handler)))
        .await
}

/// (server name, delegated to, step, host header, TLS name, address)
type Case<'a> = (&'a str, Option<&'a str>, Step, &'a str, &'a str, &'a str);

#[tokio::test]
async fn step_3_well_known_delegation_then_each_sub_step() {
    let pki = TestPki::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let server = well_known_server(&pki, hits.clone()).await;
    let mut resolver = StaticResolver::new()
        .with_host("delegated.test", LOCALHOST)
        .with_srv("_matrix-fed._tcp.srvdelegated.test", 0, 0, 5555, "target.test")
        .with_srv("_matrix._tcp.legacydelegated.test", 0, 0, 6666, "target.test")
        .with_host("target.test", LOCALHOST)
        .with_host("defaultdelegated.test", LOCALHOST)
        // The delegating names' own SRV records must not be used once a delegation exists.
        .with_srv("_matrix-fed._tcp.wk-port.test", 0, 0, 1, "target.test");
    for name in [
        "wk-ip.test",
        "wk-port.test",
        "wk-srv.test",
        "wk-legacy.test",
        "wk-default.test",
        "wk-bad.test",
        "wk-redirect.test",
    ] {
        resolver = resolver.with_host(name, LOCALHOST);
    }
    let client = client(resolver, test_config(&pki, server.port()));
    let cases: &[Case<'_>] = &[
        (
            "wk-ip.test",
            Some("127.0.0.1:9999"),
            Step::IpLiteral,
            "127.0.0.1:9999",
            "127.0.0.1",
            "127.0.0.1:9999",
        ),
        (
            "wk-port.test",
            Some("delegated.test:7777"),
            Step::ExplicitPort,
            "delegated.test:7777",
            "delegated.test",
            "127.0.0.1:7777",
        ),
        (
            "wk-srv.test",
            Some("srvdelegated.test"),
            Step::SrvFederation,
            "srvdelegated.test",
            "srvdelegated.test",
            "127.0.0.1:5555",
        ),
        (
            "wk-legacy.test",
            Some("legacydelegated.test"),
            Step::SrvLegacy,
            "legacydelegated.test",
            "legacydelegated.test",
            "127.0.0.1:6666",
        ),
        (
            "wk-default.test",
            Some("defaultdelegated.test"),
            Step::DefaultPort,
            "defaultdelegated.test",
            "defaultdelegated.test",
            "127.0.0.1:8448",
        ),
        // An invalid document, and a redirect (never followed), both fall through to steps 4–6.
        ("wk-bad.test", None, Step::DefaultPort, "wk-bad.test", "wk-bad.test", "127.0.0.1:8448"),
        (
            "wk-redirect.test",
            None,
            Step::DefaultPort,
            "wk-redirect.test",
            "wk-redirect.test",
            "127.0.0.1:8448",
        ),
    ];
    for (name, delegated, step, host_header, tls_name, address) in cases {
        let destination = client.discovery().resolve(name).await.unwrap();
        assert_eq!(destination.delegated_to.as_deref(), *delegated, "{name}");
        assert_eq!(destination.step, *step, "{name}");
        assert_eq!(destination.host_header, *host_header, "{name}");
        assert_eq!(destination.tls_name, *tls_name, "{name}");
        assert_eq!(destination.addresses, vec![addr(address)], "{name}");
        assert_eq!(destination.server_name, *name);
    }
    let fetched = hits.load(Ordering::SeqCst);
    assert_eq!(fetched, cases.len(), "the redirect target must not have been fetched");
    // Answers, including failures, are cached: resolving again fetches nothing.
    for (name, ..) in cases {
        client.discovery().resolve(name).await.unwrap();
    }
    assert_eq!(hits.load(Ordering::SeqCst), fetched);
}

#[tokio::test]
async fn well_known_is_not_fetched_from_denied_addresses() {
    let pki = TestPki::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let server = well_known_server(&pki, hits.clone()).await;
    // wk-port.test resolves to a denied loopback address: its well-known must not be fetched.
    let resolver = StaticResolver::new()
        .with_host("wk-port.test", "127.0.0.2".parse().unwrap())
        .with_host("delegated.test", LOCALHOST);
    let client = client(resolver, test_config(&pki, server.port()));
    let error = client.discovery().resolve("wk-port.test").await.unwrap_err();
    assert!(matches!(error, DiscoveryError::Denied(_)), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
