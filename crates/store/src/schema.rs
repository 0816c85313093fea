//! Schema versioning shared by both backends.

use sqlx::migrate::Migrator;

use crate::{StoreError, StoreResult};

/// Refuses to run on a database migrated by a newer binary.
///
/// sqlx would also fail (`VersionMissing`), but only with a terse message, and only after taking
/// the migration lock; this names both versions so the operator knows to upgrade.
pub(crate) fn ensure_not_newer(database_max: Option<i64>, migrator: &Migrator) -> StoreResult<()> {
    let binary = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match database_max {
        Some(database) if database > binary => Err(StoreError::SchemaTooNew { database, binary }),
        _ => Ok(()),
    }
}
