//! `GET /api/v1/keyword_templates/{name}`: `{"name", "body"}`, or 404 "Template not found".

use axum::{
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use serde_json::json;

use super::{internal, not_found, ok, path_param};
use crate::http::{AppState, MatrixError};

pub(super) async fn get(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let name = path_param(name)?;
    match state.store.get_keyword_template(&name).await.map_err(internal)? {
        Some(body) => Ok(ok(&json!({"name": name, "body": body}))),
        None => Err(not_found("Template not found")),
    }
}
