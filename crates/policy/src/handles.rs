//! The stateful inputs of a decision, as traits the server implements (shared stores, HTTP clients) with
//! in-memory implementations for tests and offline checks. Asynchronous methods return boxed futures so the
//! traits stay object-safe without extra dependencies.

mod classifier;
mod clock;
mod filter_timer;
mod frequency;
mod hellban;
mod scanner;
mod signature;

use std::future::Future;
use std::pin::Pin;

pub use classifier::{Classification, FakeClassifier, TextClassifier};
pub use clock::{Clock, ManualClock};
pub use filter_timer::FilterTimer;
pub use frequency::{CounterKey, FrequencyCounter, MemoryCounter};
pub use hellban::{HellbanStore, MemoryHellbans};
pub use scanner::{FakeScanner, MediaScanner, ScanResult};
pub use signature::SignatureVerifier;

use crate::trust::TrustData;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stateful input failed (store unreachable, scanner error, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// Everything stateful a decision may consult.
#[derive(Clone, Copy, Debug)]
pub struct Handles<'a> {
    /// The time source.
    pub clock: &'a dyn Clock,
    /// Active hellbans (shared between instances in production).
    pub hellbans: &'a dyn HellbanStore,
    /// Sliding-window counters (shared between instances in production).
    pub counters: &'a dyn FrequencyCounter,
    /// Instance-wide trust data (Muninn Hall).
    pub trust: &'a TrustData,
    /// Media hash matching (HMA); `None` when the instance has none.
    pub media_scanner: Option<&'a dyn MediaScanner>,
    /// Text classification (OpenAI); `None` when the instance has none.
    pub classifier: Option<&'a dyn TextClassifier>,
    /// Signature checks for the unsafe-key filter; `None` skips that filter (recorded in the trace).
    pub signatures: Option<&'a dyn SignatureVerifier>,
    /// Told how long each filter took; `None` when nobody measures.
    pub filter_timer: Option<&'a dyn FilterTimer>,
}
