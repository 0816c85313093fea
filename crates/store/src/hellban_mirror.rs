//! Active hellbans held in memory: every new event's filters ask whether its sender is hellbanned, and a query
//! each was the most frequent statement of a busy server. The store applies its own writes at once. Other
//! writers reach it too: on SQLite the `other_writers` watch makes it reload after another process (the CLI)
//! wrote; on PostgreSQL a trigger announces every change on the `palisade_hellbans` channel (see
//! `postgres/listener.rs`), and a lost listener connection makes it reload.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::StoreResult;

/// Ban expiries (ms) by community, then user.
type Bans = HashMap<String, HashMap<String, i64>>;

/// The hellbans table, loaded on first use.
#[derive(Debug, Default)]
pub(crate) struct HellbanMirror {
    /// `None` until loaded, and again after another process wrote.
    bans: RwLock<Option<Bans>>,
    /// Counts changes, so a load that raced one is not kept.
    changes: AtomicU64,
}

impl HellbanMirror {
    /// The expiry of `user_id`'s active ban in `community_id`. Until loaded, `load` reads the whole table
    /// (`community_id, user_id, expires_at_ms` rows).
    pub(crate) async fn expiry<Load>(
        &self,
        load: impl FnOnce() -> Load,
        community_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<i64>>
    where
        Load: Future<Output = StoreResult<Vec<(String, String, i64)>>>,
    {
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
        let rows = load().await?;
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

    /// A ban written (kept at the later expiry, as the table keeps it).
    pub(crate) fn banned(&self, community_id: &str, user_id: &str, expires_at_ms: i64) {
        self.changed(|bans| {
            let until =
                bans.entry(community_id.to_owned()).or_default().entry(user_id.to_owned()).or_insert(0);
            *until = (*until).max(expires_at_ms);
        });
    }

    /// A ban lifted.
    pub(crate) fn lifted(&self, community_id: &str, user_id: &str) {
        self.changed(|bans| {
            if let Some(users) = bans.get_mut(community_id) {
                users.remove(user_id);
            }
        });
    }

    /// Another process may have changed the table: read it again on next use.
    pub(crate) fn forget(&self) {
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
