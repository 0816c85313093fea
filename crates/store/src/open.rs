//! Choosing a backend from a database URL.

use std::sync::Arc;

use crate::{PgStore, SqliteStore, Store, StoreError, StoreResult};

/// Opens the store named by `url` and brings its schema up to date.
///
/// `sqlite://path/to/file.db`, `sqlite:relative.db` and `sqlite::memory:` open SQLite;
/// `postgres://...` and `postgresql://...` open PostgreSQL.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_password(url)))
    }
}

/// Like [`open`], with lag-tolerant reads sent to a PostgreSQL read replica when `read_url` is given (see
/// [`PgStore::open_with_replica`]). A replica is refused for SQLite, which has no such thing.
pub async fn open_with_replica(url: &str, read_url: Option<&str>) -> StoreResult<Arc<dyn Store>> {
    let Some(read_url) = read_url else { return open(url).await };
    let is_postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
    if !is_postgres(url) || !is_postgres(read_url) {
        return Err(StoreError::Unsupported {
            backend: if is_postgres(url) { "postgres" } else { "sqlite" },
            what: "a read replica other than a PostgreSQL replica of a PostgreSQL database",
        });
    }
    Ok(Arc::new(PgStore::open_with_replica(url, read_url).await?))
}

/// The URL without anything between `:` and `@` in its authority, so errors never log a password.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_password("mysql://u:secret@h/db"), "mysql://u:***@h/db");
        assert_eq!(redact_password("nonsense"), "nonsense");
    }

    #[tokio::test]
    async fn rejects_unknown_schemes() {
        let err = open("mysql://u:secret@h/db").await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(ref u) if !u.contains("secret")), "{err}");
    }
}
