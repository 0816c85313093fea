//! `POST /_policyserv/v1/check/text` (raw text): runs the caller's text filters (keywords, length, density, links
//! ...) on the text. Spam is `400 ORG.MATRIX.MSC4387_SAFETY` "Text is probably spammy" with harms (policyserv's
//! upper-case errcode, kept for its clients); anything else is `200 {}`.

use axum::{body::Bytes, extract::State, http::StatusCode, response::Response};
use palisade_policy::{CommunityConfig, ContentClass, EffectiveConfig, decide_text};
use serde_json::json;

use super::Caller;
use crate::http::{
    AppState, MatrixError,
    admin::{HARMS_FIELD, bad_json, ok},
};

pub(super) async fn post(
    State(state): State<AppState>,
    Caller(community): Caller,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let text = std::str::from_utf8(&body).map_err(|_| bad_json("The text is not UTF-8"))?;
    let layer = CommunityConfig::from_json(&community.config).unwrap_or_default();
    let config = EffectiveConfig::from_layers(state.evaluator.instance_config(), &layer, None);
    let verdict = decide_text(text, &config);
    if verdict.class == ContentClass::Prohibited {
        return Err(MatrixError::new(
            StatusCode::BAD_REQUEST,
            "ORG.MATRIX.MSC4387_SAFETY",
            "Text is probably spammy",
        )
        .with(HARMS_FIELD, verdict.harms));
    }
    Ok(ok(&json!({})))
}
