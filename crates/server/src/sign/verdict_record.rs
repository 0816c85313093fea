//! Converting between the engine's verdict and the stored one.

use palisade_policy::{ContentClass, FilterMode, TraceEntry, Verdict};
use palisade_store::{StoredVerdict, VerdictClass, VerdictTrace};
use serde::Serialize;

/// The stored form of `verdict` for an event.
pub(crate) fn to_stored(
    verdict: &Verdict,
    room_id: &str,
    event_id: &str,
    reference_hash: Option<String>,
    now_ms: i64,
) -> StoredVerdict {
    StoredVerdict {
        room_id: room_id.to_owned(),
        event_id: event_id.to_owned(),
        reference_hash,
        class: match verdict.class {
            ContentClass::Neutral => VerdictClass::Neutral,
            ContentClass::Allowed => VerdictClass::Allowed,
            ContentClass::Prohibited => VerdictClass::Prohibited,
        },
        harms: verdict.harms.clone(),
        expiry_ms: verdict.expiry.and_then(|ms| i64::try_from(ms).ok()),
        trace: stored_trace(&verdict.trace),
        decided_at_ms: now_ms,
    }
}

/// A trace as stored: each entry without the fields that hold their usual value (`outcome` neutral, `mode`
/// enforce), which the verdict API puts back. Most entries of most verdicts are neutral and enforced, so a
/// verdict's row is about a third smaller: fewer bytes written with every verdict, on both backends.
fn stored_trace(trace: &[TraceEntry]) -> VerdictTrace {
    #[derive(Serialize)]
    struct Stored<'a> {
        filter: &'a str,
        #[serde(skip_serializing_if = "is_neutral")]
        outcome: ContentClass,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        harms: &'a [String],
        #[serde(skip_serializing_if = "is_enforced")]
        mode: FilterMode,
        reason: &'a str,
    }
    let entries: Vec<Stored<'_>> = trace
        .iter()
        .map(|e| Stored {
            filter: &e.filter,
            outcome: e.outcome,
            harms: &e.harms,
            mode: e.mode,
            reason: &e.reason,
        })
        .collect();
    // Serialising plain strings and enums cannot fail.
    VerdictTrace::of(&entries).unwrap_or_else(|_| VerdictTrace::from(serde_json::Value::Null))
}

fn is_neutral(class: &ContentClass) -> bool {
    *class == ContentClass::Neutral
}

fn is_enforced(mode: &FilterMode) -> bool {
    *mode == FilterMode::Enforce
}

/// The class of a stored verdict.
pub(super) fn class_of(stored: &StoredVerdict) -> ContentClass {
    match stored.class {
        VerdictClass::Neutral => ContentClass::Neutral,
        VerdictClass::Allowed => ContentClass::Allowed,
        VerdictClass::Prohibited => ContentClass::Prohibited,
    }
}
