//! `PUT /api/v1/rooms/{roomId}/community` `{"community_id"}` (Palisade, policyserv#90): move a protected room
//! to another community. The room's later events are judged with the new community's config.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{RoomObject, api_error, internal, not_found, ok, parse_json, path_param};
use crate::http::{AppState, MatrixError};

#[derive(Debug, Deserialize)]
struct MoveRequest {
    community_id: String,
}

pub(super) async fn put(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let room_id = path_param(room_id)?;
    let request: MoveRequest = parse_json(&body)?;
    let Some(mut room) = state.store.get_room(&room_id).await.map_err(internal)? else {
        return Err(not_found("Room not found"));
    };
    if state.store.get_community(&request.community_id).await.map_err(internal)?.is_none() {
        return Err(api_error(StatusCode::BAD_REQUEST, "M_BAD_STATE", "Community not found"));
    }
    room.community_id = request.community_id;
    state.store.put_room(&room).await.map_err(internal)?;
    Ok(ok(&RoomObject::from(room)))
}
