//! The server-centric community API (catalogue §1.6) under `/_policyserv/v1`, always bound. Callers authenticate
//! with their community's access token (`Authorization: Bearer pst_...`), which the store keeps only hashed.

use axum::{
    Extension, Router,
    extract::FromRequestParts,
    http::{StatusCode, header::AUTHORIZATION, request::Parts},
    routing::post,
};
use palisade_store::Community;

use super::{
    AppState, MatrixError,
    admin::{ApiSettings, internal, unauthorized},
    only,
};

mod check_event_id;
mod check_text;
mod join;

/// Every community route, as `(method, path)` in OpenAPI spelling.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/_policyserv/v1/check/text"),
    ("post", "/_policyserv/v1/check/event_id"),
    ("post", "/_policyserv/v1/join/{roomId}"),
];

/// The community routes.
pub(super) fn routes(settings: ApiSettings) -> Router<AppState> {
    Router::new()
        .route("/_policyserv/v1/check/text", only(post(check_text::post)))
        .route("/_policyserv/v1/check/event_id", only(post(check_event_id::post)))
        .route("/_policyserv/v1/join/{room_id}", only(post(join::post)))
        .layer(Extension(std::sync::Arc::new(settings)))
}

/// The community whose access token the request carries; extracting it answers 401 for anything else.
#[derive(Debug)]
pub(super) struct Caller(pub Community);

impl FromRequestParts<AppState> for Caller {
    type Rejection = MatrixError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, MatrixError> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(token) = header.strip_prefix("Bearer ").filter(|t| !t.is_empty()) else {
            return Err(unauthorized());
        };
        match state.store.community_by_access_token(token).await.map_err(internal)? {
            Some(community) => Ok(Self(community)),
            None => Err(unauthorized()),
        }
    }
}

/// `403 M_FORBIDDEN`.
pub(super) fn forbidden(message: &str) -> MatrixError {
    super::admin::api_error(StatusCode::FORBIDDEN, "M_FORBIDDEN", message)
}
