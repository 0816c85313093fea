//! `POST /api/v1/sources/muninn/set_member_directory_event`: a Muninn Hall `!member-directory` reply event. The
//! server names (the keys of `content["com.muninn-hall.member_directory"]`) become the trusted Muninn servers at
//! once, and are stored as the poller stores them. The answer is the event's directory content, as policyserv.

use axum::{body::Bytes, extract::State, response::Response};
use palisade_policy::trust::TrustData;
use serde_json::{Value, json};

use super::{bad_json, internal, ok, parse_json};
use crate::{
    http::{AppState, MatrixError},
    outside::muninn::TRUST_SOURCE,
};

const DIRECTORY_KEY: &str = "com.muninn-hall.member_directory";

pub(super) async fn post(State(state): State<AppState>, body: Bytes) -> Result<Response, MatrixError> {
    let event: Value = parse_json(&body)?;
    let Some(directory) = event.get("content").and_then(|c| c.get(DIRECTORY_KEY)).filter(|d| d.is_object())
    else {
        return Err(bad_json(format!("content.{DIRECTORY_KEY} must be an object")));
    };
    let data = TrustData::from_member_directory(directory);
    let stored = json!({"server_names": data.muninn_servers});
    state.store.put_trust_data(TRUST_SOURCE, "", &stored).await.map_err(internal)?;
    state.evaluator.trust_cache().set(data);
    Ok(ok(&json!({"content": {DIRECTORY_KEY: directory}})))
}
