//! `palisade db migrate`, `palisade db backup FILE` and `palisade import-policyserv POSTGRES_URL`: database chores
//! on the database `serve` would use (same `--config` / `--env-file`).

use std::path::{Path, PathBuf};

use palisade_store::{ImportReport, Store, StoreError};

use crate::config::{Config, DatabaseUrl};

/// Why a database command failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be opened, migrated, read or written.
    #[error("database {url}: {source}")]
    Store {
        /// The database URL, password masked.
        url: String,
        /// What went wrong.
        source: StoreError,
    },
    /// The directory of a new SQLite file could not be created.
    #[error("creating {}: {source}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The policyserv source URL is not a PostgreSQL URL.
    #[error("the policyserv database must be a postgres:// URL (policyserv runs only on PostgreSQL)")]
    NotPostgres,
}

/// Applies pending migrations to the configured database (what `serve` does at start-up) and says so.
pub async fn migrate(config: &Config) -> Result<String, DbError> {
    let store = open(&config.database.url).await?;
    let backend = store.backend();
    store.close().await;
    Ok(format!(
        "database {} ({backend:?}) is migrated to this binary's schema\n",
        config.database.url.masked()
    ))
}

/// Copies the configured SQLite database to `target` while a server may be using it. The database is not
/// migrated first, so a backup taken before an upgrade is of the old schema.
pub async fn backup(config: &Config, target: &Path) -> Result<String, DbError> {
    let url = &config.database.url;
    palisade_store::backup_database(url.expose(), target)
        .await
        .map_err(|source| DbError::Store { url: url.masked(), source })?;
    Ok(format!("backed up {} to {}\n", url.masked(), target.display()))
}

/// Copies communities, configs, rooms, keyword templates and trust data from the policyserv database at
/// `source_url` into the configured database (migrated first). Safe to run again.
pub async fn import_policyserv(config: &Config, source_url: &str) -> Result<String, DbError> {
    let source: DatabaseUrl = source_url.parse().map_err(|_| DbError::NotPostgres)?;
    if source.backend() != crate::config::DatabaseBackend::Postgres {
        return Err(DbError::NotPostgres);
    }
    let target = open(&config.database.url).await?;
    let result = palisade_store::import_policyserv(source.expose(), target.as_ref()).await;
    target.close().await;
    let report =
        result.map_err(|source_error| DbError::Store { url: source.masked(), source: source_error })?;
    Ok(render_import(&report, &source.masked(), &config.database.url.masked()))
}

fn render_import(report: &ImportReport, from: &str, to: &str) -> String {
    format!(
        "imported from {from} into {to}:\n  communities: {}\n  rooms: {}\n  keyword templates: {}\n  trust data: {}\n\
         policyserv's verdicts are not imported; community API tokens were stored hashed.\n",
        report.communities, report.rooms, report.keyword_templates, report.trust_data
    )
}

/// Opens (creating the directory of a new SQLite file, as `serve` does for keys) and migrates the store.
async fn open(url: &DatabaseUrl) -> Result<std::sync::Arc<dyn Store>, DbError> {
    if let Some(parent) = sqlite_file(url.expose()).as_deref().and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|source| DbError::Directory { path: parent.to_path_buf(), source })?;
    }
    palisade_store::open(url.expose()).await.map_err(|source| DbError::Store { url: url.masked(), source })
}

/// The file of a `sqlite:` URL (`None` for in-memory databases and other backends).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_of_urls() {
        assert_eq!(sqlite_file("sqlite://./data/p.db"), Some(PathBuf::from("./data/p.db")));
        assert_eq!(sqlite_file("sqlite:rel.db?mode=rwc"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
