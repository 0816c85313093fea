//! Active hellbans held in memory. Every new event's filters ask whether its sender is hellbanned, and on SQLite
//! this process writes every ban itself; writes by other processes (the CLI) are noticed by the `other_writers`
//! watch, which makes the mirror reload.

use std::{
    collections::HashMap,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use sqlx::SqlitePool;

use crate::StoreResult;

/// Ban expiries (ms) by community, then user.
type Bans = HashMap<String, HashMap<String, i64>>;

/// The hellbans table, loaded on first use.
#[derive(Debug, Default)]
pub(super) struct HellbanMirror {
    /// `None` until loaded, and again after another process wrote.
    bans: RwLock<Option<Bans>>,
    /// Counts changes, so a load that raced one is not kept.
    changes: AtomicU64,
}

impl HellbanMirror {
    /// The expiry of `user_id`'s active ban in `community_id`.
    pub(super) async fn expiry(
        &self,
        reader: &SqlitePool,
        community_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let lookup = |bans: &Bans| {
            bans.get(community_id)
                .and_then(|users| users.get(user_id))
                .copied()
                .filter(|&until| until > now_ms)
        };
        if let Some(bans) = self.bans.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(lookup(bans));
        }
        let changes_before = self.changes.load(Ordering::SeqCst);
        // Expired bans too (retention prunes them): whether a ban is active is decided at each lookup.
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT community_id, user_id, expires_at_ms FROM hellbans")
                .fetch_all(reader)
                .await?;
        let mut bans = Bans::new();
        for (community, user, until) in rows {
            bans.entry(community).or_default().insert(user, until);
        }
        let answer = lookup(&bans);
        let mut slot = self.bans.write().unwrap_or_else(PoisonError::into_inner);
        if self.changes.load(Ordering::SeqCst) == changes_before {
            *slot = Some(bans);
        }
        Ok(answer)
    }

    /// A ban this process wrote (kept at the later expiry, as the table keeps it).
    pub(super) fn banned(&self, community_id: &str, user_id: &str, expires_at_ms: i64) {
        self.changed(|bans| {
            let until =
                bans.entry(community_id.to_owned()).or_default().entry(user_id.to_owned()).or_insert(0);
            *until = (*until).max(expires_at_ms);
        });
    }

    /// A ban this process lifted.
    pub(super) fn lifted(&self, community_id: &str, user_id: &str) {
        self.changed(|bans| {
            if let Some(users) = bans.get_mut(community_id) {
                users.remove(user_id);
            }
        });
    }

    /// Another process may have changed the table: read it again on next use.
    pub(super) fn forget(&self) {
        self.changed(|_| ());
        *self.bans.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn changed(&self, apply: impl FnOnce(&mut Bans)) {
        let mut slot = self.bans.write().unwrap_or_else(PoisonError::into_inner);
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Some(bans) = slot.as_mut() {
            apply(bans);
        }
    }
}
