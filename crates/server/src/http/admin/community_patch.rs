//! `PATCH /api/v1/communities/{communityId}`: merges a partial community object onto the stored one.
//!
//! As in policyserv, `name` and `can_self_join_rooms` are replaced, `config` merges key by key (a `null` value
//! removes the key, so it inherits again), and `community_id` and the access token cannot be changed. Unlike
//! policyserv, the merged config is validated and the name is held to the rules of community creation.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    CommunityObject, bad_json, community_get::community, internal, ok, parse_json, path_param,
    validated_layer,
};
use crate::http::{AppState, MatrixError};

#[derive(Debug, Deserialize)]
struct Patch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    config: Option<Map<String, Value>>,
    #[serde(default)]
    can_self_join_rooms: Option<bool>,
}

pub(super) async fn patch(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let community_id = path_param(community_id)?;
    let mut community = community(&state, &community_id).await?;
    let patch: Patch = parse_json(&body)?;
    if let Some(name) = patch.name {
        let name = name.trim();
        if name.len() <= 3 || name.len() >= 255 {
            return Err(bad_json("Name must be between 3 and 255 characters"));
        }
        name.clone_into(&mut community.name);
    }
    if let Some(can_self_join_rooms) = patch.can_self_join_rooms {
        community.can_self_join_rooms = can_self_join_rooms;
    }
    if let Some(changes) = patch.config {
        let mut config = community.config.as_object().cloned().unwrap_or_default();
        for (key, value) in changes {
            if value.is_null() {
                config.remove(&key);
            } else {
                config.insert(key, value);
            }
        }
        let config = Value::Object(config);
        validated_layer(&config)?;
        community.config = config;
    }
    state.store.put_community(&community).await.map_err(internal)?;
    Ok(ok(&CommunityObject::from(community)))
}
