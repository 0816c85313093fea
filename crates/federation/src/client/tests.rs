//! The client against local HTTPS servers that check our X-Matrix signatures.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::OriginalUri,
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use palisade_matrix::{
    ServerName,
    x_matrix::{RequestTarget, XMatrixAuth},
};
use serde_json::{Value, json};

use super::*;
use crate::{
    StaticResolver,
    test_support::{TestPki, client, client_key, closed_port, spawn_https, test_config},
};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn name(text: &str) -> &ServerName {
    <&ServerName>::try_from(text).unwrap()
}

/// Checks the request's X-Matrix header against the test client's key and describes what arrived.
async fn verifying(
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_value = headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let Ok(auth) = XMatrixAuth::parse(header_value) else {
        return (StatusCode::UNAUTHORIZED, r#"{"errcode":"M_UNAUTHORIZED","error":"no auth"}"#)
            .into_response();
    };
    let Some(destination) = auth.destination.clone() else {
        return (StatusCode::UNAUTHORIZED, r#"{"errcode":"M_UNAUTHORIZED","error":"no destination"}"#)
            .into_response();
    };
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default().to_owned();
    let target = RequestTarget { method: method.as_str(), uri: &path_and_query, body: &body };
    if auth.verify(target, &destination, &client_key().public_key()).is_err()
        || auth.origin != "palisade.test"
    {
        return (StatusCode::UNAUTHORIZED, r#"{"errcode":"M_UNAUTHORIZED","error":"bad signature"}"#)
            .into_response();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    axum::Json(json!({
        "method": method.as_str(),
        "uri": path_and_query,
        "host": host,
        "destination": destination.as_str(),
        "body": body,
    }))
    .into_response()
}

/// A fake homeserver with a few behaviours; `hits` counts every request that reaches it.
fn homeserver(hits: Arc<AtomicUsize>) -> Router {
    let error =
        |status: StatusCode, body: &'static str| move || std::future::ready((status, body).into_response());
    Router::new()
        .route("/_matrix/federation/v1/version", any(verifying))
        .route("/echo/{*rest}", any(verifying))
        .route(
            "/forbidden",
            get(error(StatusCode::FORBIDDEN, r#"{"errcode":"M_FORBIDDEN","error":"go away"}"#)),
        )
        .route("/fail", get(error(StatusCode::BAD_GATEWAY, "<html>oops</html>")))
        .route("/big", get(|| async { axum::Json(json!({ "pad": "x".repeat(100 * 1024) })) }))
        .route("/redirect", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/forbidden")]) }))
        .route("/not-json", get(|| async { "plain text" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                hits.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ))
}

/// Starts the fake homeserver on `bind`; returns its address and hit counter.
async fn start(pki: &TestPki, bind: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let address = spawn_https(pki, addr(bind), homeserver(hits.clone())).await;
    (address, hits)
}

#[tokio::test]
async fn signed_get_verifies_on_the_server() {
    let pki = TestPki::new();
    let (server, _) = start(&pki, "127.0.0.1:0").await;
    let resolver = StaticResolver::new().with_host("example.test", server.ip());
    let client = client(resolver, test_config(&pki, closed_port().await));
    let destination = format!("example.test:{}", server.port());
    let outcome: Outcome<Value> =
        client.get_json(name(&destination), "/_matrix/federation/v1/version?a=b%20c&x=%40y").await;
    let Outcome::Ok(seen) = outcome else { panic!("{outcome:?}") };
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["uri"], "/_matrix/federation/v1/version?a=b%20c&x=%40y");
    assert_eq!(seen["host"], destination.as_str());
    assert_eq!(seen["destination"], destination.as_str());
}

#[tokio::test]
async fn put_and_post_sign_their_json_bodies() {
    let pki = TestPki::new();
    let (server, _) = start(&pki, "127.0.0.1:0").await;
    let client = client(StaticResolver::new(), test_config(&pki, closed_port().await));
    let destination = format!("127.0.0.1:{}", server.port());
    let body = json!({"pdus": [], "edus": [{"edu_type": "m.typing", "n": 1}]});
    let put: Outcome<Value> = client.put_json(name(&destination), "/echo/send/txn1", &body).await;
    let Outcome::Ok(seen) = put else { panic!("{put:?}") };
    assert_eq!((seen["method"].as_str(), &seen["body"]), (Some("PUT"), &body));
    let post: Outcome<Value> = client.post_json(name(&destination), "/echo/query", &json!({"q": 1})).await;
    let Outcome::Ok(seen) = post else { panic!("{post:?}") };
    assert_eq!((seen["method"].as_str(), &seen["body"]), (Some("POST"), &json!({"q": 1})));
    assert_eq!(seen["host"], destination.as_str());
}

#[tokio::test]
async fn ipv6_literal_destinations_work() {
    let pki = TestPki::new();
    let (server, _) = start(&pki, "[::1]:0").await;
    let client = client(StaticResolver::new(), test_config(&pki, closed_port().await));
    let destination = format!("[::1]:{}", server.port());
    let outcome: Outcome<Value> = client.get_json(name(&destination), "/_matrix/federation/v1/version").await;
    let Outcome::Ok(seen) = outcome else { panic!("{outcome:?}") };
    assert_eq!(seen["host"], destination.as_str());
}

#[tokio::test]
async fn srv_destination_connects_to_the_target_with_the_server_name_for_tls_and_host() {
    let pki = TestPki::new();
    let (server, _) = start(&pki, "127.0.0.1:0").await;
    let resolver = StaticResolver::new()
        .with_srv("_matrix-fed._tcp.example.test", 0, 0, server.port(), "target.test")
        .with_host("target.test", server.ip());
    let client = client(resolver, test_config(&pki, closed_port().await));
    let outcome: Outcome<Value> =
        client.get_json(name("example.test"), "/_matrix/federation/v1/version").await;
    let Outcome::Ok(seen) = outcome else { panic!("{outcome:?}") };
    assert_eq!(seen["host"], "example.test");
    assert_eq!(seen["destination"], "example.test");
}

#[tokio::test]
async fn errors_are_typed_outcomes() {
    let pki = TestPki::new();
    let (server, hits) = start(&pki, "127.0.0.1:0").await;
    let client = client(StaticResolver::new(), test_config(&pki, closed_port().await));
    let destination = format!("127.0.0.1:{}", server.port());
    let destination = name(&destination);

    let forbidden: Outcome<Value> = client.get_json(destination, "/forbidden").await;
    assert_eq!(
        forbidden,
        Outcome::MatrixError { status: 403, errcode: "M_FORBIDDEN".into(), error: "go away".into() }
    );
    let bad_gateway: Outcome<Value> = client.get_json(destination, "/fail").await;
    assert!(
        matches!(bad_gateway, Outcome::MatrixError { status: 502, ref errcode, .. } if errcode == "M_UNKNOWN")
    );
    let big: Outcome<Value> = client
        .request_json(
            Method::GET,
            destination,
            "/big",
            None::<&()>,
            RequestOptions { ignore_backoff: true, unsigned: false },
        )
        .await;
    assert!(matches!(big, Outcome::InvalidResponse(ref reason) if reason.contains("over")), "{big:?}");
    let not_json: Outcome<Value> = client
        .request_json(
            Method::GET,
            destination,
            "/not-json",
            None::<&()>,
            RequestOptions { ignore_backoff: true, unsigned: false },
        )
        .await;
    assert!(matches!(not_json, Outcome::InvalidResponse(_)), "{not_json:?}");
    // Redirects are returned, never followed: /forbidden is not hit a second time.
    let before = hits.load(Ordering::SeqCst);
    let redirect: Outcome<Value> = client
        .request_json(
            Method::GET,
            destination,
            "/redirect",
            None::<&()>,
            RequestOptions { ignore_backoff: true, unsigned: false },
        )
        .await;
    assert!(matches!(redirect, Outcome::MatrixError { status: 302, .. }), "{redirect:?}");
    assert_eq!(hits.load(Ordering::SeqCst), before + 1);
}

/// Catalogue vector 62: allow 127.0.0.1/32, deny 127.0.0.2/32; .2 and .3 are refused without a connection.
#[tokio::test]
async fn vector_62_denied_addresses_are_never_connected_to() {
    let pki = TestPki::new();
    let (allowed, _) = start(&pki, "127.0.0.1:0").await;
    // A listener on 127.0.0.2 that would notice any connection.
    let trap = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut config = test_config(&pki, closed_port().await);
    config.network_policy = NetworkPolicy::from_cidrs(["127.0.0.1/32"], ["127.0.0.2/32"]).unwrap();
    let resolver = StaticResolver::new().with_host("sneaky.test", "127.0.0.2".parse().unwrap());
    let client = client(resolver, config);

    let ok: Outcome<Value> = client
        .get_json(name(&format!("127.0.0.1:{}", allowed.port())), "/_matrix/federation/v1/version")
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    for destination in [
        format!("127.0.0.2:{trap_port}"),
        format!("127.0.0.3:{trap_port}"),
        format!("sneaky.test:{trap_port}"),
    ] {
        let outcome: Outcome<Value> =
            client.get_json(name(&destination), "/_matrix/federation/v1/version").await;
        let Outcome::Denied(reason) = outcome else { panic!("{destination}: {outcome:?}") };
        assert!(reason.contains("is denied"), "{reason}");
        // A denial is not a failure of the destination: no backoff.
        let again: Outcome<Value> =
            client.get_json(name(&destination), "/_matrix/federation/v1/version").await;
        assert!(matches!(again, Outcome::Denied(_)), "{again:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn failures_back_off_unless_ignored_and_success_resets() {
    let pki = TestPki::new();
    let client = client(StaticResolver::new(), test_config(&pki, closed_port().await));
    let port = closed_port().await;
    let dead = format!("127.0.0.1:{port}");
    let first: Outcome<Value> = client.get_json(name(&dead), "/x").await;
    assert!(matches!(first, Outcome::Unreachable(_)), "{first:?}");
    let second: Outcome<Value> = client.get_json(name(&dead), "/x").await;
    let Outcome::BackingOff { until } = second else { panic!("{second:?}") };
    assert!(until > std::time::Instant::now() + Duration::from_secs(20));
    // An urgent call still goes out (and fails again, since nothing listens).
    let urgent: Outcome<Value> = client
        .request_json(
            Method::GET,
            name(&dead),
            "/x",
            None::<&()>,
            RequestOptions { ignore_backoff: true, unsigned: false },
        )
        .await;
    assert!(matches!(urgent, Outcome::Unreachable(_)), "{urgent:?}");

    // Once the server is up, an urgent success ends the backoff for everyone.
    let server = spawn_https(&pki, addr(&dead), homeserver(Arc::new(AtomicUsize::new(0)))).await;
    assert_eq!(server.port(), port);
    let urgent: Outcome<Value> = client
        .request_json(
            Method::GET,
            name(&dead),
            "/_matrix/federation/v1/version",
            None::<&()>,
            RequestOptions { ignore_backoff: true, unsigned: false },
        )
        .await;
    assert!(urgent.is_ok(), "{urgent:?}");
    let normal: Outcome<Value> = client.get_json(name(&dead), "/_matrix/federation/v1/version").await;
    assert!(normal.is_ok(), "{normal:?}");
}

#[tokio::test]
async fn slow_servers_time_out_as_unreachable() {
    let pki = TestPki::new();
    let (server, _) = start(&pki, "127.0.0.1:0").await;
    let mut config = test_config(&pki, closed_port().await);
    config.request_timeout = Duration::from_millis(300);
    let client = client(StaticResolver::new(), config);
    let started = std::time::Instant::now();
    let outcome: Outcome<Value> =
        client.get_json(name(&format!("127.0.0.1:{}", server.port())), "/slow").await;
    assert!(
        matches!(outcome, Outcome::Unreachable(ref reason) if reason.contains("no response")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn certificates_from_unknown_cas_are_refused() {
    let pki = TestPki::new();
    let (server, hits) = start(&pki, "127.0.0.1:0").await;
    let mut config = test_config(&pki, closed_port().await);
    // Trust a different CA only.
    config.extra_ca_files = vec![TestPki::new().ca_file()];
    let client = client(StaticResolver::new(), config);
    let outcome: Outcome<Value> =
        client.get_json(name(&format!("127.0.0.1:{}", server.port())), "/forbidden").await;
    assert!(matches!(outcome, Outcome::Unreachable(_)), "{outcome:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unreadable_ca_files_fail_client_setup() {
    let pki = TestPki::new();
    let mut config = test_config(&pki, 443);
    config.extra_ca_files = vec![crate::test_support::temp_path("missing.pem")];
    let key = client_key();
    let result = FederationClient::new(
        "palisade.test".try_into().unwrap(),
        key,
        Arc::new(StaticResolver::new()),
        config,
    );
    assert!(matches!(result, Err(TlsSetupError::CaFile { .. })));
}

#[tokio::test]
async fn http1_only_servers_get_the_host_header_as_specified() {
    let pki = TestPki::with_alpn(&[b"http/1.1"]);
    let (server, _) = start(&pki, "127.0.0.1:0").await;
    let resolver = StaticResolver::new()
        .with_srv("_matrix-fed._tcp.example.test", 0, 0, server.port(), "target.test")
        .with_host("target.test", server.ip());
    let client = client(resolver, test_config(&pki, closed_port().await));
    for destination in ["example.test".to_owned(), format!("127.0.0.1:{}", server.port())] {
        let outcome: Outcome<Value> =
            client.get_json(name(&destination), "/_matrix/federation/v1/version").await;
        let Outcome::Ok(seen) = outcome else { panic!("{destination}: {outcome:?}") };
        assert_eq!(seen["host"], destination.as_str());
    }
}

#[tokio::test]
async fn requests_that_cannot_be_made_are_refused_before_sending() {
    let pki = TestPki::new();
    let (server, hits) = start(&pki, "127.0.0.1:0").await;
    let client = client(StaticResolver::new(), test_config(&pki, closed_port().await));
    let destination = format!("127.0.0.1:{}", server.port());
    let not_json = client
        .request_bytes(
            Method::PUT,
            name(&destination),
            "/echo/x",
            Some(b"not json".to_vec()),
            RequestOptions::default(),
        )
        .await;
    assert!(matches!(not_json, Outcome::InvalidRequest(_)), "{not_json:?}");
    let bad_path: Outcome<Value> = client.get_json(name(&destination), "no-slash").await;
    assert!(matches!(bad_path, Outcome::InvalidRequest(_)), "{bad_path:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // Our own mistakes do not put the destination into backoff.
    let fine: Outcome<Value> = client.get_json(name(&destination), "/_matrix/federation/v1/version").await;
    assert!(fine.is_ok(), "{fine:?}");
}
