//! `GET /_matrix/federation/v1/user/devices/{userId}`: remote servers ask for our user's devices when one of
//! their clients queries keys. The policy server's user has no devices; saying so stops the questions.

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use palisade_matrix::OwnedUserId;
use serde_json::{Value, json};

use super::{FederationRequest, UserLookup};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(
    State(state): State<AppState>,
    user_id: Result<Path<String>, PathRejection>,
    _request: FederationRequest,
) -> Result<Json<Value>, MatrixError> {
    let Path(raw) = user_id.map_err(|e| invalid(&e.to_string()))?;
    let user_id = OwnedUserId::try_from(raw.as_str()).map_err(|e| invalid(&format!("{raw:?}: {e}")))?;
    match UserLookup::of(&user_id, &state.server_name, &state.inbound.settings) {
        // The stream ID only has to be stable: the device list never changes.
        UserLookup::Ours => Ok(Json(json!({"user_id": user_id.as_str(), "stream_id": 0, "devices": []}))),
        UserLookup::UnknownLocal => {
            Err(MatrixError::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", format!("Unknown user {user_id}")))
        }
        UserLookup::Remote => Err(MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            format!("{user_id} is not a user of this server"),
        )),
    }
}

fn invalid(reason: &str) -> MatrixError {
    MatrixError::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", format!("Invalid user ID {reason}"))
}
