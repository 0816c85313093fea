//! `GET /_matrix/federation/v1/version`.

use axum::Json;
use serde_json::{Value, json};

pub(super) async fn get() -> Json<Value> {
    Json(json!({"server": {"name": "Palisade", "version": env!("CARGO_PKG_VERSION")}}))
}

#[cfg(test)]
mod tests {
    use crate::http::test_support::{call, get};

    #[tokio::test]
    async fn names_palisade_and_its_version() {
        let (response, body) = call(get("/_matrix/federation/v1/version")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(body["server"]["name"], "Palisade");
        assert_eq!(body["server"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
