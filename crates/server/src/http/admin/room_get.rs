//! `GET /api/v1/rooms/{roomId}`: one room; 404 `M_NOT_FOUND` "Room not found" means it is not protected.

use axum::{
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};

use super::{RoomObject, internal, not_found, ok, path_param};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let room_id = path_param(room_id)?;
    match state.store.get_room(&room_id).await.map_err(internal)? {
        Some(room) => Ok(ok(&RoomObject::from(room))),
        None => Err(not_found("Room not found")),
    }
}
