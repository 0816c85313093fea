//! ed25519 checks of concurrent requests, verified together.
//!
//! Checking `n` signatures in one multi-scalar equation costs about half of checking each
//! ([`verifying_keys::verify_batch`]), and under load many `/sign` requests reach their signature checks at the
//! same moment. Each check joins its thread's queue; the first caller to find no one verifying takes the role,
//! first lets the other ready requests run (so that they queue their checks too), then verifies everything
//! queued, answering each caller, until the queue is empty. A lone request under light load is verified at once,
//! as before. There is no background task: the role is a caller's, so it works on whatever runtime the caller
//! runs on.
//!
//! A batch that fails says only that one of its signatures is bad, so its checks are then done one by one, and for
//! a second after that every check is (someone is sending bad signatures, and a poisoned batch costs more than
//! checking each).

use std::{
    mem,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use palisade_matrix::verifying_keys::{Fingerprint, SignatureCheck, verify_batch};
use tokio::sync::oneshot;

/// Most signatures in one equation. Past a few dozen the cost per signature hardly falls, and the equation's
/// tables (about 2.5 KB per signature) stay small enough for the allocator to reuse instead of mapping fresh
/// memory each time (at 128, a fresh huge page was zeroed for nearly every batch).
const MAX_BATCH: usize = 32;

/// How long checks go one by one after a batch held a bad signature.
const SINGLE_AFTER_FAILURE: Duration = Duration::from_secs(1);

thread_local! {
    /// This thread's queue. Each connection thread batches its own requests' checks: answering a request of
    /// another thread would wake that thread's runtime from the verifier's, a system call and often a
    /// cross-core interrupt per answer.
    static QUEUE: Arc<Queue> = Arc::default();
}

/// Until when checks go one by one, for every thread: whoever sent a bad signature may send it to any.
static SINGLE_ONLY: LazyLock<SingleOnly> =
    LazyLock::new(|| SingleOnly { until_ms: AtomicU64::new(0), epoch: Instant::now() });

#[derive(Default)]
struct Queue {
    waiting: Mutex<Vec<Job>>,
    /// Whether a caller holds the verifying role.
    verifying: AtomicBool,
}

struct SingleOnly {
    /// Milliseconds after `epoch` until which checks go one by one (0: batches allowed).
    until_ms: AtomicU64,
    epoch: Instant,
}

struct Job {
    check: SignatureCheck,
    answer: oneshot::Sender<bool>,
}

/// Whether `signature` is `public_key`'s signature of `message`, checked together with the other checks waiting
/// at this moment.
pub(crate) async fn verify(public_key: &[u8; 32], message: Vec<u8>, signature: &[u8]) -> bool {
    let Some(check) = SignatureCheck::new(public_key, message, signature) else { return false };
    let (answer, verdict) = oneshot::channel();
    // The queue of the thread the check starts on: on a multi-threaded runtime the task may go on elsewhere,
    // and the role it takes is this queue's.
    let queue = QUEUE.with(Arc::clone);
    queue.push(Job { check, answer });
    if let Some(role) = Verifier::take(queue) {
        // The requests that are ready to run reach their checks first and are verified with this one.
        tokio::task::yield_now().await;
        drop(role);
    }
    verdict.await.unwrap_or(false)
}

/// [`verify`] for an event's signature, which every server of the room asks about: one that verified lately
/// is not verified again.
pub(crate) async fn verify_remembered(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let fingerprint = Fingerprint::of(public_key, message, signature);
    if fingerprint.is_remembered() {
        return true;
    }
    let verified = verify(public_key, message.to_vec(), signature).await;
    if verified {
        fingerprint.remember();
    }
    verified
}

/// The verifying role of one queue. Whoever holds it verifies every check queued there when it lets go, even if
/// its own request was dropped meanwhile: no check is ever left waiting without someone to verify it.
struct Verifier(Arc<Queue>);

impl Verifier {
    fn take(queue: Arc<Queue>) -> Option<Self> {
        // Not `then_some`: a role built and dropped unclaimed would release someone else's.
        (!queue.verifying.swap(true, Ordering::AcqRel)).then(|| Self(queue))
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let queue = &self.0;
        loop {
            while let Some(jobs) = queue.take_some() {
                check(jobs);
            }
            queue.verifying.store(false, Ordering::Release);
            // A check queued after the last look but before the release would wait for the next caller.
            if queue.is_empty() || queue.verifying.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

impl Queue {
    fn push(&self, job: Job) {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(job);
    }

    fn is_empty(&self) -> bool {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty()
    }

    /// Up to [`MAX_BATCH`] waiting checks, oldest first; `None` when none wait.
    fn take_some(&self) -> Option<Vec<Job>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if waiting.is_empty() {
            return None;
        }
        if waiting.len() <= MAX_BATCH {
            return Some(mem::take(&mut *waiting));
        }
        let rest = waiting.split_off(MAX_BATCH);
        Some(mem::replace(&mut *waiting, rest))
    }
}

/// Verifies `jobs` and answers each.
fn check(jobs: Vec<Job>) {
    let (checks, answers): (Vec<SignatureCheck>, Vec<oneshot::Sender<bool>>) =
        jobs.into_iter().map(|job| (job.check, job.answer)).unzip();
    if let Some(internals) = crate::metrics::sign_internals() {
        internals.signature_batch.observe(checks.len() as f64);
    }
    let batched = checks.len() > 1 && !SINGLE_ONLY.in_force();
    let all_verified = batched && verify_batch(&checks);
    if batched && !all_verified {
        SINGLE_ONLY.for_a_while();
    }
    for (check, answer) in checks.iter().zip(answers) {
        // A caller that gave up needs no answer.
        let _ = answer.send(all_verified || check.verify());
    }
}

impl SingleOnly {
    fn in_force(&self) -> bool {
        self.now_ms() < self.until_ms.load(Ordering::Relaxed)
    }

    fn for_a_while(&self) {
        self.until_ms.store(self.now_ms().saturating_add(millis(SINGLE_AFTER_FAILURE)), Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{future::Future, pin::Pin, task::Poll};

    use palisade_matrix::SigningKey;

    use super::*;

    fn signed(seed: u8, message: &[u8]) -> ([u8; 32], Vec<u8>) {
        let key = SigningKey::from_seed(&[seed; 32], "batch").unwrap();
        (key.public_key(), key.sign_bytes(message))
    }

    /// Many checks at once, some bad: each caller gets its own signature's answer, batched or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_each_get_their_own_answer() {
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                tokio::spawn(async move {
                    let message = format!("event {i}").into_bytes();
                    let (public, signature) = signed(u8::try_from(i % 7).unwrap() + 1, &message);
                    let bad = i % 13 == 0;
                    let sent = if bad { b"something else".to_vec() } else { message };
                    (bad, verify(&public, sent, &signature).await)
                })
            })
            .collect();
        for task in tasks {
            let (bad, verified) = task.await.unwrap();
            assert_eq!(verified, !bad);
        }
    }

    /// The caller holding the role is dropped while it lets others run: the checks queued behind it are still
    /// answered when it goes.
    #[tokio::test]
    async fn a_dropped_verifier_still_answers_the_checks_behind_it() {
        let (public, signature) = signed(40, b"first");
        let mut first: Pin<Box<dyn Future<Output = bool>>> =
            Box::pin(verify(&public, b"first".to_vec(), &signature));
        let (public_2, signature_2) = signed(41, b"second");
        let mut second = Box::pin(verify(&public_2, b"second".to_vec(), &signature_2));
        std::future::poll_fn(|cx| {
            assert!(first.as_mut().poll(cx).is_pending(), "the first caller yields before verifying");
            assert!(second.as_mut().poll(cx).is_pending(), "the second waits for the verifier");
            Poll::Ready(())
        })
        .await;
        drop(first);
        assert!(second.await);
    }

    #[tokio::test]
    async fn a_remembered_signature_is_still_bound_to_its_message() {
        let (public, signature) = signed(42, b"event");
        assert!(verify_remembered(&public, b"event", &signature).await);
        assert!(verify_remembered(&public, b"event", &signature).await);
        assert!(!verify_remembered(&public, b"other", &signature).await);
        assert!(!verify(&public, b"event".to_vec(), &signature[..10]).await);
    }
}
