//! Which verdicts the database may hold, answered from memory.
//!
//! Where a decision is claimed (the room's filters count or call outside services, see `docs/storage.md`) a new
//! event is looked up before it is decided, and nearly every lookup finds nothing. On SQLite such a lookup is not
//! cheap: each commit of the verdict writer empties a reading connection's page cache, so the lookup
//! reads its whole B-tree path again (system calls, page allocations). A Bloom filter over the keys of the stored
//! verdicts says "certainly absent" for those events without touching the database; only a "maybe" is looked up.
//!
//! The filter holds the verdicts' index keys ([`VerdictKey`]). It is filled from the index (its runs' entries and
//! the rows above its watermark) by a thread of its own when the store opens, again, larger, whenever the verdicts
//! inserted since outgrow it, and again when another process wrote runs; until a fill is done every lookup goes to
//! the database. The verdict writer adds each key before its transaction commits, to the filter in use and to the
//! one being filled, and a fill takes its snapshot under the writer's lock, so no verdict this process stores or
//! finds stored is ever missed. The keys of verdicts another process stored join when the writer catches up with
//! them (`verdict_index.rs`); until then a lookup may miss them, but the insert still keeps and returns the verdict
//! stored first.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
};

use rusqlite::{Connection, OpenFlags};
use tracing::warn;

use super::verdict_index::{self, VerdictKey};
use crate::StoreResult;

/// Bits per key the filter is sized for: with [`HASHES`] probes, about 1% false positives at capacity.
const BITS_PER_KEY: u64 = 10;
/// Bit probes per key.
const HASHES: u64 = 7;
/// Keys a filter holds at least (about 1.3 MB).
const MIN_CAPACITY: u64 = 1 << 20;

/// The key filters of one database file.
#[derive(Debug)]
pub(crate) struct VerdictKeys {
    path: PathBuf,
    filters: RwLock<Filters>,
    /// Whether a fill is under way (at most one at a time).
    filling: AtomicBool,
    /// How many times the filters were distrusted: a fill whose snapshot is older than the last time fills again.
    distrusted: AtomicU64,
    /// Keys a filter is sized for at least.
    min_capacity: u64,
}

#[derive(Debug, Default)]
struct Filters {
    /// The complete filter, if one is ready.
    current: Option<Arc<Bloom>>,
    /// The filter being filled, which every insert also goes to.
    next: Option<Arc<Bloom>>,
}

impl VerdictKeys {
    /// Filters for the database at `path`, none ready yet: [`Self::fill`] makes one.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            filters: RwLock::default(),
            filling: AtomicBool::new(false),
            distrusted: AtomicU64::new(0),
            min_capacity: MIN_CAPACITY,
        }
    }

    /// Whether a verdict with `key` may be stored; `true` while no filter is ready.
    pub(crate) fn may_contain(&self, key: VerdictKey) -> bool {
        self.read().current.as_ref().is_none_or(|filter| filter.may_contain(key))
    }

    /// Records a verdict about to be committed (or one another process stored). Returns whether the filter in use
    /// is now past its capacity (the caller then starts a [`Self::fill`]).
    pub(crate) fn add(&self, key: VerdictKey) -> bool {
        let filters = self.read();
        if let Some(next) = &filters.next {
            next.add(key);
        }
        filters.current.as_ref().is_some_and(|current| current.add(key))
    }

    /// Stops answering "certainly absent" until a fill that starts after this call is done: another process wrote
    /// runs of verdicts this one may never have seen (a fill under way may have taken its snapshot before them).
    pub(crate) fn distrust(&self) {
        let mut filters = self.write();
        self.distrusted.fetch_add(1, Ordering::AcqRel);
        filters.current = None;
    }

    /// Starts filling a filter sized for the table as it is now, on a thread of its own, unless one is filling.
    /// `writer` is the verdict writer's connection: its lock is held while the new filter joins the inserts and
    /// the fill's snapshot of the table is taken, so no verdict commits in between.
    pub(crate) fn fill(self: &Arc<Self>, writer: Arc<Mutex<Connection>>) {
        if self.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let keys = Arc::clone(self);
        let spawned = thread::Builder::new().name("verdict-keys".to_owned()).spawn(move || {
            loop {
                match keys.fill_now(&writer) {
                    Ok(true) => break,
                    Ok(false) => continue,
                    Err(error) => {
                        warn!(%error, "could not read the stored verdicts' keys; verdict lookups all read the database");
                        keys.write().next = None;
                        break;
                    }
                }
            }
            keys.filling.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.filling.store(false, Ordering::Release);
        }
    }

    /// One fill; `false` if the filters were distrusted after its snapshot was taken (it is not used).
    fn fill_now(&self, writer: &Mutex<Connection>) -> StoreResult<bool> {
        let flags =
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        let stored = verdict_index::stored_estimate(&connection)?;
        let next = Arc::new(Bloom::with_capacity(stored.saturating_mul(2).max(self.min_capacity)));
        let distrusted = {
            let _writer = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            self.write().next = Some(Arc::clone(&next));
            // A read transaction takes its snapshot at its first read: every verdict committed before is in
            // it, every later one was added to `next` by the writer.
            connection.execute_batch("BEGIN")?;
            connection.query_row("SELECT count(*) FROM (SELECT 1 FROM verdicts LIMIT 1)", [], |_| Ok(()))?;
            self.distrusted.load(Ordering::Acquire)
        };
        verdict_index::each_key(&connection, |key| {
            next.add(key);
        })?;
        connection.execute_batch("COMMIT")?;
        let mut filters = self.write();
        if self.distrusted.load(Ordering::Acquire) != distrusted {
            return Ok(false);
        }
        filters.current = filters.next.take();
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Filters> {
        self.filters.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Filters> {
        self.filters.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A Bloom filter over 64-bit key hashes, shared between threads without locks.
#[derive(Debug)]
struct Bloom {
    words: Vec<AtomicU64>,
    capacity: u64,
    added: AtomicU64,
}

impl Bloom {
    fn with_capacity(capacity: u64) -> Self {
        let words = capacity.saturating_mul(BITS_PER_KEY).div_ceil(64).max(1);
        Self { words: (0..words).map(|_| AtomicU64::new(0)).collect(), capacity, added: AtomicU64::new(0) }
    }

    /// Sets the key's bits; whether more keys than the capacity have been added.
    fn add(&self, key: VerdictKey) -> bool {
        for bit in self.bits(key) {
            self.words[word(bit)].fetch_or(mask(bit), Ordering::Relaxed);
        }
        self.added.fetch_add(1, Ordering::Relaxed) >= self.capacity
    }

    fn may_contain(&self, key: VerdictKey) -> bool {
        self.bits(key).all(|bit| self.words[word(bit)].load(Ordering::Relaxed) & mask(bit) != 0)
    }

    /// The key's bit positions: double hashing of its two halves (Kirsch and Mitzenmacher; the key is already a
    /// hash).
    fn bits(&self, key: VerdictKey) -> impl Iterator<Item = u64> {
        let key = key.0.cast_unsigned();
        let len = self.words.len() as u64 * 64;
        let (h1, h2) = (key & 0xffff_ffff, (key >> 32) | 1);
        (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % len)
    }
}

fn word(bit: u64) -> usize {
    usize::try_from(bit / 64).unwrap_or(usize::MAX)
}

fn mask(bit: u64) -> u64 {
    1 << (bit % 64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::sqlite::verdict_index::tests::{migrated, store_row};

    fn insert(connection: &Mutex<Connection>, keys: &VerdictKeys, room_id: &str, event_id: &str) -> bool {
        let connection = connection.lock().unwrap();
        let outgrown = keys.add(VerdictKey::of(room_id, event_id));
        store_row(&connection, room_id, event_id);
        outgrown
    }

    fn wait_until_filled(keys: &VerdictKeys) {
        for _ in 0..2_000 {
            if !keys.filling.load(Ordering::Acquire) && keys.read().current.is_some() {
                return;
            }
            thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("the fill did not finish");
    }

    fn may_contain(keys: &VerdictKeys, room_id: &str, event_id: &str) -> bool {
        keys.may_contain(VerdictKey::of(room_id, event_id))
    }

    /// Keys stored before the fill, inserted while it runs and inserted after it are all "maybe"; until a fill
    /// is done everything is.
    #[test]
    fn no_stored_verdict_is_ever_certainly_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let writer = migrated(&path);
        for i in 0..5_000 {
            store_row(&writer, "!r:x", &format!("$before{i}"));
        }
        let writer = Arc::new(Mutex::new(writer));
        let keys = Arc::new(VerdictKeys::new(&path));
        assert!(may_contain(&keys, "!r:x", "$anything"), "no filter yet: everything may be stored");
        keys.fill(Arc::clone(&writer));
        for i in 0..2_000 {
            insert(&writer, &keys, "!r:x", &format!("$during{i}"));
        }
        wait_until_filled(&keys);
        for i in 0..500 {
            insert(&writer, &keys, "!r:y", &format!("$after{i}"));
        }
        assert!((0..5_000).all(|i| may_contain(&keys, "!r:x", &format!("$before{i}"))));
        assert!((0..2_000).all(|i| may_contain(&keys, "!r:x", &format!("$during{i}"))));
        assert!((0..500).all(|i| may_contain(&keys, "!r:y", &format!("$after{i}"))));
        let imagined = (0..10_000).filter(|i| may_contain(&keys, "!r:x", &format!("$never{i}"))).count();
        assert!(imagined < 100, "{imagined} of 10 000 absent keys said to be maybe stored");
        keys.distrust();
        assert!(may_contain(&keys, "!r:x", "$never0"), "distrusted: everything may be stored until a fill");
    }

    /// A filter that outgrows its capacity is replaced by a larger one filled from the table.
    #[test]
    fn an_outgrown_filter_is_refilled_larger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let writer = Arc::new(Mutex::new(migrated(&path)));
        let keys = Arc::new(VerdictKeys { min_capacity: 1_000, ..VerdictKeys::new(&path) });
        keys.fill(Arc::clone(&writer));
        wait_until_filled(&keys);
        let first_capacity = keys.read().current.as_ref().unwrap().capacity;
        let mut outgrown = false;
        for i in 0..=first_capacity {
            outgrown |= insert(&writer, &keys, "!r:x", &format!("$e{i}"));
        }
        assert!(outgrown);
        keys.fill(Arc::clone(&writer));
        wait_until_filled(&keys);
        assert!(keys.read().current.as_ref().unwrap().capacity > first_capacity);
        assert!(
            may_contain(&keys, "!r:x", "$e0") && may_contain(&keys, "!r:x", &format!("$e{first_capacity}"))
        );
    }

    #[test]
    fn a_bloom_filter_never_forgets_and_rarely_imagines() {
        let key = |i: u64| VerdictKey(i.wrapping_mul(0x9e37_79b9_7f4a_7c15).cast_signed());
        let bloom = Bloom::with_capacity(10_000);
        for i in 0..10_000u64 {
            assert!(!bloom.add(key(i)));
        }
        assert!(bloom.add(key(1)), "past its capacity");
        assert!((0..10_000u64).all(|i| bloom.may_contain(key(i))));
        let imagined = (10_000..110_000u64).filter(|i| bloom.may_contain(key(*i))).count();
        assert!(imagined < 2_000, "{imagined} false positives in 100 000");
    }
}
