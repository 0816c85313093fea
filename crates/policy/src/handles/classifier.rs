//! Text classification (OpenAI omni moderation). The HTTP client lives elsewhere.

use std::collections::BTreeSet;

use super::{BoxFuture, StateError};

/// What the classifier said about one text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classification {
    /// Whether the text was flagged at all.
    pub flagged: bool,
    /// Flagged categories, in the provider's names (e.g. `sexual/minors`).
    pub categories: BTreeSet<String>,
}

/// Classifies rendered event text.
pub trait TextClassifier: Send + Sync + std::fmt::Debug {
    /// Classifies `text`.
    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Classification, StateError>>;
}

/// Flags texts containing a trigger word with the trigger's categories; `fail` makes every call fail.
#[derive(Debug, Default)]
pub struct FakeClassifier {
    /// (trigger substring, categories).
    pub triggers: Vec<(String, Vec<String>)>,
    /// Simulate an outage.
    pub fail: bool,
}

impl TextClassifier for FakeClassifier {
    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Classification, StateError>> {
        let result = if self.fail {
            Err(StateError("classifier unavailable".into()))
        } else {
            let mut out = Classification::default();
            for (trigger, categories) in &self.triggers {
                if text.contains(trigger.as_str()) {
                    out.flagged = true;
                    out.categories.extend(categories.iter().cloned());
                }
            }
            Ok(out)
        };
        Box::pin(std::future::ready(result))
    }
}
