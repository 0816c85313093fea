//! `GET /api/v1/instance/community_config`: the instance's community defaults with every key resolved (what a
//! community inherits when it sets nothing). The setup bot shows these next to a community's own values.

use axum::{extract::State, response::Response};
use palisade_policy::{CommunityConfig, EffectiveConfig};

use super::ok;
use crate::http::{AppState, MatrixError};

pub(super) async fn get(State(state): State<AppState>) -> Result<Response, MatrixError> {
    let effective =
        EffectiveConfig::from_layers(state.evaluator.instance_config(), &CommunityConfig::default(), None);
    Ok(ok(&effective))
}
