//! `POST /_matrix/policy/v1/sign`, its unstable twin, and the legacy unstable `/event/{eventId}/check`: one
//! decision ([`crate::sign::sign`]), three answer shapes.

mod sign_request;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::{Path, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use palisade_matrix::canonical_json::CanonicalJsonValue;
use serde_json::{Value, json};
use tracing::{Instrument, debug};

use super::{AppState, MatrixError, federation::FederationRequest};
use crate::{
    metrics::SignNote,
    sign::{self, RecentBody, SHED_RETRY_AFTER, SignOutcome},
};
use sign_request::SignRequest;

/// Numbers each `/sign` request for the logs (the `request_id` of its `sign` span).
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// The `error` of a refusal when the community has not set its own.
const DEFAULT_REFUSAL: &str = "This message is not allowed by the policy server";

/// Which endpoint was called, and so how a refusal is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `400 M_FORBIDDEN` with harms.
    Stable,
    /// `200 {}`.
    Unstable,
}

/// `POST /_matrix/policy/v1/sign`.
pub(super) async fn stable(State(state): State<AppState>, request: SignRequest) -> Response {
    answer(&state, request, Shape::Stable).await
}

/// `POST /_matrix/policy/unstable/org.matrix.msc4284/sign`.
pub(super) async fn unstable(State(state): State<AppState>, request: SignRequest) -> Response {
    answer(&state, request, Shape::Unstable).await
}

/// `POST /_matrix/policy/unstable/org.matrix.msc4284/event/{eventId}/check`: `{"recommendation": "ok" | "spam"}`.
pub(super) async fn legacy_check(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    request: FederationRequest,
) -> Response {
    if let Err(refusal) = admit(&state, &request) {
        return refusal.into_response();
    }
    match decide(&state, request, None).await {
        Ok(outcome) if outcome.event_id() != event_id => MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
            format!("the body is event {}, not {event_id}", outcome.event_id()),
        )
        .into_response(),
        Ok(outcome) => {
            let recommendation = if outcome.is_signed() { "ok" } else { "spam" };
            Json(json!({"recommendation": recommendation})).into_response()
        }
        Err(error) => error.to_matrix_error().into_response(),
    }
}

/// The decision on the request's body, in a `sign` span numbered for the logs, timed for the metrics.
async fn decide(
    state: &AppState,
    request: FederationRequest,
    body: Option<Arc<RecentBody>>,
) -> Result<SignOutcome, sign::SignError> {
    let request_id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("sign", request_id, origin = %request.origin);
    let started = Instant::now();
    let decided = decide_parsed(state, request, body).instrument(span.clone()).await;
    if let Some(internals) = crate::metrics::sign_internals() {
        internals.decision.observe(started.elapsed().as_secs_f64());
    }
    span.in_scope(|| match &decided {
        Ok(outcome) => debug!(event_id = outcome.event_id(), signed = outcome.is_signed(), "decided"),
        Err(error) => debug!(%error, "not decided"),
    });
    decided
}

/// The body, parsed at most once: by the X-Matrix check when it was an object not seen lately.
async fn decide_parsed(
    state: &AppState,
    request: FederationRequest,
    body: Option<Arc<RecentBody>>,
) -> Result<SignOutcome, sign::SignError> {
    let object = match request.content {
        Some(CanonicalJsonValue::Object(object)) => Some(object),
        // Not parsed (a body seen lately), or not an object: parsed where it is decided, and anything but an
        // object refused with the parser's own words.
        _ => None,
    };
    match (body, object) {
        (Some(body), object) => sign::sign_recent(state, &request.origin, &body, object, &request.body).await,
        (None, Some(object)) => sign::sign_object(state, &request.origin, object).await,
        (None, None) => sign::sign(state, &request.origin, &request.body).await,
    }
}

async fn answer(state: &AppState, SignRequest { request, body }: SignRequest, shape: Shape) -> Response {
    if let Err(refusal) = admit(state, &request) {
        return refusal.into_response();
    }
    let outcome = match decide(state, request, body).await {
        Ok(outcome) => outcome,
        Err(error) => return error.to_matrix_error().into_response(),
    };
    let note = SignNote {
        signed: outcome.is_signed(),
        harms: match &outcome {
            SignOutcome::Refused { harms, .. } => harms.clone(),
            SignOutcome::Signed { .. } => Vec::new(),
        },
    };
    let mut response = match outcome {
        SignOutcome::Signed { signature, .. } => Json(signature.to_response_json()).into_response(),
        SignOutcome::Refused { .. } if shape == Shape::Unstable => Json(json!({})).into_response(),
        SignOutcome::Refused { harms, expiry_ms, message, .. } => {
            refusal(harms, expiry_ms, message).into_response()
        }
    };
    response.extensions_mut().insert(note);
    response
}

/// Load shedding, before the X-Matrix check: when too many requests are in progress, new ones get `429` at once,
/// without spending a signature verification on them.
pub(super) async fn shed_load(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.sign_shedder.enter() {
        Some(_admitted) => next.run(request).await,
        None => too_many_requests(SHED_RETRY_AFTER).into_response(),
    }
}

/// The per-origin rate limit: `429 M_LIMIT_EXCEEDED` with `retry_after_ms` when exhausted.
fn admit(state: &AppState, request: &FederationRequest) -> Result<(), MatrixError> {
    state.sign_limiter.check(request.origin.as_str(), Instant::now()).map_err(too_many_requests)
}

fn too_many_requests(retry_after: Duration) -> MatrixError {
    MatrixError::new(StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED", "Too many requests")
        .with("retry_after_ms", u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX).max(1))
}

/// `400 M_FORBIDDEN` with the harms under both names homeservers read, and the expiry of a time-bound verdict.
fn refusal(harms: Vec<String>, expiry_ms: Option<i64>, message: Option<String>) -> MatrixError {
    let harms = Value::from(harms);
    let text = message.unwrap_or_else(|| DEFAULT_REFUSAL.to_owned());
    let mut error = MatrixError::new(StatusCode::BAD_REQUEST, "M_FORBIDDEN", text)
        .with("harms", harms.clone())
        .with("org.matrix.msc4387.harms", harms);
    if let Some(expiry) = expiry_ms {
        error = error.with("expiry", expiry);
    }
    error
}

#[cfg(test)]
mod tests;
