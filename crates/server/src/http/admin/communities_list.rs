//! `GET /api/v1/communities` (Palisade): every community, ordered by ID.

use axum::{extract::State, response::Response};

use super::{CommunityObject, internal, ok};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(State(state): State<AppState>) -> Result<Response, MatrixError> {
    let communities = state.store.list_communities().await.map_err(internal)?;
    Ok(ok(&communities.into_iter().map(CommunityObject::from).collect::<Vec<_>>()))
}
