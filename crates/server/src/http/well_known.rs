//! Policy-server discovery documents (MSC4284): `/.well-known/matrix/policy_server` (stable,
//! `{"public_keys": {"ed25519": ...}}`) and the unstable `org.matrix.msc4284.policy_server` (`{"public_key": ...}`).
//! Browsers' setup tools fetch these, so they answer `OPTIONS` and carry CORS headers. Also the operators' contacts,
//! `/.well-known/matrix/support` (MSC1929, in the spec since v1.10), from the `[support]` settings.

use axum::{
    Json,
    extract::State,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use serde_json::{Value, json};

use super::{AppState, MatrixError, only};
use crate::config::{Support, SupportContact};

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
    with_cors(Json(body).into_response())
}

/// Where the support document is served.
pub const SUPPORT_PATH: &str = "/.well-known/matrix/support";

/// `GET`/`OPTIONS /.well-known/matrix/support`: `document` with CORS headers, or `404 M_NOT_FOUND` without one.
pub(super) fn support_route(document: Option<Value>) -> MethodRouter<AppState> {
    let answer = move || {
        let document = document.clone();
        async move {
            let Some(document) = document else {
                return MatrixError::new(
                    http::StatusCode::NOT_FOUND,
                    "M_NOT_FOUND",
                    "No support information available",
                )
                .into_response();
            };
            with_cors(Json(document).into_response())
        }
    };
    only(get(answer.clone()).options(answer))
}

/// The support document: admin contacts, then security contacts, each in configured order, and the support page;
/// `None` when nothing is configured.
pub fn support_document(support: &Support) -> Option<Value> {
    let contact = |contact: &SupportContact, role: &str| match contact {
        SupportContact::MatrixId(id) => json!({"matrix_id": id, "role": role}),
        SupportContact::Email(address) => json!({"email_address": address, "role": role}),
    };
    let contacts: Vec<Value> = support
        .admin_contacts
        .iter()
        .map(|c| contact(c, "m.role.admin"))
        .chain(support.security_contacts.iter().map(|c| contact(c, "m.role.security")))
        .collect();
    let mut document = serde_json::Map::new();
    if !contacts.is_empty() {
        document.insert("contacts".to_owned(), Value::Array(contacts));
    }
    if let Some(url) = &support.url {
        document.insert("support_page".to_owned(), Value::String(url.as_str().to_owned()));
    }
    (!document.is_empty()).then_some(Value::Object(document))
}

fn with_cors(mut response: Response) -> Response {
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

    async fn support_router(support: &crate::config::Support) -> axum::Router {
        let api = crate::http::admin::ApiSettings {
            support: super::support_document(support),
            ..Default::default()
        };
        crate::http::router_with_api(crate::http::test_support::state().await, api)
    }

    async fn ask(router: axum::Router, method: &str) -> (http::Response<Body>, serde_json::Value) {
        use tower::ServiceExt;
        let request = Request::builder().method(method).uri(super::SUPPORT_PATH).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        (http::Response::from_parts(parts, Body::empty()), serde_json::from_slice(&bytes).unwrap())
    }

    /// The spec's shape: admin contacts first, then security contacts, in configured order, and the support page.
    #[tokio::test]
    async fn support_document_lists_contacts_by_role() {
        let support = crate::config::Support {
            admin_contacts: vec!["@admin:example.org".parse().unwrap(), "ops@example.org".parse().unwrap()],
            security_contacts: vec!["security@example.org".parse().unwrap()],
            url: Some("https://example.org/support".parse().unwrap()),
        };
        for method in ["GET", "OPTIONS"] {
            let (response, body) = ask(support_router(&support).await, method).await;
            assert_eq!(response.status(), 200, "{method}");
            assert_eq!(response.headers()["access-control-allow-origin"], "*");
            assert_eq!(
                body,
                serde_json::json!({
                    "contacts": [
                        {"matrix_id": "@admin:example.org", "role": "m.role.admin"},
                        {"email_address": "ops@example.org", "role": "m.role.admin"},
                        {"email_address": "security@example.org", "role": "m.role.security"},
                    ],
                    "support_page": "https://example.org/support",
                })
            );
        }
        let (response, body) = ask(support_router(&support).await, "POST").await;
        assert_eq!(
            (response.status().as_u16(), &body["errcode"]),
            (405, &serde_json::json!("M_UNRECOGNIZED"))
        );
    }

    /// Only a page, or only contacts: the other member is left out.
    #[tokio::test]
    async fn support_document_omits_what_is_not_configured() {
        let page = crate::config::Support {
            url: Some("https://example.org/help".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            super::support_document(&page),
            Some(serde_json::json!({"support_page": "https://example.org/help"}))
        );
        let contact = crate::config::Support {
            security_contacts: vec!["@sec:example.org".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(
            super::support_document(&contact),
            Some(
                serde_json::json!({"contacts": [{"matrix_id": "@sec:example.org", "role": "m.role.security"}]})
            )
        );
    }

    /// Nothing configured: 404 `M_NOT_FOUND`, as policyserv.
    #[tokio::test]
    async fn support_document_is_not_found_when_nothing_is_configured() {
        assert_eq!(super::support_document(&crate::config::Support::default()), None);
        let (response, body) = ask(support_router(&crate::config::Support::default()).await, "GET").await;
        assert_eq!(response.status(), 404);
        assert_eq!(body["errcode"], "M_NOT_FOUND");
        assert_eq!(body["error"], "No support information available");
    }
}
