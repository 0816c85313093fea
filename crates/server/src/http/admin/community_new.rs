//! `POST /api/v1/communities/new` `{"name"}`: creates a community with an empty config.
//!
//! The trimmed name must be 4 to 254 bytes long, as policyserv checks (its message says "between 3 and 255").

use axum::{body::Bytes, extract::State, response::Response};
use serde::Deserialize;

use super::{CommunityObject, bad_json, internal, ok, parse_json};
use crate::http::{AppState, MatrixError};

#[derive(Debug, Deserialize)]
struct NewCommunity {
    #[serde(default)]
    name: Option<String>,
}

pub(super) async fn post(State(state): State<AppState>, body: Bytes) -> Result<Response, MatrixError> {
    let request: NewCommunity = parse_json(&body)?;
    let name = request.name.unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return Err(bad_json("Name is required"));
    }
    if name.len() <= 3 || name.len() >= 255 {
        return Err(bad_json("Name must be between 3 and 255 characters"));
    }
    let community = state.store.create_community(name).await.map_err(internal)?;
    Ok(ok(&CommunityObject::from(community)))
}
