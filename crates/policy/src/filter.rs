//! The filter abstraction: what every filter sees and returns.

use crate::handles::{BoxFuture, Handles};
use crate::{ContentClass, EffectiveConfig, Event, FilterId, FilterMode, RoomSnapshot, Scope};

/// Everything a filter may look at.
#[derive(Clone, Copy, Debug)]
pub struct FilterContext<'a> {
    /// The event being judged.
    pub event: &'a Event,
    /// Its room.
    pub room: &'a RoomSnapshot,
    /// The effective configuration.
    pub config: &'a EffectiveConfig,
    /// Community and instance settings.
    pub scope: Scope<'a>,
    /// Stateful inputs.
    pub handles: Handles<'a>,
    /// The time of the decision (read once, so every filter sees the same instant).
    pub now_ms: u64,
    /// The filter's mode; filters with side effects (hellbans) skip them in shadow mode.
    pub mode: FilterMode,
}

/// What one filter decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The class.
    pub class: ContentClass,
    /// Harm IDs (only meaningful when prohibited).
    pub harms: Vec<String>,
    /// When a time-bound prohibition ends (ms); `None` is permanent.
    pub expiry: Option<u64>,
    /// A short explanation for the trace.
    pub reason: String,
    /// Whether the event should also be redacted (policy-list takedowns).
    pub redact: bool,
}

impl Outcome {
    /// Nothing to object to.
    pub fn neutral(reason: impl Into<String>) -> Self {
        Self {
            class: ContentClass::Neutral,
            harms: Vec::new(),
            expiry: None,
            reason: reason.into(),
            redact: false,
        }
    }

    /// Explicitly allowed.
    pub fn allowed(reason: impl Into<String>) -> Self {
        Self { class: ContentClass::Allowed, ..Self::neutral(reason) }
    }

    /// Refused with `harms`.
    pub fn prohibited(harms: &[&str], reason: impl Into<String>) -> Self {
        Self {
            class: ContentClass::Prohibited,
            harms: harms.iter().map(|h| (*h).to_owned()).collect(),
            expiry: None,
            reason: reason.into(),
            redact: false,
        }
    }

    /// The same outcome, asking for the event to be redacted as well.
    pub fn and_redact(mut self) -> Self {
        self.redact = true;
        self
    }

    /// The same outcome, ending at `expiry_ms`.
    pub fn until(mut self, expiry_ms: u64) -> Self {
        self.expiry = Some(expiry_ms);
        self
    }
}

/// A filter could not reach a decision; the whole check fails (and the server refuses).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

impl From<crate::handles::StateError> for FilterError {
    fn from(err: crate::handles::StateError) -> Self {
        Self(err.0)
    }
}

/// A filter.
pub trait Filter: Sync + std::fmt::Debug {
    /// Its stable name.
    fn id(&self) -> FilterId;

    /// Whether the configuration switches it on (policyserv's enablement matrix, catalogue §3.2).
    fn enabled(&self, cx: &FilterContext<'_>) -> bool;

    /// Judges the event.
    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>>;

    /// Judges free text (the server-centric text API). `None` when the filter only understands events or the
    /// configuration switches it off.
    fn check_text(&self, _text: &str, _config: &EffectiveConfig) -> Option<Outcome> {
        None
    }
}

/// Wraps a synchronous result as a filter future.
pub(crate) fn ready<'a>(result: Result<Outcome, FilterError>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
    Box::pin(std::future::ready(result))
}
