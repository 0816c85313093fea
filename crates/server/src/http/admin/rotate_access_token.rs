//! `POST /api/v1/communities/{communityId}/rotate_access_token`: issues a new community API token
//! (`pst_` + 26 random base32 characters, 130 bits) and revokes the old one at once.
//!
//! Tokens are stored only as hashes, so `old_access_token` is always `""` (policyserv returned the old token).

use axum::{
    extract::{Path, State, rejection::PathRejection},
    response::Response,
};
use serde_json::json;

use super::{community_get::community, internal, ok, path_param};
use crate::http::{AppState, MatrixError};

pub(super) async fn post(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
) -> Result<Response, MatrixError> {
    let community_id = path_param(community_id)?;
    community(&state, &community_id).await?;
    let token = new_token();
    state.store.set_community_access_token(&community_id, Some(&token)).await.map_err(internal)?;
    Ok(ok(&json!({"old_access_token": "", "new_access_token": token})))
}

/// `pst_` and 26 characters of RFC 4648 base32 from the OS random source.
pub(crate) fn new_token() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 26];
    rand::fill(&mut bytes);
    let mut token = String::from("pst_");
    token.extend(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])));
    token
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_prefixed_random_and_distinct() {
        let (a, b) = (super::new_token(), super::new_token());
        assert!(a.starts_with("pst_") && a.len() == 30, "{a}");
        assert_ne!(a, b);
    }
}
