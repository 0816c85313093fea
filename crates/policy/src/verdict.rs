//! The result of a decision: class, harms, optional expiry and a per-filter trace explaining it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{ContentClass, FilterMode, harms};

/// The final decision on one event. Serialisable so it can be stored with the event and explained later.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Neutral and Allowed are signed; Prohibited is refused.
    pub class: ContentClass,
    /// Sorted, unique harm IDs; empty unless prohibited.
    pub harms: Vec<String>,
    /// When a time-bound refusal (hellban, rate limit) ends, in ms since the epoch; `None` is permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
    /// Whether the server should also redact the event (a policy-list takedown), besides refusing to sign it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redact: bool,
    /// One entry per filter that ran, in the order they ran.
    #[serde(default)]
    pub trace: Vec<TraceEntry>,
}

/// What one filter said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The filter's configuration name (e.g. `mentions`), or `sender_is_user_id` for the built-in sender check.
    pub filter: String,
    /// The class the filter returned.
    pub outcome: ContentClass,
    /// The harms the filter returned (sorted, unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub harms: Vec<String>,
    /// Whether the outcome counted (`enforce`) or was only recorded (`shadow`).
    pub mode: FilterMode,
    /// A short human explanation, e.g. `12 mentions >= limit 10`.
    pub reason: String,
}

impl Verdict {
    /// A verdict with the rules of policyserv's `NewContentInfo`: harms are sorted and de-duplicated, any harm makes
    /// the verdict prohibited, and a prohibition without harms carries `other`.
    pub fn new<S: AsRef<str>>(class: ContentClass, harm_ids: &[S]) -> Self {
        let mut harm_set: BTreeSet<String> = harm_ids.iter().map(|h| h.as_ref().to_owned()).collect();
        let class = if harm_set.is_empty() { class } else { ContentClass::Prohibited };
        if class == ContentClass::Prohibited && harm_set.is_empty() {
            harm_set.insert(harms::OTHER.to_owned());
        }
        Self { class, harms: harm_set.into_iter().collect(), expiry: None, redact: false, trace: Vec::new() }
    }

    /// A neutral verdict.
    pub fn neutral() -> Self {
        Self::default()
    }

    /// Whether the event must not be signed.
    pub fn is_prohibited(&self) -> bool {
        self.class == ContentClass::Prohibited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harms::*;

    /// §8.1 #2–#5.
    #[test]
    fn construction_rules() {
        let cases: &[(ContentClass, &[&str], ContentClass, &[&str])] = &[
            (ContentClass::Prohibited, &[], ContentClass::Prohibited, &[OTHER]),
            (ContentClass::Allowed, &[SPAM_FLOODING], ContentClass::Prohibited, &[SPAM_FLOODING]),
            (
                ContentClass::Prohibited,
                &[SPAM_FLOODING, SPAM, SPAM_FLOODING, SPAM_FLOODING, SPAM],
                ContentClass::Prohibited,
                &[SPAM, SPAM_FLOODING],
            ),
            (
                ContentClass::Prohibited,
                &[SPAM_FRAUD, PS_MEDIA],
                ContentClass::Prohibited,
                &[SPAM_FRAUD, PS_MEDIA],
            ),
            (ContentClass::Neutral, &[], ContentClass::Neutral, &[]),
            (ContentClass::Allowed, &[], ContentClass::Allowed, &[]),
        ];
        for (class, input, want_class, want_harms) in cases {
            let v = Verdict::new(*class, input);
            assert_eq!(v.class, *want_class, "{input:?}");
            assert_eq!(v.harms, *want_harms, "{input:?}");
        }
    }

    /// §8.1 #5: empty harms serialise as `[]`, not null.
    #[test]
    fn zero_value_is_neutral_with_empty_harms() {
        let v = Verdict::default();
        assert_eq!(v.class, ContentClass::Neutral);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["harms"], serde_json::json!([]));
        // The wire form is lowercase (docs/api.md); `Display` keeps policyserv's `Neutral`.
        assert_eq!(json["class"], "neutral");
        let back: Verdict = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
    }
}
