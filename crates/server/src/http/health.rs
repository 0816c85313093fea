//! `GET /health` (the process answers) and `GET /ready` (it can do its work: the store answers and `/sign` is not
//! shedding load, so a load balancer can send new work elsewhere).

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::{AppState, MatrixError};

pub(super) async fn alive() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn ready(State(state): State<AppState>) -> Result<Json<Value>, MatrixError> {
    if state.sign_shedder.shedding() {
        return Err(MatrixError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_LIMIT_EXCEEDED",
            "overloaded: turning /sign requests away",
        ));
    }
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check: store unreachable");
            Err(MatrixError::new(StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN", "the database is unreachable"))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use tower::ServiceExt;

    use crate::http::{
        router,
        test_support::{call, get, state},
    };

    #[tokio::test]
    async fn ready_follows_the_store() {
        let (response, body) = call(get("/ready")).await;
        assert_eq!((response.status().as_u16(), body["status"].as_str()), (200, Some("ready")));
        let state = state().await;
        state.store.close().await;
        let response = router(state).oneshot(get("/ready")).await.unwrap();
        assert_eq!(response.status(), 503);
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["errcode"], "M_UNKNOWN");
    }
}
