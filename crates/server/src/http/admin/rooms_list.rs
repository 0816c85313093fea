//! `GET /api/v1/rooms`: every room we know, ordered by ID (`[]` when there are none; policyserv sent `null`).

use axum::{extract::State, response::Response};

use super::{RoomObject, internal, ok};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(State(state): State<AppState>) -> Result<Response, MatrixError> {
    let rooms = state.store.list_rooms().await.map_err(internal)?;
    Ok(ok(&rooms.into_iter().map(RoomObject::from).collect::<Vec<_>>()))
}
