//! The one error type every store method returns.

use std::sync::Arc;

/// Why a store operation failed.
///
/// Cloneable so that the group-commit [`crate::VerdictWriter`] can hand the same failure to
/// every caller whose verdict was in the failed batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The URL did not name a backend we support (`sqlite:` or `postgres:`).
    #[error("unsupported database URL {0:?}: expected sqlite://PATH, sqlite::memory: or postgres://...")]
    UnsupportedUrl(String),

    /// The database was migrated by a newer Palisade than this binary; running on it could corrupt data.
    #[error(
        "database schema version {database} is newer than this binary supports ({binary}); \
         upgrade Palisade or restore a backup"
    )]
    SchemaTooNew {
        /// Highest migration version recorded in the database.
        database: i64,
        /// Highest migration version embedded in this binary.
        binary: i64,
    },

    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migration(Arc<sqlx::migrate::MigrateError>),

    /// The database driver reported an error.
    #[error("database error: {0}")]
    Database(Arc<sqlx::Error>),

    /// SQLite reported an error on a connection opened outside sqlx (`sqlite/verdict_lookup.rs`,
    /// `sqlite/verdict_insert.rs`).
    #[error("database error: {0}")]
    Sqlite(Arc<rusqlite::Error>),

    /// A stored value could not be decoded into its record type (a corrupt or hand-edited row).
    #[error("corrupt stored value in {table}: {reason}")]
    Corrupt {
        /// Table the row came from.
        table: &'static str,
        /// What was wrong with it.
        reason: String,
    },

    /// The operation is not available on this backend.
    #[error("not supported by the {backend} backend: {what}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// The operation.
        what: &'static str,
    },

    /// The group-commit writer task has stopped (the store is shutting down).
    #[error("verdict writer has shut down")]
    WriterClosed,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(Arc::new(err))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(err))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(Arc::new(err))
    }
}

/// Shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;
