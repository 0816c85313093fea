//! The tail: the keys of the verdicts this process knows of that no run holds yet.

use std::collections::BTreeSet;

use super::{block::Entry, key::VerdictKey};

/// Verdicts above the index's watermark, by key, and how far this process has seen.
#[derive(Debug, Default)]
pub(super) struct Tail {
    /// Entries of verdicts with a seq above `indexed_upto`, in key order (so a run is written from them as they are).
    entries: BTreeSet<Entry>,
    /// Every verdict at or below this is in a live run.
    pub(super) indexed_upto: i64,
    /// Every verdict at or below this is in a live run or in `entries`; above it only the table knows.
    pub(super) known_upto: i64,
}

impl Tail {
    /// A tail for a database indexed up to `indexed_upto` whose later verdicts, up to `known_upto`, are `entries`.
    pub(super) fn new(indexed_upto: i64, known_upto: i64, entries: impl IntoIterator<Item = Entry>) -> Self {
        Self { entries: entries.into_iter().collect(), indexed_upto, known_upto }
    }

    /// Seqs of the tail's verdicts under `key`.
    pub(super) fn seqs_of(&self, key: VerdictKey) -> Vec<i64> {
        let from = Entry { key, seq: i64::MIN };
        self.entries.range(from..).take_while(|entry| entry.key == key).map(|entry| entry.seq).collect()
    }

    /// Adds verdicts stored (or being stored) with seqs above `known_upto`, which moves to the highest of them.
    pub(super) fn extend(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.entries.insert(*entry);
            self.known_upto = self.known_upto.max(entry.seq);
        }
    }

    /// Undoes [`Self::extend`] for verdicts whose transaction rolled back.
    pub(super) fn remove(&mut self, entries: &[Entry], known_upto: i64) {
        for entry in entries {
            self.entries.remove(entry);
        }
        self.known_upto = known_upto;
    }

    /// Runs now hold every verdict up to `indexed_upto`: forget their entries.
    pub(super) fn indexed(&mut self, indexed_upto: i64) {
        if indexed_upto > self.indexed_upto {
            self.entries.retain(|entry| entry.seq > indexed_upto);
            self.indexed_upto = indexed_upto;
            self.known_upto = self.known_upto.max(indexed_upto);
        }
    }

    /// The entries a run would be written from, in key order.
    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: i64, seq: i64) -> Entry {
        Entry { key: VerdictKey(key), seq }
    }

    #[test]
    fn a_key_finds_every_seq_and_runs_take_what_they_hold() {
        let mut tail = Tail::new(10, 10, []);
        tail.extend(&[entry(5, 11), entry(-3, 12), entry(5, 13)]);
        assert_eq!(tail.known_upto, 13);
        assert_eq!(tail.seqs_of(VerdictKey(5)), [11, 13]);
        assert_eq!(tail.seqs_of(VerdictKey(-3)), [12]);
        assert!(tail.seqs_of(VerdictKey(4)).is_empty());
        assert_eq!(tail.entries().map(|e| e.seq).collect::<Vec<_>>(), [12, 11, 13], "key order");
        tail.indexed(12);
        assert_eq!((tail.indexed_upto, tail.known_upto, tail.len()), (12, 13, 1));
        assert_eq!(tail.seqs_of(VerdictKey(5)), [13]);
    }

    #[test]
    fn a_rolled_back_batch_leaves_no_trace() {
        let mut tail = Tail::new(0, 4, [entry(1, 4)]);
        let batch = [entry(2, 5), entry(3, 6)];
        tail.extend(&batch);
        tail.remove(&batch, 4);
        assert_eq!((tail.known_upto, tail.len()), (4, 1));
        assert!(tail.seqs_of(VerdictKey(2)).is_empty());
    }
}
