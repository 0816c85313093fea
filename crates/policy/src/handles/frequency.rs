//! Sliding-window counters for rate filters.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{BoxFuture, StateError};

/// Which counter: one per (filter, community, user).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterKey<'a> {
    /// The counter's name (the filter's name).
    pub counter: &'a str,
    /// The community.
    pub community: &'a str,
    /// The sender.
    pub user: &'a str,
}

/// Shared sliding-window counters.
pub trait FrequencyCounter: Send + Sync + std::fmt::Debug {
    /// Records `amount` at `now_ms`.
    fn add<'a>(
        &'a self,
        key: CounterKey<'a>,
        amount: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StateError>>;

    /// The total recorded within `window_ms` before `now_ms`. Entries stamped in the future (clock skew between
    /// instances) count.
    fn sum<'a>(
        &'a self,
        key: CounterKey<'a>,
        window_ms: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<u64, StateError>>;
}

type Entries = BTreeMap<(String, String, String), Vec<(u64, u64)>>;

/// Process-local counters.
#[derive(Debug, Default)]
pub struct MemoryCounter {
    entries: Mutex<Entries>,
}

impl MemoryCounter {
    fn with<T>(&self, f: impl FnOnce(&mut Entries) -> T) -> Result<T, StateError> {
        let mut entries = self.entries.lock().map_err(|_| StateError("counter lock poisoned".into()))?;
        Ok(f(&mut entries))
    }

    /// Drops entries that can no longer count in any window up to `window_ms` (the periodic cleanup).
    pub fn prune(&self, window_ms: u64, now_ms: u64) -> Result<(), StateError> {
        let horizon = now_ms.saturating_sub(window_ms);
        self.with(|entries| {
            for list in entries.values_mut() {
                list.retain(|(at, _)| *at > horizon);
            }
            entries.retain(|_, list| !list.is_empty());
        })
    }

    /// Number of stored entries (for tests of the cleanup).
    pub fn stored(&self) -> usize {
        self.with(|entries| entries.values().map(Vec::len).sum()).unwrap_or(0)
    }
}

fn owned(key: CounterKey<'_>) -> (String, String, String) {
    (key.counter.to_owned(), key.community.to_owned(), key.user.to_owned())
}

impl FrequencyCounter for MemoryCounter {
    fn add<'a>(
        &'a self,
        key: CounterKey<'a>,
        amount: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        let result = self.with(|entries| entries.entry(owned(key)).or_default().push((now_ms, amount)));
        Box::pin(std::future::ready(result))
    }

    fn sum<'a>(
        &'a self,
        key: CounterKey<'a>,
        window_ms: u64,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<u64, StateError>> {
        let horizon = now_ms.saturating_sub(window_ms);
        let result = self.with(|entries| {
            entries.get(&owned(key)).map_or(0, |list| {
                list.iter().filter(|(at, _)| *at > horizon).map(|(_, amount)| *amount).sum()
            })
        });
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on::block_on;

    fn key(user: &str) -> CounterKey<'_> {
        CounterKey { counter: "frequency", community: "c", user }
    }

    /// §8.5 #52 (except policyserv's 31-character name limit, a Postgres NOTIFY artefact).
    #[test]
    fn sliding_window() {
        let counter = MemoryCounter::default();
        let now = 1_000_000;
        block_on(counter.add(key("@u1:x"), 1, now)).unwrap();
        block_on(counter.add(key("@u1:x"), 1, now)).unwrap();
        block_on(counter.add(key("@u2:x"), 1, now)).unwrap();
        assert_eq!(block_on(counter.sum(key("@u1:x"), 60_000, now)).unwrap(), 2);
        assert_eq!(block_on(counter.sum(key("@u2:x"), 60_000, now)).unwrap(), 1);
        // Old entries stop counting; entries from the future count.
        assert_eq!(block_on(counter.sum(key("@u1:x"), 60_000, now + 60_000)).unwrap(), 0);
        block_on(counter.add(key("@u3:x"), 1, now + 5_000)).unwrap();
        assert_eq!(block_on(counter.sum(key("@u3:x"), 60_000, now)).unwrap(), 1);
        // Cleanup removes past entries first, future ones once they age out.
        counter.prune(60_000, now + 61_000).unwrap();
        assert_eq!(counter.stored(), 1);
        counter.prune(60_000, now + 66_000).unwrap();
        assert_eq!(counter.stored(), 0);
    }
}
