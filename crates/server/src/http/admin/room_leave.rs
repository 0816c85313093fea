//! `DELETE /api/v1/rooms/{roomId}[?force=true]` (Palisade, policyserv#87): leave the room and stop protecting it.
//! The room row is removed so the room can be protected again later, in any community; its verdicts are kept.
//! With `force=true` the row is removed even when no server took our leave.

use axum::{
    extract::{Path, Query, State, rejection::PathRejection},
    http::StatusCode,
    response::Response,
};
use palisade_matrix::OwnedRoomId;
use serde::Deserialize;
use serde_json::json;

use super::{api_error, internal, not_found, ok, path_param};
use crate::{
    http::{AppState, MatrixError},
    rooms::LeaveError,
};

#[derive(Debug, Default, Deserialize)]
pub(super) struct LeaveQuery {
    #[serde(default)]
    force: bool,
}

pub(super) async fn delete(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
    query: Result<Query<LeaveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, MatrixError> {
    let room_id = path_param(room_id)?;
    let force =
        query.map_err(|e| api_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", e.body_text()))?.force;
    let Ok(parsed) = OwnedRoomId::try_from(room_id.as_str()) else { return Err(not_found("Room not found")) };
    let left = match state.rooms.leave(&parsed).await {
        Ok(()) => true,
        Err(LeaveError::NotFound) => return Err(not_found("Room not found")),
        Err(LeaveError::Failed(reason)) if force => {
            tracing::warn!(room_id, %reason, "leave failed; forgetting the room anyway");
            false
        }
        Err(LeaveError::Failed(reason)) => {
            return Err(api_error(
                StatusCode::BAD_GATEWAY,
                "M_UNKNOWN",
                format!("Could not leave the room: {reason}"),
            ));
        }
    };
    state.store.delete_room(&room_id).await.map_err(internal)?;
    Ok(ok(&json!({"room_id": room_id, "left": left})))
}
