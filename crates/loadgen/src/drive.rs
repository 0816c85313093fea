//! Sending the prepared requests and timing each answer.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{StatusCode, header};

use crate::requests::{Prepared, SIGN_PATH};

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
}

/// A finished run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) elapsed: Duration,
    pub(crate) samples: Vec<Sample>,
}

/// `concurrency` workers, each sending its next request as soon as the previous one is answered.
pub(crate) async fn closed_loop(
    http: &reqwest::Client,
    base: &str,
    prepared: Vec<Prepared>,
    concurrency: usize,
) -> Run {
    let prepared = Arc::new(prepared);
    let next = Arc::new(AtomicUsize::new(0));
    let url: Arc<str> = format!("{base}{SIGN_PATH}").into();
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (http, prepared, next, url) = (http.clone(), prepared.clone(), next.clone(), url.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = prepared.get(i) else { break };
                    let sent = Instant::now();
                    samples.push(send(&http, &url, request, sent).await);
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

/// Sends request `i` at `start + i / rate` whatever happened to the earlier ones; latency counts from the
/// scheduled time, so a server that falls behind is charged for the queue it causes.
pub(crate) async fn open_loop(http: &reqwest::Client, base: &str, prepared: Vec<Prepared>, rate: u32) -> Run {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let url: Arc<str> = format!("{base}{SIGN_PATH}").into();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(prepared.len());
    for (i, request) in prepared.into_iter().enumerate() {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move { send(&http, &url, &request, scheduled).await }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(sample) = task.await {
            samples.push(sample);
        }
    }
    Run { elapsed: start.elapsed(), samples }
}

async fn send(http: &reqwest::Client, url: &str, request: &Prepared, since: Instant) -> Sample {
    let answer = http
        .post(url)
        .header(header::AUTHORIZATION, &request.authorization)
        .header(header::CONTENT_TYPE, "application/json")
        .body(request.body.clone())
        .send()
        .await;
    let outcome = match answer {
        Ok(response) => {
            let status = response.status();
            // Read the whole body so the connection can be reused.
            let _body = response.bytes().await;
            match status {
                StatusCode::OK => Outcome::Signed,
                StatusCode::BAD_REQUEST => Outcome::Refused,
                StatusCode::TOO_MANY_REQUESTS => Outcome::Shed,
                _ => Outcome::Failed,
            }
        }
        Err(_) => Outcome::Failed,
    };
    let expected = match outcome {
        Outcome::Signed => !request.spam,
        Outcome::Refused => request.spam,
        Outcome::Shed | Outcome::Failed => false,
    };
    Sample { latency: since.elapsed(), outcome, expected }
}
