//! The operator API (catalogue §1.5 and beyond) under `/api/v1`, bound only when an API key is configured.
//!
//! policyserv-setup-bot and existing scripts drive these routes, so paths and JSON shapes follow policyserv; the
//! deliberate differences are listed in `docs/api.md`. Every response is one JSON body; errors are Matrix errors
//! carrying `org.matrix.msc4387.harms: []` as policyserv's API errors do.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{Request, rejection::PathRejection},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    middleware::{self, Next},
    response::Response,
    routing::{get, post, put},
};
use palisade_matrix::OwnedServerName;
use palisade_store::{Community, Room};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{AppState, MatrixError, only};

mod communities_list;
mod community_config;
mod community_delete;
mod community_get;
mod community_new;
mod community_patch;
mod community_stats;
mod community_verdicts;
mod instance_config;
mod keyword_template_delete;
mod keyword_template_get;
mod keyword_template_put;
mod muninn_directory;
mod room_config;
mod room_get;
pub(super) mod room_join;
mod room_leave;
mod room_move;
mod rooms_list;
pub(crate) mod rotate_access_token;
mod set_room_moderator;
pub(crate) mod verdict_get;

/// What the operator and community API (and the support document) need beyond [`AppState`].
#[derive(Clone, Debug, Default)]
pub struct ApiSettings {
    /// The admin API bearer key; `None` leaves the admin routes unbound.
    pub key: Option<String>,
    /// Servers asked for events the community API's event-ID check has no verdict for.
    pub event_fetch_servers: Vec<OwnedServerName>,
    /// `/.well-known/matrix/support`, from the `[support]` settings (`None`: nothing configured, 404).
    pub support: Option<serde_json::Value>,
}

impl ApiSettings {
    /// The settings of this instance.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            key: config.api.key.as_ref().map(|k| k.expose().to_owned()).filter(|k| !k.is_empty()),
            event_fetch_servers: config
                .federation
                .event_fetch_servers
                .iter()
                .filter_map(|s| OwnedServerName::try_from(s.as_str()).ok())
                .collect(),
            support: super::well_known::support_document(&config.support),
        }
    }
}

/// Every admin route, as `(method, path)` in OpenAPI spelling; the router below binds exactly these (a test checks
/// the two agree, and another that the OpenAPI document has them all).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/rooms"),
    ("get", "/api/v1/rooms/{roomId}"),
    ("delete", "/api/v1/rooms/{roomId}"),
    ("post", "/api/v1/rooms/{roomId}/join"),
    ("put", "/api/v1/rooms/{roomId}/community"),
    ("get", "/api/v1/rooms/{roomId}/config"),
    ("put", "/api/v1/rooms/{roomId}/config"),
    ("delete", "/api/v1/rooms/{roomId}/config"),
    ("post", "/api/v1/set_room_moderator"),
    ("get", "/api/v1/communities"),
    ("post", "/api/v1/communities/new"),
    ("get", "/api/v1/communities/{communityId}"),
    ("patch", "/api/v1/communities/{communityId}"),
    ("delete", "/api/v1/communities/{communityId}"),
    ("get", "/api/v1/communities/{communityId}/config"),
    ("post", "/api/v1/communities/{communityId}/config"),
    ("post", "/api/v1/communities/{communityId}/rotate_access_token"),
    ("get", "/api/v1/communities/{communityId}/verdicts"),
    ("get", "/api/v1/communities/{communityId}/stats"),
    ("get", "/api/v1/instance/community_config"),
    ("post", "/api/v1/sources/muninn/set_member_directory_event"),
    ("get", "/api/v1/keyword_templates/{name}"),
    ("post", "/api/v1/keyword_templates/{name}"),
    ("delete", "/api/v1/keyword_templates/{name}"),
    ("get", "/api/v1/verdicts/{eventId}"),
];

/// The admin routes, each behind the bearer-key check; empty when no key is configured.
pub(super) fn routes(settings: &ApiSettings) -> Router<AppState> {
    let Some(key) = settings.key.clone() else { return Router::new() };
    let key = Arc::new(key);
    Router::new()
        .route("/api/v1/rooms", only(get(rooms_list::get)))
        .route("/api/v1/rooms/{room_id}", only(get(room_get::get).delete(room_leave::delete)))
        .route("/api/v1/rooms/{room_id}/join", only(post(room_join::post)))
        .route("/api/v1/rooms/{room_id}/community", only(put(room_move::put)))
        .route(
            "/api/v1/rooms/{room_id}/config",
            only(get(room_config::get).put(room_config::put).delete(room_config::delete)),
        )
        .route("/api/v1/set_room_moderator", only(post(set_room_moderator::post)))
        .route("/api/v1/communities", only(get(communities_list::get)))
        .route("/api/v1/communities/new", only(post(community_new::post)))
        .route(
            "/api/v1/communities/{community_id}",
            only(get(community_get::get).patch(community_patch::patch).delete(community_delete::delete)),
        )
        .route(
            "/api/v1/communities/{community_id}/config",
            only(get(community_config::get).post(community_config::post)),
        )
        .route(
            "/api/v1/communities/{community_id}/rotate_access_token",
            only(post(rotate_access_token::post)),
        )
        .route("/api/v1/communities/{community_id}/verdicts", only(get(community_verdicts::get)))
        .route("/api/v1/communities/{community_id}/stats", only(get(community_stats::get)))
        .route("/api/v1/instance/community_config", only(get(instance_config::get)))
        .route("/api/v1/sources/muninn/set_member_directory_event", only(post(muninn_directory::post)))
        .route(
            "/api/v1/keyword_templates/{name}",
            only(
                get(keyword_template_get::get)
                    .post(keyword_template_put::post)
                    .delete(keyword_template_delete::delete),
            ),
        )
        .route("/api/v1/verdicts/{event_id}", only(get(verdict_get::get)))
        .route_layer(middleware::from_fn(move |request: Request, next: Next| {
            let key = key.clone();
            async move { authorise(&key, request, next).await }
        }))
}

/// Lets the request through only with `Authorization: Bearer <key>`, compared in constant time.
async fn authorise(key: &str, request: Request, next: Next) -> Response {
    if bearer_matches(request.headers(), key) {
        next.run(request).await
    } else {
        axum::response::IntoResponse::into_response(unauthorized())
    }
}

/// Whether the `Authorization` header is exactly `Bearer <key>`. Both sides are hashed first, so neither the
/// key's bytes nor its length show in the comparison's timing.
pub(super) fn bearer_matches(headers: &HeaderMap, key: &str) -> bool {
    let Some(header) = headers.get(AUTHORIZATION) else { return false };
    let expected = palisade_store::hash_access_token(&format!("Bearer {key}"));
    let given = palisade_store::hash_access_token(&String::from_utf8_lossy(header.as_bytes()));
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The MSC4387 harms member of error bodies.
pub(super) const HARMS_FIELD: &str = "org.matrix.msc4387.harms";

/// An API error: policyserv's API adds an empty harms list to every error.
pub(super) fn api_error(
    status: StatusCode,
    errcode: &'static str,
    message: impl Into<String>,
) -> MatrixError {
    MatrixError::new(status, errcode, message).with(HARMS_FIELD, Value::Array(vec![]))
}

/// 401 `M_UNAUTHORIZED` "Not allowed".
pub(super) fn unauthorized() -> MatrixError {
    api_error(StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "Not allowed")
}

/// 500 `M_UNKNOWN` "Error"; the cause is logged, never sent.
pub(super) fn internal(error: impl std::fmt::Display) -> MatrixError {
    tracing::warn!(%error, "API request failed");
    api_error(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", "Error")
}

/// 400 `M_BAD_JSON` with the parse error.
pub(super) fn bad_json(message: impl Into<String>) -> MatrixError {
    api_error(StatusCode::BAD_REQUEST, "M_BAD_JSON", message)
}

/// 404 `M_NOT_FOUND`.
pub(super) fn not_found(message: &str) -> MatrixError {
    api_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
}

/// A path parameter, or a Matrix error when it cannot be decoded.
pub(super) fn path_param(
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<String, MatrixError> {
    path.map(|p| p.0).map_err(|e| api_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", e.body_text()))
}

/// Parses a JSON request body; a body that does not parse is `400 M_BAD_JSON` with the parser's message.
pub(super) fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, MatrixError> {
    serde_json::from_slice(body).map_err(|e| bad_json(format!("Bad JSON: {e}")))
}

/// A `200` JSON response.
pub(super) fn ok<T: Serialize>(value: &T) -> Response {
    axum::response::IntoResponse::into_response(axum::Json(value))
}

/// A room as policyserv's API shows it, plus Palisade's join state and room override.
#[derive(Debug, Serialize)]
pub(super) struct RoomObject {
    room_id: String,
    room_version: String,
    /// `""` when unset, as policyserv.
    moderator_user_id: String,
    last_cached_state_timestamp: i64,
    community_id: String,
    join_state: &'static str,
    overrides: Option<Value>,
}

impl From<Room> for RoomObject {
    fn from(room: Room) -> Self {
        Self {
            room_id: room.room_id,
            room_version: room.room_version,
            moderator_user_id: room.moderator_user_id.unwrap_or_default(),
            last_cached_state_timestamp: room.last_state_update_ms,
            community_id: room.community_id,
            join_state: room.join_state.as_str(),
            overrides: room.overrides,
        }
    }
}

/// A community as policyserv's API shows it (the access token is never shown).
#[derive(Debug, Serialize)]
pub(super) struct CommunityObject {
    community_id: String,
    name: String,
    config: Value,
    can_self_join_rooms: bool,
}

impl From<Community> for CommunityObject {
    fn from(community: Community) -> Self {
        let config =
            if community.config.is_object() { community.config } else { Value::Object(Default::default()) };
        Self {
            community_id: community.id,
            name: community.name,
            config,
            can_self_join_rooms: community.can_self_join_rooms,
        }
    }
}

/// Parses and validates one configuration layer (a community config or a room override).
pub(super) fn validated_layer(value: &Value) -> Result<palisade_policy::CommunityConfig, MatrixError> {
    if !value.is_object() {
        return Err(bad_json("The configuration must be a JSON object"));
    }
    let config = palisade_policy::CommunityConfig::from_json(value).map_err(|e| bad_json(e.to_string()))?;
    config.validate().map_err(|e| bad_json(e.to_string()))?;
    Ok(config)
}

/// The current time in milliseconds since the epoch.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!bearer_matches(&headers, "k"));
        for (value, expected) in
            [("Bearer k", true), ("Bearer k ", false), ("bearer k", false), ("Bearer", false), ("k", false)]
        {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer_matches(&headers, "k"), expected, "{value}");
        }
    }
}
