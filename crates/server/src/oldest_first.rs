//! A map that keeps its latest entries: past its capacity, the oldest is forgotten first. For caches of what does
//! not change once known (verdicts, `/sign` bodies, media scans), so nothing is ever refreshed, only kept or not.

use std::{
    borrow::Borrow,
    collections::{HashMap, VecDeque},
    hash::Hash,
};

#[derive(Debug)]
pub(crate) struct OldestFirst<K, V> {
    capacity: usize,
    entries: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V> OldestFirst<K, V> {
    /// Keeps up to `capacity` entries (none at 0).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { capacity, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// The value kept for `key`.
    pub(crate) fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries.get(key)
    }

    /// Keeps `value` for `key` unless a value is kept for it already (that one stays); whether it was kept.
    pub(crate) fn insert(&mut self, key: K, value: V) -> bool {
        if self.capacity == 0 || self.entries.contains_key(&key) {
            return false;
        }
        self.entries.insert(key.clone(), value);
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_value_and_forgets_the_oldest_first() {
        let mut map = OldestFirst::with_capacity(2);
        assert!(map.insert("a", 1));
        assert!(map.insert("b", 2));
        assert!(!map.insert("a", 3), "a value is kept once");
        assert!(map.insert("c", 4));
        assert_eq!((map.get("a"), map.get("b"), map.get("c")), (None, Some(&2), Some(&4)));
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut map = OldestFirst::with_capacity(0);
        assert!(!map.insert("a", 1));
        assert_eq!(map.get("a"), None);
    }
}
