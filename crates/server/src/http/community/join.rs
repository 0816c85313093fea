//! `POST /_policyserv/v1/join/{roomId}`: a community with `can_self_join_rooms` adds a room to itself; otherwise
//! `403 M_FORBIDDEN` "This community cannot self-serve add rooms". The join itself is the admin API's.

use axum::{
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};

use super::{Caller, forbidden};
use crate::http::{
    AppState, MatrixError,
    admin::{RoomObject, ok, path_param, room_join},
};

pub(super) async fn post(
    State(state): State<AppState>,
    Caller(community): Caller,
    room_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    if !community.can_self_join_rooms {
        return Err(forbidden("This community cannot self-serve add rooms"));
    }
    let room_id = path_param(room_id)?;
    let room = room_join::join(&state, &room_id, &community.id, None).await?;
    Ok(ok(&RoomObject::from(room)))
}
