//! Scratch PostgreSQL databases for tests: one fresh database per test, dropped at the end. The server is
//! `PALISADE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); when it is unreachable
//! the test is skipped with a notice, unless `CI=true`, where it fails.
//!
//! Shared by the integration tests (`mod support;`) and the server's own unit tests (`#[path]`).

// Each test binary uses a different part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The admin URL of the test server.
pub(crate) fn admin_url() -> String {
    std::env::var("PALISADE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one test.
#[derive(Debug)]
pub(crate) struct ScratchDb {
    /// Opens the scratch database.
    pub(crate) url: String,
    name: String,
}

impl ScratchDb {
    /// Creates a uniquely named database, or returns `None` (with a notice) when PostgreSQL is unreachable and
    /// `CI` is not `true`.
    pub(crate) async fn create(prefix: &str) -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
        let name = format!(
            "palisade_test_{prefix}_{}_{}_{nanos:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = admin_connection().await?;
        let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""));
        sqlx::raw_sql(create).execute(&mut admin).await.expect("create scratch database");
        let admin_url = admin_url();
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self { url: format!("{base}/{name}"), name })
    }

    /// Runs SQL statements on the scratch database.
    pub(crate) async fn execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect to scratch database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.expect("scratch SQL");
        conn.close().await.expect("close");
    }

    /// Reads one integer (a count) from the scratch database.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect to scratch database");
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.expect("count");
        conn.close().await.expect("close");
        n
    }

    /// Drops the database, disconnecting anything still attached.
    pub(crate) async fn drop_database(self) {
        if let Some(mut admin) = admin_connection().await {
            let drop = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
            sqlx::raw_sql(drop).execute(&mut admin).await.expect("drop scratch database");
        }
    }
}

async fn admin_connection() -> Option<PgConnection> {
    let url = admin_url();
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => Some(conn),
        outcome => {
            let reason = match outcome {
                Ok(Err(err)) => err.to_string(),
                _ => "timed out".to_owned(),
            };
            let required = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!required, "PostgreSQL required (CI=true) but unreachable at {url}: {reason}");
            eprintln!("NOTICE: skipping PostgreSQL test, server unreachable at {url}: {reason}");
            None
        }
    }
}
