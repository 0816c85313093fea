//! Stored verdicts: the store's own copy of a policy decision.

use serde_json::Value;

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
    pub trace: Value,
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
            trace: Value::Null,
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
