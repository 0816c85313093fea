//! Backups by URL, without opening (and so without migrating) the store first: a backup taken before an
//! upgrade must be of the database as the old binary left it.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{StoreError, StoreResult, open::redact_password};

/// Writes a consistent copy of the SQLite database at `url` to `target` while it stays in use (`VACUUM INTO`,
/// on a read-only connection). `target` must not exist yet. PostgreSQL is refused with
/// [`StoreError::Unsupported`] (use `pg_dump`), an in-memory or missing database with a clear error.
pub async fn backup_database(url: &str, target: &Path) -> StoreResult<()> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(StoreError::Unsupported {
            backend: "postgres",
            what: "`palisade db backup` (back PostgreSQL up with pg_dump)",
        });
    }
    if !url.starts_with("sqlite:") {
        return Err(StoreError::UnsupportedUrl(redact_password(url)));
    }
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Unsupported { backend: "sqlite", what: "backing up an in-memory database" });
    }
    if target.exists() {
        return Err(StoreError::Unsupported {
            backend: "sqlite",
            what: "writing a backup over an existing file (choose a new file name)",
        });
    }
    let options = SqliteConnectOptions::from_str(url)?.read_only(true).create_if_missing(false);
    let mut connection = options.connect().await?;
    let result = sqlx::query("VACUUM INTO $1")
        .bind(target.to_string_lossy().into_owned())
        .execute(&mut connection)
        .await;
    connection.close().await?;
    result?;
    Ok(())
}
