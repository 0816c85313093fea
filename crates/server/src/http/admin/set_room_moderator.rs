//! `POST /api/v1/set_room_moderator` `{"room_id", "moderator_user_id"}` (deprecated in policyserv; kept for
//! scripts): sets the user whose moderator access token redacts spam in the room (`""` unsets). Echoes the request.

use axum::{body::Bytes, extract::State, response::Response};
use serde::{Deserialize, Serialize};

use super::{internal, not_found, ok, parse_json};
use crate::http::{AppState, MatrixError};

#[derive(Debug, Deserialize, Serialize)]
struct SetModerator {
    room_id: String,
    #[serde(default)]
    moderator_user_id: String,
}

pub(super) async fn post(State(state): State<AppState>, body: Bytes) -> Result<Response, MatrixError> {
    let request: SetModerator = parse_json(&body)?;
    let Some(mut room) = state.store.get_room(&request.room_id).await.map_err(internal)? else {
        return Err(not_found("Room not found"));
    };
    room.moderator_user_id =
        if request.moderator_user_id.is_empty() { None } else { Some(request.moderator_user_id.clone()) };
    state.store.put_room(&room).await.map_err(internal)?;
    Ok(ok(&request))
}
