//! Policy-server discovery documents (MSC4284): `/.well-known/matrix/policy_server` (stable,
//! `{"public_keys": {"ed25519": ...}}`) and the unstable `org.matrix.msc4284.policy_server` (`{"public_key": ...}`).
//! Browsers' setup tools fetch these, so they answer `OPTIONS` and carry CORS headers.

use axum::{
    Json,
    extract::State,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use serde_json::json;

use super::{AppState, only};

/// Which document shape a route serves.
#[derive(Clone, Copy, Debug)]
pub(super) enum Shape {
    Stable,
    Unstable,
}

const CORS: [(HeaderName, &str); 3] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, PUT, DELETE, OPTIONS"),
    (header::ACCESS_CONTROL_ALLOW_HEADERS, "X-Requested-With, Content-Type, Authorization"),
];

pub(super) fn policy_server_route(shape: Shape) -> MethodRouter<AppState> {
    only(get(move |state| document(state, shape)).options(move |state| document(state, shape)))
}

async fn document(State(state): State<AppState>, shape: Shape) -> Response {
    let key = state.keys.policy.public_key_base64();
    let body = match shape {
        Shape::Stable => json!({"public_keys": {"ed25519": key}}),
        Shape::Unstable => json!({"public_key": key}),
    };
    let mut response = Json(body).into_response();
    for (name, value) in CORS {
        response.headers_mut().insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;

    use crate::http::test_support::{call, get, keys};

    #[tokio::test]
    async fn both_shapes_publish_the_policy_key_with_cors() {
        let key = keys().policy.public_key_base64();
        for (path, expected) in [
            ("/.well-known/matrix/policy_server", serde_json::json!({"public_keys": {"ed25519": key}})),
            ("/.well-known/matrix/org.matrix.msc4284.policy_server", serde_json::json!({"public_key": key})),
        ] {
            for method in ["GET", "OPTIONS"] {
                let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
                let (response, body) = call(request).await;
                assert_eq!(response.status(), 200, "{method} {path}");
                assert_eq!(body, expected);
                assert_eq!(response.headers()["access-control-allow-origin"], "*");
                assert!(response.headers().contains_key("access-control-allow-methods"));
                assert!(response.headers().contains_key("access-control-allow-headers"));
            }
            let (response, body) = call(Request::post(path).body(Body::empty()).unwrap()).await;
            assert_eq!(response.status(), 405);
            assert_eq!(body["errcode"], "M_UNRECOGNIZED");
        }
        let _ = get("/");
    }
}
