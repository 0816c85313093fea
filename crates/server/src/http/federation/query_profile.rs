//! `GET /_matrix/federation/v1/query/profile?user_id=…&field=…`: the profile of our user, which clients on
//! other servers look up when they see it in a room's member list.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
};
use palisade_matrix::OwnedUserId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FederationRequest, UserLookup};
use crate::http::{AppState, MatrixError};

/// The display name of our user.
pub(crate) const DISPLAY_NAME: &str = "Palisade";

#[derive(Debug, Deserialize)]
pub(super) struct ProfileQuery {
    user_id: Option<String>,
    field: Option<String>,
}

pub(super) async fn get(
    State(state): State<AppState>,
    query: Result<Query<ProfileQuery>, QueryRejection>,
    _request: FederationRequest,
) -> Result<Json<Value>, MatrixError> {
    let Query(query) = query.map_err(|e| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", format!("Bad query string: {e}"))
    })?;
    let raw = query.user_id.ok_or_else(|| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_MISSING_PARAM", "The user_id parameter is required")
    })?;
    let user_id = OwnedUserId::try_from(raw.as_str()).map_err(|e| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", format!("Invalid user ID {raw:?}: {e}"))
    })?;
    if UserLookup::of(&user_id, &state.server_name, &state.inbound.settings) != UserLookup::Ours {
        return Err(not_found(&format!("No profile for {user_id}")));
    }
    match query.field.as_deref() {
        None | Some("displayname") => Ok(Json(json!({"displayname": DISPLAY_NAME}))),
        // A field our user does not have (no avatar is set) is left out, as Synapse does for its own users: a 404
        // here makes an inviting Synapse log a failed request against us.
        Some(_) => Ok(Json(json!({}))),
    }
}

fn not_found(message: &str) -> MatrixError {
    MatrixError::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
}
