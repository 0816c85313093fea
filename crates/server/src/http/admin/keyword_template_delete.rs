//! `DELETE /api/v1/keyword_templates/{name}` (Palisade): removes a template (policyserv could only empty it).

use axum::{
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use serde_json::json;

use super::{internal, not_found, ok, path_param};
use crate::http::{AppState, MatrixError};

pub(super) async fn delete(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let name = path_param(name)?;
    if !state.store.delete_keyword_template(&name).await.map_err(internal)? {
        return Err(not_found("Template not found"));
    }
    Ok(ok(&json!({"name": name, "deleted": true})))
}
