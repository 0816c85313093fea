//! Changes other processes make to the database file (the `palisade` CLI while the server runs) reach
//! subscribers as [`ConfigChange::Resync`] and make the hellban mirror reload.
//!
//! SQLite's `data_version` on a connection moves only when another connection commits. This process writes
//! through two connections: the sqlx writer (everything but verdicts) and the verdict writer. A commit by either
//! moves the other's value; a commit by another process moves both. So a resync is announced once both have
//! moved since the last one. That also happens when both of our own connections wrote in between, which costs
//! no more than rebuilding the caches once.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use sqlx::SqlitePool;
use tokio::sync::broadcast;

use super::{HellbanMirror, VerdictInserts};
use crate::ConfigChange;

/// How often the connections look; changes from elsewhere apply within about this long.
pub(super) const POLL: Duration = Duration::from_secs(1);

/// Watches for other writers until every handle on the store is gone or its pool is closed. The first look is
/// taken before this returns, so every later write by someone else is noticed. Without a tokio runtime
/// (synchronous tools) nothing watches.
pub(super) async fn watch(
    writer: SqlitePool,
    verdicts: Weak<VerdictInserts>,
    changes: broadcast::WeakSender<ConfigChange>,
    hellbans: Weak<HellbanMirror>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let mut writer_seen = Seen::new(data_version(&writer).await);
    let mut verdicts_seen = Seen::new(verdicts_version(&verdicts).await);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if writer.is_closed() {
                return;
            }
            let writer_moved = writer_seen.update(data_version(&writer).await);
            let verdicts_moved = verdicts_seen.update(verdicts_version(&verdicts).await);
            let (Some(changes), Some(hellbans)) = (changes.upgrade(), hellbans.upgrade()) else { return };
            if writer_moved && verdicts_moved {
                writer_seen.moved = false;
                verdicts_seen.moved = false;
                hellbans.refresh(super::queries::all_hellbans(&writer)).await;
                let _ = changes.send(ConfigChange::Resync);
            }
        }
    });
}

/// One connection's `data_version`: the last value read, and whether it moved since the last resync.
struct Seen {
    last: Option<i64>,
    moved: bool,
}

impl Seen {
    fn new(first: Option<i64>) -> Self {
        Self { last: first, moved: false }
    }

    /// Takes a new reading (`None`: the look failed) and says whether the value has moved since the last resync.
    fn update(&mut self, version: Option<i64>) -> bool {
        if let Some(version) = version {
            self.moved |= self.last.is_some_and(|last| last != version);
            self.last = Some(version);
        }
        self.moved
    }
}

async fn data_version(writer: &SqlitePool) -> Option<i64> {
    sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(writer).await.ok()
}

async fn verdicts_version(verdicts: &Weak<VerdictInserts>) -> Option<i64> {
    let verdicts: Arc<VerdictInserts> = verdicts.upgrade()?;
    // The connection may be committing (waiting for fsync): not on a runtime thread.
    tokio::task::spawn_blocking(move || verdicts.data_version().ok()).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_has_moved_until_the_next_resync() {
        let mut seen = Seen::new(Some(1));
        assert!(!seen.update(Some(1)));
        assert!(!seen.update(None), "a failed look is no move");
        assert!(seen.update(Some(2)));
        assert!(seen.update(Some(2)), "still moved: no resync yet");
        seen.moved = false;
        assert!(!seen.update(Some(2)));
        let mut unknown = Seen::new(None);
        assert!(!unknown.update(Some(5)), "the first reading is where it starts");
        assert!(unknown.update(Some(6)));
    }
}
