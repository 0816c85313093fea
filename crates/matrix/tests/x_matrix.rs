//! X-Matrix request signing and verification, including the spec's header grammar and the failure cases a
//! policy server must refuse.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

#[path = "support/builders.rs"]
mod support;

use palisade_matrix::{
    ServerName,
    x_matrix::{RequestTarget, XMatrixAuth, XMatrixError, sign_request},
};
use support::key;

const BODY: &[u8] = br#"{"type":"m.room.message","content":{"body":"hi"}}"#;

fn target(uri: &str) -> RequestTarget<'_> {
    RequestTarget { method: "POST", uri, body: BODY }
}

fn names() -> (&'static ServerName, &'static ServerName) {
    (
        <&ServerName>::try_from("origin.example.org").unwrap(),
        <&ServerName>::try_from("policy.example.org").unwrap(),
    )
}

#[test]
fn signed_request_verifies_after_a_header_round_trip() {
    let (origin, destination) = names();
    let key = key(1, "a_1");
    let auth = sign_request(target("/_matrix/policy/v1/sign"), origin, destination, &key).unwrap();
    let header = auth.to_header_value();
    assert!(header.starts_with("X-Matrix origin=\"origin.example.org\",destination=\"policy.example.org\""));
    let parsed = XMatrixAuth::parse(&header).unwrap();
    assert_eq!(parsed, auth);
    parsed.verify(target("/_matrix/policy/v1/sign"), destination, &key.public_key()).unwrap();
}

#[test]
fn refuses_wrong_destination_key_uri_and_body() {
    let (origin, destination) = names();
    let key = key(1, "a_1");
    let auth = sign_request(target("/_matrix/policy/v1/sign"), origin, destination, &key).unwrap();
    let elsewhere = <&ServerName>::try_from("other.example.org").unwrap();
    assert_eq!(
        auth.verify(target("/_matrix/policy/v1/sign"), elsewhere, &key.public_key()),
        Err(XMatrixError::WrongDestination {
            found: "policy.example.org".into(),
            expected: "other.example.org".into()
        })
    );
    let stale_key = support::key(2, "a_1");
    assert_eq!(
        auth.verify(target("/_matrix/policy/v1/sign"), destination, &stale_key.public_key()),
        Err(XMatrixError::BadSignature)
    );
    // The URI is signed exactly as sent: a decoded or re-encoded path does not verify.
    let encoded =
        sign_request(target("/_matrix/federation/v1/send/a%2Fb"), origin, destination, &key).unwrap();
    assert_eq!(
        encoded.verify(target("/_matrix/federation/v1/send/a/b"), destination, &key.public_key()),
        Err(XMatrixError::BadSignature)
    );
    let tampered = RequestTarget { method: "POST", uri: "/_matrix/policy/v1/sign", body: br#"{"type":"x"}"# };
    assert_eq!(auth.verify(tampered, destination, &key.public_key()), Err(XMatrixError::BadSignature));
    let not_json = RequestTarget { method: "POST", uri: "/_matrix/policy/v1/sign", body: b"{" };
    assert!(matches!(auth.verify(not_json, destination, &key.public_key()), Err(XMatrixError::BadBody(_))));
}

#[test]
fn header_without_destination_is_verified_against_our_name() {
    let (origin, destination) = names();
    let key = key(1, "a_1");
    let mut auth = sign_request(target("/x"), origin, destination, &key).unwrap();
    auth.destination = None;
    let parsed = XMatrixAuth::parse(&auth.to_header_value()).unwrap();
    assert_eq!(parsed.destination, None);
    parsed.verify(target("/x"), destination, &key.public_key()).unwrap();
}

#[test]
fn parses_the_spec_header_grammar() {
    // Parameter names are case-insensitive, values may be quoted or bare tokens, order is free.
    let header = r#"X-Matrix origin=origin.hs.example.com,Destination="destination.hs.example.com",KEY="ed25519:key1",sig="ABCDEF...""#;
    let parsed = XMatrixAuth::parse(header);
    assert!(matches!(parsed, Err(XMatrixError::Malformed(_))), "`...` is not base64: {parsed:?}");
    let header = r#"X-Matrix origin=origin.hs.example.com,Destination="destination.hs.example.com",KEY="ed25519:key1",sig="dGVzdA""#;
    let parsed = XMatrixAuth::parse(header).unwrap();
    assert_eq!(parsed.origin.as_str(), "origin.hs.example.com");
    assert_eq!(parsed.destination.unwrap().as_str(), "destination.hs.example.com");
    assert_eq!(parsed.key_id, "ed25519:key1");
    assert_eq!(parsed.signature, b"test");
}

#[test]
fn rejects_malformed_headers() {
    let cases = [
        ("", XMatrixError::Missing),
        ("Bearer abc", XMatrixError::Missing),
        ("X-Matrix", XMatrixError::Malformed(String::new())),
        (r#"X-Matrix key="ed25519:k",sig="dGVzdA""#, XMatrixError::Malformed(String::new())),
        (r#"X-Matrix origin="o.example",sig="dGVzdA""#, XMatrixError::Malformed(String::new())),
        (r#"X-Matrix origin="o.example",key="ed25519:k""#, XMatrixError::Malformed(String::new())),
        (
            r#"X-Matrix origin="o.example",origin="p.example",key="ed25519:k",sig="dGVzdA""#,
            XMatrixError::Malformed(String::new()),
        ),
        (
            r#"X-Matrix origin="not a name",key="ed25519:k",sig="dGVzdA""#,
            XMatrixError::Malformed(String::new()),
        ),
    ];
    for (header, expected) in cases {
        let error = XMatrixAuth::parse(header).unwrap_err();
        assert_eq!(std::mem::discriminant(&error), std::mem::discriminant(&expected), "{header:?}: {error}");
    }
}
