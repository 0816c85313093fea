//! Hellbans: a sender of a refused event is refused for a while.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{BoxFuture, StateError};

/// Active hellbans per (community, user).
pub trait HellbanStore: Send + Sync + std::fmt::Debug {
    /// When the user's active ban ends, if one is active at `now_ms`.
    fn active_until<'a>(
        &'a self,
        community: &'a str,
        user: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, StateError>>;

    /// Starts a ban ending at `until_ms` unless one is already active (repeated spam does not extend a ban, as in
    /// policyserv). Returns when the active ban ends.
    fn start<'a>(
        &'a self,
        community: &'a str,
        user: &'a str,
        now_ms: u64,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<u64, StateError>>;
}

/// Process-local hellbans.
#[derive(Debug, Default)]
pub struct MemoryHellbans {
    bans: Mutex<BTreeMap<(String, String), u64>>,
}

impl MemoryHellbans {
    /// Runs `f` on the ban table; a poisoned lock is a state error, not a panic.
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), u64>) -> T) -> Result<T, StateError> {
        let mut bans = self.bans.lock().map_err(|_| StateError("hellban table lock poisoned".into()))?;
        Ok(f(&mut bans))
    }
}

impl HellbanStore for MemoryHellbans {
    fn active_until<'a>(
        &'a self,
        community: &'a str,
        user: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, StateError>> {
        let result = self.with(|bans| {
            bans.get(&(community.to_owned(), user.to_owned())).copied().filter(|until| *until > now_ms)
        });
        Box::pin(std::future::ready(result))
    }

    fn start<'a>(
        &'a self,
        community: &'a str,
        user: &'a str,
        now_ms: u64,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<u64, StateError>> {
        let result = self.with(|bans| {
            let slot = bans.entry((community.to_owned(), user.to_owned())).or_insert(until_ms);
            if *slot <= now_ms {
                *slot = until_ms;
            }
            *slot
        });
        Box::pin(std::future::ready(result))
    }
}
