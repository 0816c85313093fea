//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the admin and community API (`docs/openapi.json`),
//! public so tools can read it without a key. Tests check that it lists exactly the routes the router binds.

use axum::{http::header::CONTENT_TYPE, response::IntoResponse};

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

/// The document, as checked in.
pub const DOCUMENT: &str = include_str!("../../../../docs/openapi.json");

pub(super) async fn get() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
