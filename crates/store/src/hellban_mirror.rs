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
    /// One load at a time: the lookups that find no mirror (every request in progress, after a reload was asked
    /// for) wait for the first one's load instead of each reading the whole table.
    loading: tokio::sync::Mutex<()>,
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
        let _turn = self.loading.lock().await;
        if let Some(bans) = self.bans.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(lookup(bans));
        }
        let bans = self.load(load()).await?;
        Ok(lookup(&bans))
    }

    /// Reads the table again while lookups go on answering from the mirror as it was (another process may
    /// have written: the SQLite watch of other writers). If it cannot be read, the mirror is dropped and the next
    /// lookup loads it.
    pub(crate) async fn refresh(&self, load: impl Future<Output = StoreResult<Vec<(String, String, i64)>>>) {
        let _turn = self.loading.lock().await;
        if self.load(load).await.is_err() {
            self.forget();
        }
    }

    /// Loads the table and keeps it as the mirror, unless a change raced the load (then the next lookup loads
    /// again); returns what was read.
    async fn load(
        &self,
        load: impl Future<Output = StoreResult<Vec<(String, String, i64)>>>,
    ) -> StoreResult<Bans> {
        let changes_before = self.changes.load(Ordering::SeqCst);
        // Expired bans too (retention prunes them): whether a ban is active is decided at each lookup.
        let rows = load.await?;
        let mut bans = Bans::new();
        for (community, user, until) in rows {
            bans.entry(community).or_default().insert(user, until);
        }
        let mut slot = self.bans.write().unwrap_or_else(PoisonError::into_inner);
        *slot = (self.changes.load(Ordering::SeqCst) == changes_before).then(|| bans.clone());
        Ok(bans)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, atomic::AtomicUsize};

    use super::*;

    type Rows = Vec<(String, String, i64)>;

    /// A load that counts itself and takes a while, so concurrent lookups overlap it.
    fn counting_load(
        calls: &Arc<AtomicUsize>,
        until: i64,
    ) -> impl Future<Output = StoreResult<Rows>> + use<> {
        let calls = Arc::clone(calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(vec![("c".to_owned(), "@u:x".to_owned(), until)])
        }
    }

    /// Every request in progress finds no mirror at once (start-up, a reload): one of them reads the table.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_that_miss_together_load_the_table_once() {
        let mirror = Arc::new(HellbanMirror::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let lookups: Vec<_> = (0..16)
            .map(|_| {
                let (mirror, calls) = (Arc::clone(&mirror), Arc::clone(&calls));
                tokio::spawn(
                    async move { mirror.expiry(|| counting_load(&calls, 100), "c", "@u:x", 50).await },
                )
            })
            .collect();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap().unwrap(), Some(100));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A refresh reads the table while lookups keep answering from the mirror as it was, then replaces it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_replaces_the_mirror_without_emptying_it() {
        let mirror = Arc::new(HellbanMirror::default());
        let calls = Arc::new(AtomicUsize::new(0));
        mirror.expiry(|| counting_load(&calls, 100), "c", "@u:x", 50).await.unwrap();
        let refreshing = {
            let (mirror, calls) = (Arc::clone(&mirror), Arc::clone(&calls));
            tokio::spawn(async move { mirror.refresh(counting_load(&calls, 200)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let unused = Arc::new(AtomicUsize::new(0));
        let during = mirror.expiry(|| counting_load(&unused, 999), "c", "@u:x", 50).await.unwrap();
        assert_eq!(during, Some(100), "answered from the mirror while the refresh reads");
        refreshing.await.unwrap();
        let after = mirror.expiry(|| counting_load(&unused, 999), "c", "@u:x", 50).await.unwrap();
        assert_eq!(after, Some(200));
        assert_eq!(unused.load(Ordering::SeqCst), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
