//! Palisade's persistent storage.
//!
//! A [`Store`] trait with two backends that pass one shared test suite:
//! [`SqliteStore`] (embedded, the default) and [`PgStore`] (production; many instances share one
//! database). [`open`] picks one from a URL and applies the embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`). Records are the store's own types; this crate
//! knows nothing about HTTP or the policy engine. See `docs/storage.md`.

mod admin;
mod backup;
mod error;
mod evaluation_lock;
mod hellban_mirror;
mod ids;
mod import;
mod open;
mod outbox;
mod portable;
mod postgres;
mod records;
mod rows;
mod schema;
mod sqlite;
mod store;
mod token;
mod verdict_writer;

pub use admin::{VerdictCount, VerdictCursor, VerdictQuery};
pub use backup::backup_database;
pub use error::{StoreError, StoreResult};
pub use evaluation_lock::{EvaluationClaim, EvaluationLock};
pub use ids::new_id;
pub use import::{ImportReport, import_policyserv};
pub use open::{open, open_with_replica};
pub use outbox::OutboxItem;
pub use postgres::PgStore;
pub use records::{
    Community, ConfigChange, EduBatch, EduRetry, JoinState, MediaScan, PruneReport, QueuedEdu, Room,
    ServerKey, StateEvent, StoredVerdict, VerdictClass, VerdictLookup, VerdictTrace, edu_retry_delay_ms,
};
pub use sqlite::{SqliteSettings, SqliteStore};
pub use store::{Backend, BlockingVerdictInserts, Store};
pub use token::hash_access_token;
pub use verdict_writer::{GroupCommit, VerdictWriter, WriterStats};
