//! `DELETE /api/v1/communities/{communityId}` (Palisade, policyserv#87): deletes a community that has no rooms.
//! Rooms are left (`DELETE /api/v1/rooms/{roomId}`) or moved away first; the built-in `default` community stays.

use axum::{
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::Response,
};
use serde_json::json;

use super::{api_error, community_get::community, internal, ok, path_param};
use crate::{
    http::{AppState, MatrixError},
    rooms::DEFAULT_COMMUNITY,
};

pub(super) async fn delete(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let community_id = path_param(community_id)?;
    community(&state, &community_id).await?;
    if community_id == DEFAULT_COMMUNITY {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "M_BAD_STATE",
            "The default community cannot be deleted",
        ));
    }
    if !state.store.delete_community(&community_id).await.map_err(internal)? {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "M_BAD_STATE",
            "Community still has rooms; leave or move them first",
        ));
    }
    Ok(ok(&json!({"community_id": community_id, "deleted": true})))
}
