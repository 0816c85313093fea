//! `POST /api/v1/keyword_templates/{name}` (raw template text): stores the template and echoes `{"name", "body"}`.
//! Unlike policyserv, the template is parsed first: one that does not parse is `400 M_BAD_JSON` with the parse
//! error, instead of failing later when a community's filters are built.

use axum::{
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use palisade_policy::keyword_template::KeywordTemplate;
use serde_json::json;

use super::{bad_json, internal, ok, path_param};
use crate::http::{AppState, MatrixError};

pub(super) async fn post(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let name = path_param(name)?;
    let body = String::from_utf8(body.to_vec()).map_err(|_| bad_json("The template is not UTF-8"))?;
    KeywordTemplate::parse(&name, &body)
        .map_err(|e| bad_json(format!("Template does not parse: {}", e.message)))?;
    state.store.put_keyword_template(&name, &body).await.map_err(internal)?;
    Ok(ok(&json!({"name": name, "body": body})))
}
