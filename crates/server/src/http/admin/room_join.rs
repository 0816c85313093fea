//! `POST /api/v1/rooms/{roomId}/join` `{"community_id", "via"?}`: join and protect a room.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::Response,
};
use palisade_matrix::{OwnedRoomId, OwnedServerName};
use serde::Deserialize;

use super::{RoomObject, api_error, bad_json, ok, parse_json, path_param};
use crate::{
    http::{AppState, MatrixError},
    rooms::JoinError,
};

#[derive(Debug, Deserialize)]
struct JoinRequest {
    #[serde(default)]
    community_id: Option<String>,
    /// Palisade: a server to join through before the configured join server.
    #[serde(default)]
    via: Option<String>,
}

pub(super) async fn post(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let room_id = path_param(room_id)?;
    let request: JoinRequest = parse_json(&body)?;
    let community_id = request.community_id.unwrap_or_default();
    let room = join(&state, &room_id, &community_id, request.via.as_deref()).await?;
    Ok(ok(&RoomObject::from(room)))
}

/// Joins `room_id` into `community_id`; shared with the community API's self-join.
pub(crate) async fn join(
    state: &AppState,
    room_id: &str,
    community_id: &str,
    via: Option<&str>,
) -> Result<palisade_store::Room, MatrixError> {
    let room_id = OwnedRoomId::try_from(room_id)
        .map_err(|_| api_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", "Invalid room ID"))?;
    let via =
        via.map(OwnedServerName::try_from).transpose().map_err(|_| bad_json("via: not a server name"))?;
    state.rooms.join(&room_id, community_id, via.as_deref()).await.map_err(|error| match error {
        JoinError::CommunityNotFound => {
            api_error(StatusCode::BAD_REQUEST, "M_BAD_STATE", "Community not found")
        }
        JoinError::AlreadyJoined => api_error(StatusCode::BAD_REQUEST, "M_BAD_STATE", "Room already exists"),
        JoinError::InProgress => {
            api_error(StatusCode::BAD_REQUEST, "M_BAD_STATE", "A join of this room is already in progress")
        }
        JoinError::Failed(reason) => {
            tracing::warn!(room_id = %room_id, %reason, "API join failed");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "M_UNKNOWN",
                format!("Could not join the room: {reason}"),
            )
        }
    })
}
