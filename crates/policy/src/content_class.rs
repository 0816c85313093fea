//! The three-way class of a decision.

use serde::{Deserialize, Serialize};

/// How an event was classed. The order matters: combining outcomes takes the maximum, so a prohibition is never
/// undone by an allowance.
///
/// Serialised in lowercase (`neutral`, `allowed`, `prohibited`), as verdicts and their trace entries are shown in
/// the API (`docs/api.md`); policyserv's capitalised names, which traces stored by earlier versions hold, are
/// still read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentClass {
    /// Nothing to say: the event is signed unless something else objects.
    #[default]
    #[serde(alias = "Neutral")]
    Neutral,
    /// Explicitly allowed (allow-listed sender or event type): later content filters are skipped.
    #[serde(alias = "Allowed")]
    Allowed,
    /// Refused.
    #[serde(alias = "Prohibited")]
    Prohibited,
}

impl ContentClass {
    /// policyserv's names: `Neutral`, `Allowed`, `Prohibited`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Neutral => "Neutral",
            Self::Allowed => "Allowed",
            Self::Prohibited => "Prohibited",
        }
    }
}

impl std::fmt::Display for ContentClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §8.1 #1.
    #[test]
    fn names_and_order() {
        assert_eq!(ContentClass::Neutral.to_string(), "Neutral");
        assert_eq!(ContentClass::Allowed.to_string(), "Allowed");
        assert_eq!(ContentClass::Prohibited.to_string(), "Prohibited");
        assert!(ContentClass::Neutral < ContentClass::Allowed);
        assert!(ContentClass::Allowed < ContentClass::Prohibited);
        assert_eq!(ContentClass::default(), ContentClass::Neutral);
    }

    #[test]
    fn serialised_in_lowercase_and_read_in_either_case() {
        for (class, name, old_name) in [
            (ContentClass::Neutral, "neutral", "Neutral"),
            (ContentClass::Allowed, "allowed", "Allowed"),
            (ContentClass::Prohibited, "prohibited", "Prohibited"),
        ] {
            assert_eq!(serde_json::to_value(class).unwrap(), name);
            assert_eq!(serde_json::from_value::<ContentClass>(name.into()).unwrap(), class);
            assert_eq!(serde_json::from_value::<ContentClass>(old_name.into()).unwrap(), class);
        }
    }
}
