//! Group commit for verdicts: many concurrent `/sign` requests, one transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout_at};

use crate::{BlockingVerdictInserts, Store, StoreError, StoreResult, StoredVerdict};

/// Limits of one group commit.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// Most verdicts written in one transaction.
    pub max_batch: usize,
    /// Longest a batch waits for more verdicts after taking those already queued (zero by default:
    /// waiting only delayed every answer, since verdicts queue anyway while a batch commits).
    pub max_wait: Duration,
    /// Requests that may queue before callers wait for room (back-pressure).
    pub queue: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self { max_batch: 128, max_wait: Duration::ZERO, queue: 4096 }
    }
}

/// One caller's verdict and where to send the stored result.
#[derive(Debug)]
struct Request {
    verdict: StoredVerdict,
    reply: oneshot::Sender<StoreResult<StoredVerdict>>,
}

/// Batches concurrent [`Store::insert_verdict_if_absent`] calls into one transaction.
///
/// A single loop takes every request queued (up to `max_batch`), waits up to `max_wait` for more
/// (by default not at all), commits them together, and only then answers each caller: every answer
/// is durable. While one batch commits, the next one fills, so batches grow with load and one fsync
/// serves many requests, while a lone request is not held back. The loop is a task, or a thread of its
/// own where the store commits on the calling thread (SQLite files: no hand-off to a blocking thread and
/// back per batch). It stops when the last clone of the writer is dropped.
#[derive(Debug, Clone)]
pub struct VerdictWriter {
    requests: mpsc::Sender<Request>,
    stats: Arc<Counters>,
}

/// Running totals kept by the writer task.
#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    verdicts: AtomicU64,
}

/// How much grouping the writer achieved (for metrics: verdicts / batches = mean batch size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (or attempted).
    pub batches: u64,
    /// Verdicts submitted in those transactions.
    pub verdicts: u64,
}

impl VerdictWriter {
    /// Starts the writer loop on the current tokio runtime (its timers and wake-ups; the loop itself runs on a
    /// thread of its own where the store can commit on it).
    pub fn spawn(store: Arc<dyn Store>, limits: GroupCommit) -> Self {
        let (requests, receiver) = mpsc::channel(limits.queue.max(1));
        let stats = Arc::new(Counters::default());
        let counters = Arc::clone(&stats);
        match store.blocking_verdict_inserts() {
            Some(inserts) => {
                let runtime = tokio::runtime::Handle::current();
                let committer = Committer::OnThisThread(inserts);
                let spawned = std::thread::Builder::new()
                    .name("verdict-writer".to_owned())
                    .spawn(move || runtime.block_on(run(committer, receiver, limits, counters)));
                if let Err(error) = spawned {
                    // Without the thread, callers get `WriterClosed` (the receiver is gone with the closure).
                    tracing::error!(%error, "could not start the verdict writer thread");
                }
            }
            None => {
                tokio::spawn(run(Committer::Store(store), receiver, limits, counters));
            }
        }
        Self { requests, stats }
    }

    /// Verdicts waiting for a batch now.
    pub fn queued(&self) -> usize {
        self.requests.max_capacity() - self.requests.capacity()
    }

    /// Totals so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            verdicts: self.stats.verdicts.load(Ordering::Relaxed),
        }
    }

    /// Stores `verdict` unless one exists for its event, and returns the stored verdict (the
    /// existing one if another evaluation won).
    pub async fn insert(&self, verdict: StoredVerdict) -> StoreResult<StoredVerdict> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { verdict, reply }).await.map_err(|_| StoreError::WriterClosed)?;
        answer.await.map_err(|_| StoreError::WriterClosed)?
    }
}

/// How a batch reaches the database.
enum Committer {
    /// Through the store's async insert.
    Store(Arc<dyn Store>),
    /// On the writer's own thread.
    OnThisThread(Arc<dyn BlockingVerdictInserts>),
}

impl Committer {
    async fn insert(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>> {
        match self {
            Self::Store(store) => store.insert_verdicts_if_absent(verdicts).await,
            Self::OnThisThread(inserts) => inserts.insert_verdicts_if_absent(verdicts),
        }
    }

    /// One step of upkeep; whether more may be due.
    fn upkeep(&self) -> bool {
        match self {
            Self::Store(_) => false,
            Self::OnThisThread(inserts) => inserts.upkeep(),
        }
    }
}

/// The writer loop: gather a batch, commit it, answer, do a step of the upkeep the commit made due, repeat. While
/// upkeep is due and no verdict is waiting, it takes further steps (one at a time, so that a verdict arriving
/// meanwhile waits for one step at most).
async fn run(
    committer: Committer,
    mut receiver: mpsc::Receiver<Request>,
    limits: GroupCommit,
    stats: Arc<Counters>,
) {
    let max_batch = limits.max_batch.max(1);
    // A store can open with upkeep due (a tail left by a process that stopped).
    let mut upkeep_due = true;
    loop {
        let first = if upkeep_due {
            match receiver.try_recv() {
                Ok(request) => request,
                Err(mpsc::error::TryRecvError::Empty) => {
                    upkeep_due = committer.upkeep();
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            match receiver.recv().await {
                Some(request) => request,
                None => break,
            }
        };
        let deadline = Instant::now() + limits.max_wait;
        let mut batch = vec![first];
        // Whatever queued while the previous batch committed joins without waiting.
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        while batch.len() < max_batch && !limits.max_wait.is_zero() {
            match timeout_at(deadline, receiver.recv()).await {
                Ok(Some(request)) => batch.push(request),
                Ok(None) | Err(_) => break,
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.verdicts.fetch_add(u64::try_from(batch.len()).unwrap_or(u64::MAX), Ordering::Relaxed);
        commit(&committer, batch).await;
        upkeep_due = committer.upkeep();
    }
}

/// Writes one batch and answers its callers (each gets the same error if the transaction failed).
async fn commit(committer: &Committer, batch: Vec<Request>) {
    let (verdicts, replies): (Vec<StoredVerdict>, Vec<_>) =
        batch.into_iter().map(|r| (r.verdict, r.reply)).unzip();
    match committer.insert(&verdicts).await {
        Ok(stored) => {
            for (reply, verdict) in replies.into_iter().zip(stored) {
                // A caller that gave up (dropped its future) needs no answer.
                let _ = reply.send(Ok(verdict));
            }
        }
        Err(err) => {
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}
