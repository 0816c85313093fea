//! The shared store test suite: every behaviour is one generic `async fn(&TestDb)` run against
//! SQLite and PostgreSQL by [`both_backends!`].

// The behaviours are plain async fns called from generated #[tokio::test]s, which clippy's
// allow-unwrap-in-tests does not recognise; a failed unwrap is exactly a test failure here.
#![allow(clippy::unwrap_used)]

mod harness;

mod admin_queries;
mod backup;
mod changes;
mod communities;
mod edu_queue;
mod evaluation_claims;
mod filter_state;
mod import;
mod keys_templates_trust;
mod media_scans;
mod migrations;
mod outbox;
mod prune;
mod replica;
mod room_state;
mod rooms;
mod txns;
mod verdict_writer;
mod verdicts;
