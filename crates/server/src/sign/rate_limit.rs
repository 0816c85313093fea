//! Per-origin rate limiting for `/sign` (MSC4284: `429 M_LIMIT_EXCEEDED`; limits "relatively high", since clients
//! retry and busy servers ask a lot).

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// A token bucket per origin server.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<BTreeMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets idle this long are full again, so they are dropped to keep the table small.
const IDLE_FORGET: Duration = Duration::from_secs(600);

impl RateLimiter {
    /// `per_second` sustained requests per origin, bursts up to `burst`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request's token for `origin`; `Err(retry_after)` when there is none.
    pub fn check(&self, origin: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() > 10_000 {
            buckets.retain(|_, bucket| now.duration_since(bucket.updated) < IDLE_FORGET);
        }
        let bucket = buckets.entry(origin.to_owned()).or_insert(Bucket { tokens: self.burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
        }
    }
}

impl Default for RateLimiter {
    /// 500 requests per second per origin with bursts of 2000: far above what one homeserver sends in normal use.
    fn default() -> Self {
        Self::new(500, 2000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_limits_then_refills_per_origin() {
        let limiter = RateLimiter::new(10, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a.example", start), Ok(()));
        }
        let retry = limiter.check("a.example", start).unwrap_err();
        assert!(retry > Duration::ZERO && retry <= Duration::from_millis(100), "{retry:?}");
        assert_eq!(limiter.check("b.example", start), Ok(()), "origins are limited separately");
        assert_eq!(limiter.check("a.example", start + Duration::from_millis(100)), Ok(()));
    }
}
