//! `POST /api/v1/communities/{communityId}/config`: replaces the community's whole config (as policyserv), after
//! validating it: unknown keys and out-of-range values are `400 M_BAD_JSON` naming the key (policyserv stored
//! anything). `GET` (Palisade) shows the stored config, the instance defaults and the effective result.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use palisade_policy::{CommunityConfig, EffectiveConfig};
use serde_json::{Value, json};

use super::{
    CommunityObject, community_get::community, internal, ok, parse_json, path_param, validated_layer,
};
use crate::http::{AppState, MatrixError};

pub(super) async fn post(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let community_id = path_param(community_id)?;
    let mut community = community(&state, &community_id).await?;
    let config: Value = parse_json(&body)?;
    validated_layer(&config)?;
    state.store.set_community_config(&community_id, &config).await.map_err(internal)?;
    community.config = config;
    Ok(ok(&CommunityObject::from(community)))
}

pub(super) async fn get(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let community = community(&state, &path_param(community_id)?).await?;
    let layer = CommunityConfig::from_json(&community.config).unwrap_or_default();
    let instance = state.evaluator.instance_config();
    Ok(ok(&json!({
        "community_id": community.id,
        "config": community.config,
        "instance": EffectiveConfig::from_layers(instance, &CommunityConfig::default(), None),
        "effective": EffectiveConfig::from_layers(instance, &layer, None),
    })))
}
