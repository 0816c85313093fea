//! Per-destination exponential backoff, so a dead server does not cost a timeout on every request.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How backoff grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The pause after the first failure.
    pub initial: Duration,
    /// The longest pause; doubling stops here.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { initial: Duration::from_secs(10), max: Duration::from_secs(60 * 60) }
    }
}

impl BackoffPolicy {
    /// The pause after `failures` consecutive failures: `initial * 2^(failures-1)`, capped at `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// Consecutive failures of one destination.
#[derive(Clone, Copy, Debug)]
struct State {
    failures: u32,
    until: Instant,
}

/// The backoff table of all destinations.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    policy: BackoffPolicy,
    states: Mutex<HashMap<String, State>>,
}

impl Backoff {
    pub(crate) fn new(policy: BackoffPolicy) -> Self {
        Self { policy, states: Mutex::new(HashMap::new()) }
    }

    /// When `destination` may be tried again, if it is backing off now.
    pub(crate) fn backing_off_until(&self, destination: &str, now: Instant) -> Option<Instant> {
        let states = self.states.lock().ok()?;
        states.get(destination).map(|state| state.until).filter(|until| *until > now)
    }

    /// Records a failed attempt at `now`.
    pub(crate) fn record_failure(&self, destination: &str, now: Instant) {
        if let Ok(mut states) = self.states.lock() {
            let state = states.entry(destination.to_owned()).or_insert(State { failures: 0, until: now });
            state.failures = state.failures.saturating_add(1);
            state.until = later(now, self.policy.delay(state.failures));
        }
    }

    /// Records a successful exchange, which ends any backoff.
    pub(crate) fn record_success(&self, destination: &str) {
        if let Ok(mut states) = self.states.lock() {
            states.remove(destination);
        }
    }
}

/// `now + delay`, saturating at a year ahead instead of overflowing on absurd configured maxima.
fn later(now: Instant, delay: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
    now.checked_add(delay.min(YEAR)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = BackoffPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(60) };
        let delays: Vec<u64> = (1..=6).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 60, 60, 60]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn failures_back_off_and_success_resets() {
        let backoff =
            Backoff::new(BackoffPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(60) });
        let now = Instant::now();
        assert_eq!(backoff.backing_off_until("a.org", now), None);
        backoff.record_failure("a.org", now);
        assert_eq!(backoff.backing_off_until("a.org", now), Some(now + Duration::from_secs(10)));
        assert_eq!(backoff.backing_off_until("b.org", now), None);
        backoff.record_failure("a.org", now);
        assert_eq!(backoff.backing_off_until("a.org", now), Some(now + Duration::from_secs(20)));
        // Once the pause is over, requests may go again.
        assert_eq!(backoff.backing_off_until("a.org", now + Duration::from_secs(21)), None);
        backoff.record_success("a.org");
        assert_eq!(backoff.backing_off_until("a.org", now), None);
    }

    #[test]
    fn huge_configured_maxima_do_not_overflow() {
        let backoff = Backoff::new(BackoffPolicy { initial: Duration::MAX, max: Duration::MAX });
        let now = Instant::now();
        backoff.record_failure("a.org", now);
        backoff.record_failure("a.org", now);
        assert!(backoff.backing_off_until("a.org", now).is_some());
    }
}
