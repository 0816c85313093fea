//! Side effects of refusals, delivered through the store's durable outbox (catalogue §6.5, fixed): a refusal is
//! queued before anything is sent, a worker delivers it and retries with exponential backoff while the receiver is
//! down, across restarts and instances. policyserv sent each webhook once, fire-and-forget.

pub mod moderator;
pub mod redaction;
pub mod to_device;
pub mod webhook;

pub use moderator::ModeratorRedactor;
pub use redaction::RedactionRequest;
pub use webhook::{WebhookNotifier, WebhookRetry, WebhookSettings, spawn_worker};
