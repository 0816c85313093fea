//! `GET|PUT|DELETE /api/v1/rooms/{roomId}/config` (Palisade, policyserv#8): the room's override layer, applied
//! on top of its community's config. `PUT` replaces the override (validated like a community config), `DELETE`
//! removes it; every answer shows the override and the resulting effective config.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use palisade_policy::{CommunityConfig, EffectiveConfig};
use palisade_store::Room;
use serde_json::{Value, json};

use super::{internal, not_found, ok, parse_json, path_param, validated_layer};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let room = room(&state, &path_param(room_id)?).await?;
    answer(&state, room).await
}

pub(super) async fn put(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let room_id = path_param(room_id)?;
    let value: Value = parse_json(&body)?;
    validated_layer(&value)?;
    let mut room = room(&state, &room_id).await?;
    state.store.set_room_overrides(&room_id, Some(&value)).await.map_err(internal)?;
    room.overrides = Some(value);
    answer(&state, room).await
}

pub(super) async fn delete(
    State(state): State<AppState>,
    room_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let room_id = path_param(room_id)?;
    let mut room = room(&state, &room_id).await?;
    state.store.set_room_overrides(&room_id, None).await.map_err(internal)?;
    room.overrides = None;
    answer(&state, room).await
}

async fn room(state: &AppState, room_id: &str) -> Result<Room, MatrixError> {
    state.store.get_room(room_id).await.map_err(internal)?.ok_or_else(|| not_found("Room not found"))
}

/// `{"room_id", "community_id", "overrides", "effective"}`.
async fn answer(state: &AppState, room: Room) -> Result<Response, MatrixError> {
    let community = match state.store.get_community(&room.community_id).await.map_err(internal)? {
        Some(c) => CommunityConfig::from_json(&c.config).unwrap_or_default(),
        None => CommunityConfig::default(),
    };
    let overrides = room.overrides.as_ref().map(CommunityConfig::from_json).transpose().unwrap_or_default();
    let effective =
        EffectiveConfig::from_layers(state.evaluator.instance_config(), &community, overrides.as_ref());
    Ok(ok(&json!({
        "room_id": room.room_id,
        "community_id": room.community_id,
        "overrides": room.overrides.unwrap_or_else(|| json!({})),
        "effective": effective,
    })))
}
