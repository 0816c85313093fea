//! Verdicts decided or read lately, kept in memory. Every server in a room asks about the same event within
//! seconds, and a stored verdict never changes, so those asks need not reach the store.

use std::sync::Mutex;

use super::DecidedVerdict;
use crate::oldest_first::OldestFirst;

/// How many verdicts are kept by default: a few seconds of a busy instance's traffic, a few MB.
const DEFAULT_CAPACITY: usize = 16_384;

/// The latest verdicts by evaluation key; the oldest is forgotten first.
#[derive(Debug)]
pub(super) struct RecentVerdicts {
    inner: Mutex<OldestFirst<String, DecidedVerdict>>,
}

impl Default for RecentVerdicts {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl RecentVerdicts {
    /// Keeps up to `capacity` verdicts.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self { inner: Mutex::new(OldestFirst::with_capacity(capacity)) }
    }

    /// The verdict kept for `key`, if any.
    pub(super) fn get(&self, key: &str) -> Option<DecidedVerdict> {
        self.lock().get(key).cloned()
    }

    /// Keeps `verdict` for `key`, forgetting the oldest when full.
    pub(super) fn insert(&self, key: &str, verdict: &DecidedVerdict) {
        let mut recent = self.lock();
        if recent.get(key).is_none() {
            recent.insert(key.to_owned(), verdict.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OldestFirst<String, DecidedVerdict>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use palisade_policy::ContentClass;

    use super::*;

    fn verdict(harm: &str) -> DecidedVerdict {
        DecidedVerdict::new(ContentClass::Prohibited, vec![harm.to_owned()], None)
    }

    #[test]
    fn keeps_the_latest_and_forgets_the_oldest_first() {
        let recent = RecentVerdicts::with_capacity(2);
        recent.insert("a", &verdict("1"));
        recent.insert("b", &verdict("2"));
        recent.insert("a", &verdict("ignored: a verdict is kept once"));
        recent.insert("c", &verdict("3"));
        assert_eq!(recent.get("a"), None);
        assert_eq!(recent.get("b"), Some(verdict("2")));
        assert_eq!(recent.get("c"), Some(verdict("3")));
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let recent = RecentVerdicts::with_capacity(0);
        recent.insert("a", &verdict("1"));
        assert_eq!(recent.get("a"), None);
    }
}
