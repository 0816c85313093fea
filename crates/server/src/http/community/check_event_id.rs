//! `POST /_policyserv/v1/check/event_id` `{"event_id"}`: the verdict on an event. A stored verdict is answered at
//! once (and, unlike policyserv at HEAD, a stored neutral verdict reads back as neutral); otherwise the event is
//! fetched from the configured event-fetch servers, checked (room known, ID matching its content, signatures) and
//! judged by its own room's community filters, as `/sign` would. Refused: `400 M_FORBIDDEN` "This message is not
//! allowed by the policy server" with harms; otherwise `200 {}`.

use std::sync::Arc;

use axum::{Extension, body::Bytes, extract::State, http::StatusCode, response::Response};
use palisade_federation::client::Outcome;
use palisade_matrix::{Pdu, canonical_json, path_segment};
use palisade_store::VerdictClass;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Caller;
use crate::{
    event_signatures::{KeyMemo, check_event_signatures},
    http::{
        AppState, MatrixError,
        admin::{ApiSettings, HARMS_FIELD, api_error, internal, not_found, ok, parse_json},
    },
};

#[derive(Debug, Deserialize)]
struct CheckRequest {
    event_id: String,
}

pub(super) async fn post(
    State(state): State<AppState>,
    Extension(settings): Extension<Arc<ApiSettings>>,
    Caller(_community): Caller,
    body: Bytes,
) -> Result<Response, MatrixError> {
    let request: CheckRequest = parse_json(&body)?;
    let stored = state.store.verdicts_for_event(&request.event_id).await.map_err(internal)?;
    if let Some(verdict) = stored.first() {
        return answer(verdict.class == VerdictClass::Prohibited, &verdict.harms);
    }
    let pdu = fetch(&state, &settings, &request.event_id).await?;
    let context = state
        .evaluator
        .room_context(&state, pdu.room_id().as_str())
        .await
        .map_err(|e| api_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", e.to_string()))?;
    let verified = check_event_signatures(&state, &pdu, &mut KeyMemo::default()).await.map_err(|e| {
        api_error(StatusCode::BAD_REQUEST, "M_FORBIDDEN", format!("Bad event signatures: {e}"))
    })?;
    let verdict =
        state.evaluator.verdict(&state, &context, &pdu, &verified).await.map_err(|e| e.to_matrix_error())?;
    answer(verdict.class() == palisade_policy::ContentClass::Prohibited, &verdict.harms)
}

fn answer(refused: bool, harms: &[String]) -> Result<Response, MatrixError> {
    if refused {
        return Err(MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_FORBIDDEN",
            "This message is not allowed by the policy server",
        )
        .with(HARMS_FIELD, harms.to_vec()));
    }
    Ok(ok(&json!({})))
}

/// The event from the first event-fetch server that returns it for a room we know, with an event ID that matches
/// its content.
async fn fetch(state: &AppState, settings: &ApiSettings, event_id: &str) -> Result<Pdu, MatrixError> {
    let path = format!("/_matrix/federation/v1/event/{}", path_segment::encode(event_id));
    let mut errors = Vec::new();
    for server in &settings.event_fetch_servers {
        let response: Value = match state.federation.client.get_json(server, &path).await {
            Outcome::Ok(response) => response,
            other => {
                errors.push(format!("{server}: {}", describe(&other)));
                continue;
            }
        };
        match parse(state, &response, event_id).await {
            Ok(pdu) => return Ok(pdu),
            Err(error) => errors.push(format!("{server}: {error}")),
        }
    }
    tracing::info!(event_id, errors = ?errors, "event-ID check: event not found");
    Err(not_found("Event not found"))
}

async fn parse(state: &AppState, response: &Value, event_id: &str) -> Result<Pdu, String> {
    let pdus = response.get("pdus").and_then(Value::as_array).ok_or("no pdus in the response")?;
    let [pdu] = pdus.as_slice() else { return Err("expected exactly one PDU".to_owned()) };
    let object = canonical_json::from_value(pdu.clone()).map_err(|e| e.to_string())?;
    let room_id = pdu.get("room_id").and_then(Value::as_str).ok_or("the PDU has no room_id")?;
    let context = state.evaluator.room_context(state, room_id).await.map_err(|e| e.to_string())?;
    let pdu = Pdu::from_object(object, &context.version).map_err(|e| e.to_string())?;
    if pdu.event_id().as_str() != event_id {
        return Err(format!("the server returned event {} instead", pdu.event_id()));
    }
    Ok(pdu)
}

fn describe<T>(outcome: &Outcome<T>) -> String {
    match outcome {
        Outcome::Ok(_) => "ok".to_owned(),
        Outcome::MatrixError { status, errcode, error } => format!("{status} {errcode}: {error}"),
        Outcome::Unreachable(e)
        | Outcome::Denied(e)
        | Outcome::InvalidResponse(e)
        | Outcome::InvalidRequest(e) => e.clone(),
        Outcome::BackingOff { .. } => "backing off".to_owned(),
        #[allow(unreachable_patterns)]
        _ => "failed".to_owned(),
    }
}
