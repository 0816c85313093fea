//! Converting between the engine's verdict and the stored one.

use palisade_policy::{ContentClass, Verdict};
use palisade_store::{StoredVerdict, VerdictClass, VerdictTrace};

/// The stored form of `verdict` for an event.
pub(super) fn to_stored(
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
        trace: VerdictTrace::of(&verdict.trace)
            .unwrap_or_else(|_| VerdictTrace::from(serde_json::Value::Null)),
        decided_at_ms: now_ms,
    }
}

/// The class of a stored verdict.
pub(super) fn class_of(stored: &StoredVerdict) -> ContentClass {
    match stored.class {
        VerdictClass::Neutral => ContentClass::Neutral,
        VerdictClass::Allowed => ContentClass::Allowed,
        VerdictClass::Prohibited => ContentClass::Prohibited,
    }
}
