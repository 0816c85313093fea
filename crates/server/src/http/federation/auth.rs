//! Inbound `Authorization: X-Matrix` as an axum extractor.
//!
//! A handler that takes a [`FederationRequest`] only runs for a request whose signature verifies with the origin
//! server's key, addressed to us. The signature covers the request target exactly as it came over the wire (path
//! and query, not percent-decoded), so the target is taken from the original URI, before any routing rewrote it.

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, OriginalUri, Request},
    http::{HeaderMap, Method, StatusCode, header},
};
use palisade_matrix::{
    OwnedServerName,
    canonical_json::{self, CanonicalJsonValue},
    x_matrix::{XMatrixAuth, XMatrixError},
};
use tracing::debug;

use crate::http::{AppState, MatrixError};
use crate::{event_signatures::server_key, signature_batch};

/// The largest request body read. A full transaction is at most 50 PDUs of 64 KiB plus 100 EDUs; this leaves
/// room for large EDUs (device lists) while bounding memory per request.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// At most this many `Authorization` headers are tried. Synapse sends one per key; a flood of headers must not
/// turn into a flood of key fetches.
const MAX_CREDENTIALS: usize = 4;

/// An authenticated server-server request.
#[derive(Clone, Debug)]
pub struct FederationRequest {
    /// The server whose signature verified.
    pub origin: OwnedServerName,
    /// The key it signed with.
    pub key_id: String,
    /// The HTTP method.
    pub method: Method,
    /// The request target as received (path and query).
    pub uri: String,
    /// The body, checked to be JSON when not empty.
    pub body: Bytes,
    /// The body parsed as canonical JSON, as its signature covers it (`None` when empty).
    pub content: Option<CanonicalJsonValue>,
}

/// Why a request was refused before reaching its handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No X-Matrix `Authorization` header.
    Missing,
    /// Every X-Matrix header was unparseable.
    Malformed(String),
    /// The request was meant for another server.
    WrongDestination(String),
    /// The origin's key could not be obtained.
    KeyUnavailable(String),
    /// The signature does not verify.
    BadSignature,
    /// The body is larger than [`MAX_BODY_BYTES`] or could not be read.
    TooLarge,
    /// The body is not JSON.
    NotJson(String),
    /// The body is JSON that cannot be canonicalised (floats, out-of-range integers).
    BadJson(String),
}

impl From<AuthFailure> for MatrixError {
    fn from(failure: AuthFailure) -> Self {
        let unauthorized =
            |message: String| MatrixError::new(StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", message);
        match failure {
            AuthFailure::Missing => unauthorized("Missing X-Matrix Authorization header".to_owned()),
            AuthFailure::Malformed(reason) => {
                unauthorized(format!("Malformed X-Matrix Authorization header: {reason}"))
            }
            AuthFailure::WrongDestination(reason) | AuthFailure::KeyUnavailable(reason) => {
                unauthorized(reason)
            }
            AuthFailure::BadSignature => unauthorized("X-Matrix signature does not verify".to_owned()),
            AuthFailure::TooLarge => MatrixError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "M_TOO_LARGE",
                format!("Request body exceeds {MAX_BODY_BYTES} bytes"),
            ),
            AuthFailure::NotJson(reason) => {
                MatrixError::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", format!("Body is not JSON: {reason}"))
            }
            AuthFailure::BadJson(reason) => MatrixError::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", reason),
        }
    }
}

impl FromRequest<AppState> for FederationRequest {
    type Rejection = MatrixError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, MatrixError> {
        let received = Received::read(request).await?;
        // Parsed once, before any key is fetched: the signature covers the parsed form, and the handler gets it.
        let content = parse_content(&received.body)?;
        let canonical = content.as_ref().map(canonical_json::to_canonical_bytes);
        Ok(received.authenticate(state, canonical.as_deref(), content).await?)
    }
}

/// A request whose body is read and whose X-Matrix headers are parsed, not yet authenticated.
#[derive(Debug)]
pub struct Received {
    method: Method,
    target: String,
    credentials: Vec<XMatrixAuth>,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Bytes,
}

impl Received {
    /// Reads `request`: its target as it came over the wire, its credentials and its body.
    pub async fn read(request: Request) -> Result<Self, AuthFailure> {
        let (parts, body) = request.into_parts();
        let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |original| &original.0);
        let target = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
        let credentials = credentials(&parts.headers)?;
        let body = read_body(&parts.headers, body).await?;
        Ok(Self { method: parts.method, target, credentials, body })
    }

    /// Checks the request's signature over its body's canonical JSON `canonical` (`None` for an empty body), and
    /// gives the request with `content`, the body as parsed (`None` where the caller had no need to parse it).
    pub async fn authenticate(
        self,
        state: &AppState,
        canonical: Option<&[u8]>,
        content: Option<CanonicalJsonValue>,
    ) -> Result<FederationRequest, AuthFailure> {
        let request = Signed { method: self.method.as_str(), uri: &self.target, content: canonical };
        let auth = authenticate(state, &self.credentials, request).await.inspect_err(|failure| {
            debug!(method = %self.method, uri = %self.target, ?failure, "refused X-Matrix request");
        })?;
        Ok(FederationRequest {
            origin: auth.origin,
            key_id: auth.key_id,
            method: self.method,
            uri: self.target,
            body: self.body,
            content,
        })
    }
}

/// What an X-Matrix signature covers besides the names of the two servers.
#[derive(Clone, Copy)]
struct Signed<'a> {
    method: &'a str,
    uri: &'a str,
    /// The body's canonical JSON.
    content: Option<&'a [u8]>,
}

/// The parsed X-Matrix headers, in order. Headers of other schemes are skipped; if none parses, the first
/// parse error is the answer.
fn credentials(headers: &HeaderMap) -> Result<Vec<XMatrixAuth>, AuthFailure> {
    let mut parsed = Vec::new();
    let mut first_error = None;
    for value in headers.get_all(header::AUTHORIZATION).iter().take(MAX_CREDENTIALS) {
        let Ok(text) = value.to_str() else {
            first_error.get_or_insert(AuthFailure::Malformed("header is not ASCII".to_owned()));
            continue;
        };
        match XMatrixAuth::parse(text) {
            Ok(auth) => parsed.push(auth),
            Err(XMatrixError::Missing) => {}
            Err(e) => {
                first_error.get_or_insert(AuthFailure::Malformed(e.to_string()));
            }
        }
    }
    if parsed.is_empty() {
        return Err(first_error.unwrap_or(AuthFailure::Missing));
    }
    Ok(parsed)
}

/// Reads the body up to [`MAX_BODY_BYTES`]; a declared length over the limit is refused without reading.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, AuthFailure> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(AuthFailure::TooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| AuthFailure::TooLarge)
}

/// A non-empty body must be JSON (`M_NOT_JSON`) that canonical JSON can represent (`M_BAD_JSON`: floats,
/// integers out of range): the signature covers its parsed form, so nothing else can be verified.
pub fn parse_content(body: &[u8]) -> Result<Option<CanonicalJsonValue>, AuthFailure> {
    if body.is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AuthFailure::NotJson(e.to_string()))?;
    CanonicalJsonValue::try_from(value).map(Some).map_err(|e| AuthFailure::BadJson(e.to_string()))
}

/// The first credential that verifies; otherwise the first credential's failure.
async fn authenticate(
    state: &AppState,
    credentials: &[XMatrixAuth],
    request: Signed<'_>,
) -> Result<XMatrixAuth, AuthFailure> {
    let mut first_failure = None;
    for auth in credentials {
        match verify_one(state, auth, request).await {
            Ok(()) => return Ok(auth.clone()),
            Err(failure) => {
                first_failure.get_or_insert(failure);
            }
        }
    }
    Err(first_failure.unwrap_or(AuthFailure::Missing))
}

async fn verify_one(state: &AppState, auth: &XMatrixAuth, request: Signed<'_>) -> Result<(), AuthFailure> {
    // The destination is checked before any key is fetched: a request for another server costs no network.
    if let Some(destination) = &auth.destination
        && *destination != state.server_name
    {
        return Err(AuthFailure::WrongDestination(format!(
            "X-Matrix destination {destination} is not this server ({})",
            state.server_name
        )));
    }
    let public_key =
        server_key(state, &auth.origin, &auth.key_id).await.map_err(AuthFailure::KeyUnavailable)?;
    let message = auth
        .signing_input(request.method, request.uri, request.content, &state.server_name)
        .map_err(|e| match e {
            XMatrixError::WrongDestination { found, expected } => AuthFailure::WrongDestination(format!(
                "X-Matrix destination {found} is not this server ({expected})"
            )),
            _ => AuthFailure::BadSignature,
        })?;
    if !signature_batch::verify(&public_key, message, &auth.signature).await {
        return Err(AuthFailure::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::to_bytes, routing::put};
    use palisade_matrix::{
        SigningKey,
        x_matrix::{RequestTarget, sign_request},
    };
    use palisade_store::ServerKey;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;
    use crate::http::test_support;

    const ORIGIN: &str = "remote.example.org";

    fn remote_key() -> SigningKey {
        SigningKey::from_seed(&[7; 32], "remote1").unwrap()
    }

    /// A state whose keyring already holds `key`'s public half for [`ORIGIN`], valid far into the future.
    async fn state_knowing(key: &SigningKey) -> AppState {
        let state = test_support::state().await;
        let row = ServerKey {
            server_name: ORIGIN.to_owned(),
            key_id: key.key_id(),
            public_key: key.public_key_base64(),
            valid_until_ts: i64::MAX / 2,
            expired_ts: None,
        };
        state.store.put_server_key(&row).await.unwrap();
        state
    }

    /// Echoes the authenticated origin and body length.
    async fn echo(request: FederationRequest) -> axum::Json<Value> {
        axum::Json(json!({"origin": request.origin.as_str(), "uri": request.uri, "len": request.body.len()}))
    }

    fn signed(key: &SigningKey, destination: &str, uri: &str, body: &Value) -> Request {
        let bytes = serde_json::to_vec(body).unwrap();
        let target = RequestTarget { method: "PUT", uri, body: &bytes };
        let auth =
            sign_request(target, ORIGIN.try_into().unwrap(), destination.try_into().unwrap(), key).unwrap();
        Request::put(uri)
            .header(header::AUTHORIZATION, auth.to_header_value())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .unwrap()
    }

    async fn run(state: AppState, request: Request) -> (StatusCode, Value) {
        let router = Router::new().route("/_matrix/test/{x}", put(echo)).with_state(state);
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_valid_request_passes_with_the_raw_target() {
        let key = remote_key();
        // Percent-encoding and the query are part of what was signed and must reach verification unchanged.
        let uri = "/_matrix/test/%24event%3Aid?ver=1&ver=12";
        let request = signed(&key, "palisade.example.org", uri, &json!({"a": 1}));
        let (status, body) = run(state_knowing(&key).await, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"origin": ORIGIN, "uri": uri, "len": 7}));
    }

    #[tokio::test]
    async fn one_good_header_among_several_is_enough() {
        let key = remote_key();
        let mut request = signed(&key, "palisade.example.org", "/_matrix/test/x", &json!({}));
        let good = request.headers().get(header::AUTHORIZATION).unwrap().clone();
        let bad = signed(&key, "elsewhere.example", "/_matrix/test/x", &json!({}));
        let headers = request.headers_mut();
        headers.insert(header::AUTHORIZATION, bad.headers()[header::AUTHORIZATION].clone());
        headers.append(header::AUTHORIZATION, good);
        let (status, body) = run(state_knowing(&key).await, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn assert_unauthorized(state: AppState, request: Request, why: &str) {
        let (status, body) = run(state, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["errcode"], "M_UNAUTHORIZED", "{body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "one Matrix error body: {body}");
    }

    #[tokio::test]
    async fn wrong_destination_is_refused() {
        let key = remote_key();
        let request = signed(&key, "elsewhere.example", "/_matrix/test/x", &json!({}));
        assert_unauthorized(state_knowing(&key).await, request, "is not this server").await;
    }

    #[tokio::test]
    async fn a_stale_key_is_refused() {
        // The keyring holds another public key under the same key ID (the origin rotated without a new ID, or
        // the request is forged): the signature does not verify.
        let key = remote_key();
        let forged = SigningKey::from_seed(&[8; 32], "remote1").unwrap();
        let request = signed(&forged, "palisade.example.org", "/_matrix/test/x", &json!({}));
        assert_unauthorized(state_knowing(&key).await, request, "signature does not verify").await;
    }

    #[tokio::test]
    async fn an_expired_key_that_cannot_be_refetched_is_refused() {
        // The cached key document expired: the request's own (correct) signature is not enough, the key must be
        // fetched again first, and here the origin cannot be reached.
        let key = remote_key();
        let state = test_support::state().await;
        let row = ServerKey {
            server_name: ORIGIN.to_owned(),
            key_id: key.key_id(),
            public_key: key.public_key_base64(),
            valid_until_ts: 1_000,
            expired_ts: None,
        };
        state.store.put_server_key(&row).await.unwrap();
        let request = signed(&key, "palisade.example.org", "/_matrix/test/x", &json!({}));
        assert_unauthorized(state, request, "cannot get key").await;
    }

    #[tokio::test]
    async fn a_known_unsafe_key_is_refused_even_when_cached() {
        const SEED0: [u8; 32] = [
            0x01, 0x94, 0xfd, 0xc2, 0xfa, 0x2f, 0xfc, 0xc0, 0x41, 0xd3, 0xff, 0x12, 0x04, 0x5b, 0x73, 0xc8,
            0x6e, 0x4f, 0xf9, 0x5f, 0xf6, 0x62, 0xa5, 0xee, 0xe8, 0x2a, 0xbd, 0xf4, 0x4a, 0x2d, 0x0b, 0x75,
        ];
        let unsafe_key = SigningKey::from_seed(&SEED0, "remote1").unwrap();
        // The keyring's list and the policy engine's unsafe-key filter name the same keys.
        assert_eq!(
            palisade_policy::filters::UNSAFE_PUBLIC_KEYS,
            palisade_matrix::keys::KNOWN_UNSAFE_PUBLIC_KEYS
        );
        let request = signed(&unsafe_key, "palisade.example.org", "/_matrix/test/x", &json!({}));
        assert_unauthorized(state_knowing(&unsafe_key).await, request, "known-unsafe").await;
    }

    #[tokio::test]
    async fn an_unknown_key_that_cannot_be_fetched_is_refused() {
        let key = remote_key();
        let other = SigningKey::from_seed(&[9; 32], "remote2").unwrap();
        let request = signed(&other, "palisade.example.org", "/_matrix/test/x", &json!({}));
        assert_unauthorized(state_knowing(&key).await, request, "remote2").await;
    }

    #[tokio::test]
    async fn missing_and_malformed_headers_are_refused() {
        let key = remote_key();
        let request = Request::put("/_matrix/test/x").body(Body::from("{}")).unwrap();
        assert_unauthorized(state_knowing(&key).await, request, "Missing X-Matrix").await;
        let request = Request::put("/_matrix/test/x")
            .header(header::AUTHORIZATION, "Bearer abc")
            .body(Body::from("{}"))
            .unwrap();
        assert_unauthorized(state_knowing(&key).await, request, "Missing X-Matrix").await;
        let request = Request::put("/_matrix/test/x")
            .header(header::AUTHORIZATION, "X-Matrix origin=remote.example.org")
            .body(Body::from("{}"))
            .unwrap();
        assert_unauthorized(state_knowing(&key).await, request, "Malformed").await;
    }

    #[tokio::test]
    async fn a_tampered_body_is_refused() {
        let key = remote_key();
        let mut request = signed(&key, "palisade.example.org", "/_matrix/test/x", &json!({"a": 1}));
        *request.body_mut() = Body::from(r#"{"a":2}"#);
        request.headers_mut().remove(header::CONTENT_LENGTH);
        assert_unauthorized(state_knowing(&key).await, request, "signature does not verify").await;
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_m_not_json() {
        let key = remote_key();
        let mut request = signed(&key, "palisade.example.org", "/_matrix/test/x", &json!({}));
        *request.body_mut() = Body::from("{not json");
        let (status, body) = run(state_knowing(&key).await, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errcode"], "M_NOT_JSON");
    }

    #[tokio::test]
    async fn an_oversized_body_is_m_too_large() {
        let key = remote_key();
        let mut request = signed(&key, "palisade.example.org", "/_matrix/test/x", &json!({}));
        *request.body_mut() = Body::from(vec![b' '; MAX_BODY_BYTES + 1]);
        let (status, body) = run(state_knowing(&key).await, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["errcode"], "M_TOO_LARGE");
    }
}
