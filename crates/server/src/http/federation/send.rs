//! `PUT /_matrix/federation/v1/send/{txnId}`: a transaction of PDUs and EDUs from a server in one of our rooms.
//!
//! Every PDU gets its own answer: `{}` when accepted, `{"error": ...}` when not. A bad PDU never fails the
//! transaction (the sender would retry it forever); only a malformed transaction, a wrong origin or a storage
//! failure does. Accepted PDUs go to the [`PduSink`](super::PduSink). EDUs (typing, receipts, presence, device
//! lists) mean nothing to a policy server and are dropped.
//!
//! Retries are idempotent: the first answer to `(origin, txnId)` is stored and replayed, so a transaction whose
//! response was lost is not processed twice.

use std::{
    collections::{BTreeMap, HashSet},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use palisade_matrix::{Pdu, RoomVersion, canonical_json, event_id};
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};
use tracing::{debug, info, warn};

use super::FederationRequest;
use crate::event_signatures::{KeyMemo, check_event_signatures};
use crate::http::{AppState, MatrixError};

/// The spec's limits on one transaction.
pub(crate) const MAX_PDUS: usize = 50;
pub(crate) const MAX_EDUS: usize = 100;

/// The body of a transaction. PDUs stay raw: each is parsed for its own room's version.
#[derive(Debug, Deserialize)]
struct Transaction {
    origin: String,
    #[allow(dead_code, reason = "required by the spec's shape; the value is not used")]
    origin_server_ts: i64,
    pdus: Vec<Box<RawValue>>,
    #[serde(default)]
    edus: Vec<Box<RawValue>>,
}

/// The fields read from a PDU before its room version is known.
#[derive(Debug, Default, Deserialize)]
struct Envelope {
    room_id: Option<String>,
    event_id: Option<String>,
}

/// What happened to one PDU.
#[derive(Debug)]
enum PduOutcome {
    /// Checked: room known, content hash and signatures valid.
    Accepted(Pdu),
    /// Refused for `reason`. Without an event ID it cannot be named in the response.
    Rejected { event_id: Option<String>, reason: String },
}

pub(super) async fn put(
    State(state): State<AppState>,
    txn_id: Result<Path<String>, PathRejection>,
    request: FederationRequest,
) -> Result<Json<Value>, MatrixError> {
    let Path(txn_id) = txn_id.map_err(|e| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", format!("Bad transaction ID: {e}"))
    })?;
    let transaction = parse_transaction(&request)?;
    let origin = request.origin.as_str();

    match state.store.get_txn_response(origin, &txn_id).await {
        Ok(Some(stored)) => {
            debug!(origin, txn_id, "replaying the stored response to a retried transaction");
            return Ok(Json(stored));
        }
        Ok(None) => {}
        Err(e) => return Err(storage_error(&e)),
    }

    if !transaction.edus.is_empty() {
        debug!(origin, txn_id, count = transaction.edus.len(), "ignoring EDUs");
    }
    let mut memo = KeyMemo::default();
    let mut results = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut accepted: BTreeMap<String, Vec<Pdu>> = BTreeMap::new();
    for raw in &transaction.pdus {
        match check_pdu(&state, raw, &mut memo).await? {
            PduOutcome::Accepted(pdu) => {
                let event_id = pdu.event_id().to_string();
                // The same event twice in one transaction is answered once and handed on once.
                if seen.insert(event_id.clone()) {
                    results.insert(event_id, json!({}));
                    accepted.entry(pdu.room_id().to_string()).or_default().push(pdu);
                }
            }
            PduOutcome::Rejected { event_id: Some(event_id), reason } => {
                debug!(origin, txn_id, event_id, reason, "rejected PDU");
                if seen.insert(event_id.clone()) {
                    results.insert(event_id, json!({"error": reason}));
                }
            }
            PduOutcome::Rejected { event_id: None, reason } => {
                debug!(origin, txn_id, reason, "rejected a PDU that has no derivable event ID");
            }
        }
    }
    let accepted_count: usize = accepted.values().map(Vec::len).sum();
    info!(origin, txn_id, pdus = transaction.pdus.len(), accepted = accepted_count, "transaction");
    for (room_id, pdus) in accepted {
        state.inbound.pdu_sink.accept(&room_id, pdus).await;
    }

    let response = json!({ "pdus": results });
    // First writer wins: if a concurrent retry stored its answer first, both callers get that one.
    match state.store.put_txn_response(origin, &txn_id, &response, now_ms()).await {
        Ok(stored) => Ok(Json(stored)),
        Err(e) => {
            // The PDUs were handed on already; answering keeps the sender from resending them.
            warn!(origin, txn_id, error = %e, "could not store a transaction response");
            Ok(Json(response))
        }
    }
}

/// Checks the transaction's shape, its origin and the spec's size limits.
fn parse_transaction(request: &FederationRequest) -> Result<Transaction, MatrixError> {
    let value: Value = serde_json::from_slice(&request.body).map_err(|e| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", format!("Transaction is not JSON: {e}"))
    })?;
    let transaction: Transaction = serde_json::from_value(value).map_err(|e| {
        MatrixError::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", format!("Malformed transaction: {e}"))
    })?;
    if transaction.origin != request.origin.as_str() {
        return Err(MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            format!(
                "Transaction origin {} does not match the authenticated server {}",
                transaction.origin, request.origin
            ),
        ));
    }
    if transaction.pdus.len() > MAX_PDUS || transaction.edus.len() > MAX_EDUS {
        return Err(MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
            format!(
                "Transaction has {} PDUs and {} EDUs; at most {MAX_PDUS} and {MAX_EDUS} are allowed",
                transaction.pdus.len(),
                transaction.edus.len()
            ),
        ));
    }
    Ok(transaction)
}

/// Checks one PDU. Only a storage failure is an error of the whole request (so that the sender retries).
async fn check_pdu(state: &AppState, raw: &RawValue, memo: &mut KeyMemo) -> Result<PduOutcome, MatrixError> {
    let envelope: Envelope = serde_json::from_str(raw.get()).unwrap_or_default();
    let rejected = |event_id: Option<String>, reason: &str| {
        Ok(PduOutcome::Rejected { event_id, reason: reason.to_owned() })
    };
    let Some(room_id) = envelope.room_id.as_deref() else {
        return rejected(envelope.event_id, "PDU has no room_id");
    };
    let room = match state.store.get_room(room_id).await {
        Ok(Some(room)) => room,
        // We only hold rooms we joined; anything else is not ours to check.
        Ok(None) => return rejected(envelope.event_id, "unknown room"),
        Err(e) => return Err(storage_error(&e)),
    };
    let Ok(version) = RoomVersion::parse(&room.room_version) else {
        return rejected(envelope.event_id, "unsupported room version");
    };
    let pdu = match Pdu::parse(raw.get().as_bytes(), &version) {
        Ok(pdu) => pdu,
        Err(e) => {
            let event_id = derived_event_id(raw, &version).or(envelope.event_id);
            return rejected(event_id, &e.to_string());
        }
    };
    if pdu.room_id().as_str() != room_id {
        return rejected(Some(pdu.event_id().to_string()), "room_id does not match the event");
    }
    Ok(match check_event_signatures(state, &pdu, memo).await {
        Ok(_) => PduOutcome::Accepted(pdu),
        Err(reason) => PduOutcome::Rejected { event_id: Some(pdu.event_id().to_string()), reason },
    })
}

/// The event ID of a PDU that failed its checks, if its shape allows computing one (e.g. a content-hash
/// mismatch), so the sender learns which event was refused.
fn derived_event_id(raw: &RawValue, version: &RoomVersion) -> Option<String> {
    let mut object = canonical_json::parse_object(raw.get().as_bytes()).ok()?;
    if !version.event_id_in_event() {
        // From v3 on an `event_id` field is not part of the event; it must not enter the reference hash.
        object.remove("event_id");
    }
    event_id::event_id(&object, version).ok().map(|id| id.to_string())
}

fn storage_error(error: &palisade_store::StoreError) -> MatrixError {
    warn!(error = %error, "storage failure while handling a transaction");
    MatrixError::new(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", "Storage is unavailable; retry later")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
