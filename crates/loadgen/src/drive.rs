//! Sending the prepared requests and timing each answer.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, mpsc};

use crate::{
    http1::{Answer, Connection},
    requests::Prepared,
};

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 200: signed (or, for spam, wrongly signed).
    Signed,
    /// 400: refused.
    Refused,
    /// 429: shed by the rate limit.
    Shed,
    /// Anything else, including transport errors.
    Failed,
}

/// One answered request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) latency: Duration,
    pub(crate) outcome: Outcome,
    /// Whether the answer was the one the event was built for (spam refused, the rest signed).
    pub(crate) expected: bool,
    /// When the answer came, from the start of the run.
    pub(crate) answered: Duration,
}

/// A finished run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) elapsed: Duration,
    pub(crate) samples: Vec<Sample>,
}

/// `concurrency` workers, each on its own connection, sending its next request as soon as the previous one is
/// answered, or after a `429` once its `retry_after_ms` has passed, as a homeserver told when to come back
/// would: a worker asking again at once only takes the cores from the requests admitted, and keeps a server
/// whose admission limit follows latency from raising it again after an overload.
pub(crate) async fn closed_loop(authority: &str, prepared: Vec<Prepared>, concurrency: usize) -> Run {
    let prepared = Arc::new(prepared);
    let next = Arc::new(AtomicUsize::new(0));
    let authority: Arc<str> = authority.into();
    let connections = open_connections(&authority, concurrency.max(1)).await;
    let start = Instant::now();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (prepared, next, authority) = (prepared.clone(), next.clone(), authority.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = prepared.get(i) else { break };
                    let sent = Instant::now();
                    let (sample, retry_after) = send(&mut connection, &authority, request, sent, start).await;
                    samples.push(sample);
                    if let Some(wait) = retry_after {
                        tokio::time::sleep(wait).await;
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(prepared.len());
    for worker in workers {
        samples.extend(worker.await.unwrap_or_default());
    }
    Run { elapsed: start.elapsed(), samples }
}

/// Schedules request `i` at `start + i / rate` whatever happened to the earlier ones, and sends each on the
/// first of `connections` keep-alive connections that is free (as a homeserver's connection pool would).
/// Latency counts from the scheduled time, so a server that falls behind is charged for the queue it causes.
pub(crate) async fn open_loop(
    authority: &str,
    prepared: Vec<Prepared>,
    rate: u32,
    connections: usize,
) -> Run {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let prepared = Arc::new(prepared);
    let (schedule, scheduled) = mpsc::unbounded_channel::<(usize, Instant)>();
    let scheduled = Arc::new(Mutex::new(scheduled));
    let authority: Arc<str> = authority.into();
    let connections = open_connections(&authority, connections.max(1)).await;
    let start = Instant::now();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (prepared, scheduled, authority) = (prepared.clone(), scheduled.clone(), authority.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let next = scheduled.lock().await.recv().await;
                    let Some((i, at)) = next else { break };
                    // Open loop: the schedule says when to send, whatever a `429` asked.
                    samples.push(send(&mut connection, &authority, &prepared[i], at, start).await.0);
                }
                samples
            })
        })
        .collect();
    for i in 0..prepared.len() {
        let at = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let _ = schedule.send((i, at));
    }
    drop(schedule);
    let mut samples = Vec::with_capacity(prepared.len());
    for worker in workers {
        samples.extend(worker.await.unwrap_or_default());
    }
    Run { elapsed: start.elapsed(), samples }
}

/// `count` connections, opened before the clock starts, as a homeserver that has been sending keeps its pool open:
/// opened by the first requests instead, a burst of new connections had been most of the open loop's `429`s at
/// half rate. One that fails to open is `None`, and its first request tries again.
async fn open_connections(authority: &str, count: usize) -> Vec<Option<Connection>> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(Connection::open(authority).await.ok());
    }
    connections
}

/// Sends one request on `connection`, opening it first if there is none; a connection that failed is dropped
/// and the next request opens a new one. Returns the sample and, for a `429`, how long it asked to wait.
async fn send(
    connection: &mut Option<Connection>,
    authority: &str,
    request: &Prepared,
    since: Instant,
    run_start: Instant,
) -> (Sample, Option<Duration>) {
    let answer = exchange(connection, authority, &request.bytes).await;
    if answer.is_err() {
        *connection = None;
    }
    let retry_after = answer.as_ref().ok().and_then(|answer| answer.retry_after);
    let outcome = match answer.map(|answer| answer.status) {
        Ok(200) => Outcome::Signed,
        Ok(400) => Outcome::Refused,
        Ok(429) => Outcome::Shed,
        Ok(_) | Err(_) => Outcome::Failed,
    };
    let expected = match outcome {
        Outcome::Signed => !request.spam,
        Outcome::Refused => request.spam,
        Outcome::Shed | Outcome::Failed => false,
    };
    (Sample { latency: since.elapsed(), outcome, expected, answered: run_start.elapsed() }, retry_after)
}

async fn exchange(
    connection: &mut Option<Connection>,
    authority: &str,
    request: &[u8],
) -> std::io::Result<Answer> {
    let open = match connection {
        Some(open) => open,
        None => connection.insert(Connection::open(authority).await?),
    };
    open.exchange(request).await
}
