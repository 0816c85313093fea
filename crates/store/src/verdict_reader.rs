//! Batched verdict lookups: every new event is looked up before it is decided, and under load one query for all
//! the lookups waiting is much cheaper than one query (and one hand-off to a database thread or server) each.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{Store, StoreError, StoreResult, StoredVerdict, VerdictLookup};

/// Limits of the batched lookups.
#[derive(Debug, Clone, Copy)]
pub struct ReadBatch {
    /// Most keys read in one query.
    pub max_batch: usize,
    /// Queries in flight at once (SQLite: its reader connections).
    pub parallel: usize,
    /// Lookups that may queue before callers wait for room.
    pub queue: usize,
}

impl Default for ReadBatch {
    fn default() -> Self {
        Self { max_batch: 128, parallel: 2, queue: 4096 }
    }
}

/// One caller's key and where to send what is stored under it.
#[derive(Debug)]
struct Lookup {
    room_id: String,
    event_id: String,
    reply: oneshot::Sender<StoreResult<Option<StoredVerdict>>>,
}

/// Gathers concurrent verdict lookups into [`Store::get_verdicts`] queries.
///
/// Nothing waits for company: a lookup that finds a free query slot is sent at once, alone. While every slot is
/// busy, lookups queue, and the next free slot takes all of them (up to `max_batch`) in one query. So an idle
/// server answers as fast as with single lookups, and a busy one spends one query on many. The task stops when
/// the last clone of the reader is dropped.
///
/// A store whose lookups answer on the caller's thread ([`Store::reads_verdicts_inline`]) is asked directly.
#[derive(Clone)]
pub struct VerdictReader {
    requests: mpsc::Sender<Lookup>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for VerdictReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictReader").finish_non_exhaustive()
    }
}

impl VerdictReader {
    /// Starts the batching task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, limits: ReadBatch) -> Self {
        let (requests, receiver) = mpsc::channel(limits.queue.max(1));
        // A store that answers on the caller's thread is asked directly, so it needs no batching task.
        if !store.reads_verdicts_inline() {
            tokio::spawn(run(Arc::clone(&store), receiver, limits));
        }
        Self { requests, store }
    }

    /// The verdict stored for an event, checked against the event's reference hash (as [`Store::get_verdict`]).
    pub async fn get(
        &self,
        room_id: &str,
        event_id: &str,
        reference_hash: Option<&str>,
    ) -> StoreResult<VerdictLookup> {
        if self.store.reads_verdicts_inline() {
            return self.store.get_verdict(room_id, event_id, reference_hash).await;
        }
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup { room_id: room_id.to_owned(), event_id: event_id.to_owned(), reply };
        self.requests.send(lookup).await.map_err(|_| StoreError::WriterClosed)?;
        let stored = answer.await.map_err(|_| StoreError::WriterClosed)??;
        Ok(VerdictLookup::of(stored, reference_hash))
    }
}

/// The batching loop: wait for a free slot, take everything queued, query it in the background.
async fn run(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Lookup>, limits: ReadBatch) {
    let slots = Arc::new(Semaphore::new(limits.parallel.max(1)));
    let max_batch = limits.max_batch.max(1);
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let Some(first) = receiver.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            answer(store.as_ref(), batch).await;
            drop(slot);
        });
    }
}

/// Reads one batch and answers its callers (each gets the same error if the query failed).
async fn answer(store: &dyn Store, batch: Vec<Lookup>) {
    let keys: Vec<(&str, &str)> = batch.iter().map(|l| (l.room_id.as_str(), l.event_id.as_str())).collect();
    match store.get_verdicts(&keys).await {
        Ok(found) => {
            for (lookup, stored) in batch.into_iter().zip(found) {
                // A caller that gave up (dropped its future) needs no answer.
                let _ = lookup.reply.send(Ok(stored));
            }
        }
        Err(error) => {
            for lookup in batch {
                let _ = lookup.reply.send(Err(error.clone()));
            }
        }
    }
}
