//! Stored verdicts: the store's own copy of a policy decision.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, value::RawValue};

use crate::StoreError;

/// The class of a verdict or media scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictClass {
    /// Nothing matched: sign.
    Neutral,
    /// Explicitly allowed (allow-list): sign.
    Allowed,
    /// Refused, with harms.
    Prohibited,
}

impl VerdictClass {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Neutral => "neutral",
            Self::Allowed => "allowed",
            Self::Prohibited => "prohibited",
        }
    }

    /// Parses the stored spelling; anything else is a corrupt row, never silently "spam".
    pub fn parse(value: &str, table: &'static str) -> Result<Self, StoreError> {
        match value {
            "neutral" => Ok(Self::Neutral),
            "allowed" => Ok(Self::Allowed),
            "prohibited" => Ok(Self::Prohibited),
            other => Err(StoreError::Corrupt { table, reason: format!("unknown verdict class {other:?}") }),
        }
    }
}

/// A verdict as stored, keyed by `(room_id, event_id)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVerdict {
    /// Room the event belongs to.
    pub room_id: String,
    /// Event ID.
    pub event_id: String,
    /// Reference hash of the event, for room versions (v1/v2) whose event IDs are chosen by the
    /// sender and so do not identify the content.
    pub reference_hash: Option<String>,
    /// Outcome class.
    pub class: VerdictClass,
    /// Harm identifiers (MSC4387 / policyserv IDs).
    pub harms: Vec<String>,
    /// When the verdict stops applying (ms), if it is time-limited.
    pub expiry_ms: Option<i64>,
    /// Per-filter explanation, opaque to the store.
    pub trace: VerdictTrace,
    /// When the verdict was decided (ms); used for retention.
    pub decided_at_ms: i64,
}

impl StoredVerdict {
    /// Whether this verdict can answer for an event with `reference_hash`.
    ///
    /// When both sides carry a reference hash they must agree; otherwise the event ID alone
    /// identifies the content (v3+ rooms derive it from the hash).
    pub fn matches_reference(&self, reference_hash: Option<&str>) -> bool {
        match (self.reference_hash.as_deref(), reference_hash) {
            (Some(stored), Some(asked)) => stored == asked,
            _ => true,
        }
    }
}

/// A verdict's per-filter explanation as JSON text. It is serialised once, when the verdict is decided, stored as
/// it is, and parsed only to be shown; copies share the text.
#[derive(Debug, Clone)]
pub struct VerdictTrace(Arc<RawValue>);

impl VerdictTrace {
    /// The JSON serialisation of `trace`.
    pub fn of(trace: &impl Serialize) -> Result<Self, StoreError> {
        serde_json::value::to_raw_value(trace)
            .map(|raw| Self(Arc::from(raw)))
            .map_err(|e| StoreError::Corrupt { table: "verdicts", reason: e.to_string() })
    }

    /// A trace read back as text; text that is not JSON is a corrupt row.
    pub(crate) fn from_stored(text: String) -> Result<Self, StoreError> {
        RawValue::from_string(text)
            .map(Self::from_raw)
            .map_err(|e| StoreError::Corrupt { table: "verdicts", reason: e.to_string() })
    }

    /// A trace read back from a JSON column.
    pub(crate) fn from_raw(raw: Box<RawValue>) -> Self {
        Self(Arc::from(raw))
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The trace parsed, for showing it.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// The raw value, for binding as a JSON column.
    pub(crate) fn raw(&self) -> &RawValue {
        &self.0
    }
}

impl From<Value> for VerdictTrace {
    fn from(value: Value) -> Self {
        // A `Value` always serialises.
        Self::of(&value).unwrap_or_else(|_| Self::from(Value::Null))
    }
}

/// Equal as JSON: PostgreSQL gives `jsonb` back with its own spacing and key order.
impl PartialEq for VerdictTrace {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json() || self.to_value() == other.to_value()
    }
}

/// The result of looking a verdict up.
#[derive(Debug, Clone, PartialEq)]
pub enum VerdictLookup {
    /// No verdict is stored for the event.
    Absent,
    /// The stored verdict applies.
    Found(StoredVerdict),
    /// A verdict is stored for this event ID but for different content (a reused v1/v2 event ID);
    /// it must not be used to sign the new content.
    ReferenceMismatch(StoredVerdict),
}

impl VerdictLookup {
    /// The lookup result for what is stored under an event's key, checked against the asked reference hash.
    pub fn of(stored: Option<StoredVerdict>, reference_hash: Option<&str>) -> Self {
        match stored {
            None => Self::Absent,
            Some(verdict) if verdict.matches_reference(reference_hash) => Self::Found(verdict),
            Some(verdict) => Self::ReferenceMismatch(verdict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(reference_hash: Option<&str>) -> StoredVerdict {
        StoredVerdict {
            room_id: "!r:x".to_owned(),
            event_id: "$e".to_owned(),
            reference_hash: reference_hash.map(str::to_owned),
            class: VerdictClass::Neutral,
            harms: vec![],
            expiry_ms: None,
            trace: VerdictTrace::from(Value::Null),
            decided_at_ms: 0,
        }
    }

    #[test]
    fn reference_hash_must_agree_only_when_both_known() {
        assert!(verdict(Some("a")).matches_reference(Some("a")));
        assert!(!verdict(Some("a")).matches_reference(Some("b")));
        assert!(verdict(None).matches_reference(Some("b")));
        assert!(verdict(Some("a")).matches_reference(None));
    }

    #[test]
    fn class_round_trips_and_rejects_unknown() {
        for class in [VerdictClass::Neutral, VerdictClass::Allowed, VerdictClass::Prohibited] {
            assert_eq!(VerdictClass::parse(class.as_str(), "t").unwrap(), class);
        }
        assert!(VerdictClass::parse("spam", "t").is_err());
    }
}
