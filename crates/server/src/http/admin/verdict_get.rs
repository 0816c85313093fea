//! `GET /api/v1/verdicts/{eventId}[?room_id=]` (Palisade): the stored verdict(s) for an event with their trace:
//! which filters ran, what each found and why. An event ID can have a verdict in several rooms (v1/v2 rooms let
//! senders choose event IDs), so the answer is a list; `room_id` narrows it to one room.

use axum::{
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::StatusCode,
    response::Response,
};
use palisade_store::StoredVerdict;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{api_error, internal, not_found, ok, path_param};
use crate::http::{AppState, MatrixError};

#[derive(Debug, Deserialize)]
pub(super) struct VerdictQuery {
    #[serde(default)]
    room_id: Option<String>,
}

pub(super) async fn get(
    State(state): State<AppState>,
    event_id: Result<Path<String>, PathRejection>,
    query: Result<Query<VerdictQuery>, QueryRejection>,
) -> Result<Response, MatrixError> {
    let event_id = path_param(event_id)?;
    let query = query.map_err(|e| api_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", e.body_text()))?.0;
    let mut verdicts = state.store.verdicts_for_event(&event_id).await.map_err(internal)?;
    if let Some(room_id) = &query.room_id {
        verdicts.retain(|v| &v.room_id == room_id);
    }
    if verdicts.is_empty() {
        return Err(not_found("Verdict not found"));
    }
    Ok(ok(&json!({"event_id": event_id, "verdicts": verdicts.iter().map(verdict_json).collect::<Vec<_>>()})))
}

/// A stored verdict as the API (and `palisade community verdict`) shows it.
pub(crate) fn verdict_json(verdict: &StoredVerdict) -> Value {
    json!({
        "room_id": verdict.room_id,
        "event_id": verdict.event_id,
        "class": verdict.class.as_str(),
        "harms": verdict.harms,
        "expiry_ms": verdict.expiry_ms,
        "decided_at_ms": verdict.decided_at_ms,
        "trace": trace_json(&verdict.trace.to_value()),
    })
}

/// A stored trace as shown: an array (anything else shows as empty) of entries with every field. Stored entries
/// leave out `outcome` when neutral and `mode` when enforced (`sign/verdict_record.rs`);
/// traces stored by earlier versions hold the capitalised outcome names (`Prohibited`), shown lowercase like
/// `class`.
fn trace_json(trace: &Value) -> Value {
    let Some(entries) = trace.as_array() else { return json!([]) };
    let mut entries = entries.clone();
    for entry in &mut entries {
        let Some(fields) = entry.as_object_mut() else { continue };
        let outcome = fields.get("outcome").and_then(Value::as_str).unwrap_or("neutral").to_ascii_lowercase();
        fields.insert("outcome".to_owned(), Value::String(outcome));
        fields.entry("mode").or_insert_with(|| json!("enforce"));
    }
    Value::Array(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_outcomes_are_shown_in_lowercase_even_when_stored_capitalised() {
        let stored = json!([
            {"filter": "keyword", "outcome": "Prohibited", "mode": "shadow", "reason": "r"},
            {"filter": "mentions", "outcome": "neutral", "mode": "enforce", "reason": "r"},
        ]);
        let shown = trace_json(&stored);
        assert_eq!(shown[0]["outcome"], "prohibited");
        assert_eq!(shown[1]["outcome"], "neutral");
        assert_eq!(shown[0]["filter"], "keyword");
        assert_eq!(trace_json(&Value::Null), json!([]));
    }

    /// A trace as `/sign` stores it is shorter, and shows every field again.
    #[test]
    fn a_stored_trace_is_shown_with_every_field() {
        use palisade_policy::{ContentClass, FilterMode, TraceEntry, Verdict};
        let entry = |filter: &str, outcome, harms: &[&str], mode| TraceEntry {
            filter: filter.to_owned(),
            outcome,
            harms: harms.iter().map(|h| (*h).to_owned()).collect(),
            mode,
            reason: format!("{filter} said so"),
        };
        let spam = "org.matrix.msc4387.spam";
        let mut verdict = Verdict::new(ContentClass::Prohibited, &[spam]);
        verdict.trace = vec![
            entry("mentions", ContentClass::Neutral, &[], FilterMode::Enforce),
            entry("keyword", ContentClass::Prohibited, &[spam], FilterMode::Enforce),
            entry("links", ContentClass::Prohibited, &[spam], FilterMode::Shadow),
        ];
        let stored = crate::sign::verdict_record::to_stored(&verdict, "!r:x", "$e", None, 1);
        let full = serde_json::to_value(&verdict.trace).unwrap();
        assert!(stored.trace.as_json().len() < full.to_string().len());
        let shown = trace_json(&stored.trace.to_value());
        assert_eq!(shown, full);
    }
}
