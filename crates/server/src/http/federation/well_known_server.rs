//! `GET /.well-known/matrix/server`: delegation of our server name to the `host:port` that serves federation,
//! when the operator configured `federation.well_known_server`.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use crate::http::{AppState, MatrixError};

pub(super) async fn get(State(state): State<AppState>) -> Result<Json<Value>, MatrixError> {
    match &state.inbound.settings.well_known_server {
        Some(server) => Ok(Json(json!({"m.server": server}))),
        None => {
            Err(MatrixError::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "No server delegation is configured"))
        }
    }
}
