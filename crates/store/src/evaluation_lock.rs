//! One evaluation per event across every instance on a database.
//!
//! `insert_verdict_if_absent` already makes the *stored* verdict unique, but two instances that
//! evaluate the same event both run its filters, and filters have side effects on shared state:
//! a frequency counter would count the event twice and a hellban could start from the losing
//! evaluation. [`Store::claim_evaluation`](crate::Store::claim_evaluation) lets an instance hold the
//! event while it decides; the other instance waits, then finds the stored verdict.

use std::any::Any;

use sqlx::postgres::PgConnectOptions;

use crate::VerdictLookup;

/// Longest an instance waits for another to finish evaluating one event (`lock_timeout` of the lock pool's
/// sessions, see [`lock_pool_options`]).
const PG_LOCK_TIMEOUT: &str = "10s";

/// Connection options for the pool that holds evaluation locks: those of the main pool, with a lock timeout.
pub(crate) fn lock_pool_options(main: &PgConnectOptions) -> PgConnectOptions {
    main.clone().options([("lock_timeout", PG_LOCK_TIMEOUT)])
}

/// Keeps other instances from evaluating one event until dropped. Dropping releases the lock
/// (on PostgreSQL by ending the transaction that holds it, so a cancelled request cannot leak it).
#[must_use = "the lock is released when this is dropped"]
pub struct EvaluationLock {
    /// Whatever holds the lock (a PostgreSQL transaction); `None` where the backend needs none.
    held: Option<Box<dyn Any + Send>>,
}

impl EvaluationLock {
    /// A lock that holds nothing: single-instance backends rely on the in-process merge.
    pub fn unneeded() -> Self {
        Self { held: None }
    }

    /// A lock held by `holder` until this is dropped.
    pub(crate) fn held_by(holder: impl Any + Send) -> Self {
        Self { held: Some(Box::new(holder)) }
    }

    /// Whether anything is held (false for backends that need no cross-process lock).
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }
}

impl std::fmt::Debug for EvaluationLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvaluationLock").field("held", &self.is_held()).finish()
    }
}

/// What [`Store::claim_evaluation`](crate::Store::claim_evaluation) found: the verdict stored for the event, read
/// while holding `lock`. When none is stored, the caller decides and stores a verdict before dropping the lock.
#[derive(Debug)]
pub struct EvaluationClaim {
    /// The stored verdict, checked against the event's reference hash.
    pub stored: VerdictLookup,
    /// Holds off other instances' evaluations of the event until dropped.
    pub lock: EvaluationLock,
}

/// The advisory-lock key text of one event: length-prefixed so `(a, bc)` and `(ab, c)` differ.
pub(crate) fn lock_key(room_id: &str, event_id: &str) -> String {
    format!("palisade.evaluation:{}:{room_id}{event_id}", room_id.len())
}

/// The advisory-lock number of one event: the first 8 bytes of the SHA-256 of its [`lock_key`]. (Instances
/// before this scheme hashed with `hashtextextended`; during a rolling upgrade old and new instances may both
/// evaluate an event, and the first stored verdict still wins.)
pub(crate) fn lock_number(room_id: &str, event_id: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(lock_key(room_id, event_id).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_do_not_collide_on_concatenation() {
        assert_ne!(lock_key("!a", "b$c"), lock_key("!ab", "$c"));
        assert_ne!(lock_number("!a", "b$c"), lock_number("!ab", "$c"));
        assert_eq!(lock_number("!r:x", "$e"), lock_number("!r:x", "$e"));
        assert!(!EvaluationLock::unneeded().is_held());
    }
}
