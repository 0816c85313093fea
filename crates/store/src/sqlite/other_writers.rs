//! Changes other processes make to the database file (the `palisade` CLI while the server runs) reach
//! subscribers as [`ConfigChange::Resync`] and make the hellban mirror reload. SQLite's `data_version` on a connection moves only when another
//! connection commits, and our writer connection is the process's only writing connection, so a move there means
//! someone else wrote.

use std::{sync::Weak, time::Duration};

use sqlx::SqlitePool;
use tokio::sync::broadcast;

use super::HellbanMirror;
use crate::ConfigChange;

/// How often the writer connection looks; changes from elsewhere apply within about this long.
pub(super) const POLL: Duration = Duration::from_secs(1);

/// Watches for other writers until every handle on the store is gone or its pool is closed. The first look is
/// taken before this returns, so every later write by someone else is noticed. Without a tokio runtime
/// (synchronous tools) nothing watches.
pub(super) async fn watch(
    writer: SqlitePool,
    changes: broadcast::WeakSender<ConfigChange>,
    hellbans: Weak<HellbanMirror>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let mut last = data_version(&writer).await;
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if writer.is_closed() {
                return;
            }
            let Some(version) = data_version(&writer).await else { continue };
            let (Some(changes), Some(hellbans)) = (changes.upgrade(), hellbans.upgrade()) else { return };
            if last.is_some_and(|last| last != version) {
                hellbans.forget();
                let _ = changes.send(ConfigChange::Resync);
            }
            last = Some(version);
        }
    });
}

async fn data_version(writer: &SqlitePool) -> Option<i64> {
    sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(writer).await.ok()
}
