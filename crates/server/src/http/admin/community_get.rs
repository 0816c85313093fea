//! `GET /api/v1/communities/{communityId}`: one community (never its access token).

use axum::{
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use palisade_store::Community;

use super::{CommunityObject, internal, not_found, ok, path_param};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let community = community(&state, &path_param(community_id)?).await?;
    Ok(ok(&CommunityObject::from(community)))
}

/// The community, or 404 `M_NOT_FOUND` "Community not found".
pub(super) async fn community(state: &AppState, community_id: &str) -> Result<Community, MatrixError> {
    state
        .store
        .get_community(community_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("Community not found"))
}
