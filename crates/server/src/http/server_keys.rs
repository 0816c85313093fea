//! `GET /_matrix/key/v2/server`: our federation key, self-signed. The policy key is never listed here: homeservers
//! take it from the room's `m.room.policy` state.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{Json, extract::State};
use palisade_matrix::server_keys::signed_document;
use serde_json::Value;

use super::AppState;

/// How long other servers may cache our key document.
const VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

pub(super) async fn get(State(state): State<AppState>) -> Json<Value> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let valid_until_ts = i64::try_from((now + VALIDITY).as_millis()).unwrap_or(i64::MAX);
    Json(signed_document(state.server_name.as_str(), &state.keys.federation, &[], valid_until_ts))
}

#[cfg(test)]
mod tests {
    use palisade_matrix::server_keys::parse_and_verify;

    use crate::http::test_support::{call, get, keys};

    #[tokio::test]
    async fn publishes_only_the_federation_key_self_signed() {
        let (response, body) = call(get("/_matrix/key/v2/server")).await;
        assert_eq!(response.status(), 200);
        let published =
            parse_and_verify(&serde_json::to_vec(&body).unwrap(), "palisade.example.org").unwrap();
        assert_eq!(published.verify_keys.len(), 1);
        assert_eq!(published.verify_keys["ed25519:a_test"], keys().federation.public_key());
        assert!(!body.to_string().contains(&keys().policy.public_key_base64()));
        assert!(!body.to_string().contains("policy_server"));
    }
}
