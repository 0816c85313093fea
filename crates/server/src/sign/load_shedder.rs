//! Load shedding for `/sign`: past a number of requests in progress, new ones are turned away at once with
//! `429` rather than queued. Homeservers give up on `/sign` after 30 s and fail closed, so a quick "come back
//! shortly" keeps latency bounded for the requests we do take, and the server recovers as soon as load drops.
//!
//! The number follows the time admitted requests take. When the server is full, a request's time in progress is
//! the limit divided by the throughput, and throughput under overload is lower than in a closed loop (answering
//! the `429`s takes a share of the cores) and differs between machines by a factor of three: a fixed number of
//! 96 on two cores meant 8 ms in progress on one machine and 23 ms on another, where the admitted requests' p99
//! under 3x overload was 60–72 ms. So every twentieth of a second the limit is scaled towards the one that meets
//! [`TARGET`], between a floor and a ceiling per core; it is only cut while requests are being turned away, as
//! only then is there a choice between admitting more and answering sooner.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// What a shed request is told to wait before retrying.
pub const SHED_RETRY_AFTER: Duration = Duration::from_millis(100);

/// How long after the last shed request `/ready` still reports the server as overloaded.
const RECENTLY: Duration = Duration::from_secs(1);

/// The mean time in progress the limit aims at while shedding. The admitted requests also wait to be read
/// behind the ones being turned away: under 3x overload on the slower machine, 64 in progress (13 ms each) gave
/// an admitted p99 of 33 ms, 80 (16 ms) 41 ms and 96 (23 ms) 60–72 ms.
const TARGET: Duration = Duration::from_millis(12);

/// How often the limit is adjusted: long enough for a hundred answers or more at the rates that fill the server,
/// short enough that the first fifth of a second of an overload is not most of its slow answers.
const WINDOW: Duration = Duration::from_millis(50);

/// Most requests in progress per core. A request waiting for its verdict's group commit holds its place without
/// using a core; at 32 per core a third of the requests in progress were such waiters and the cores were 18% idle.
/// 48 gave 8–13% more closed-loop throughput.
const CEILING_PER_CORE: usize = 48;

/// Fewest requests in progress per core the limit is cut to: enough for signature checks to batch and commits
/// to group.
const FLOOR_PER_CORE: usize = 16;

/// Counts `/sign` requests in progress and refuses new ones past a limit that follows their latency.
#[derive(Debug)]
pub struct LoadShedder {
    floor: usize,
    ceiling: usize,
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    /// Whether a request was turned away since the window began.
    shed_in_window: AtomicBool,
    window: Mutex<Window>,
    started: Instant,
    /// Milliseconds after `started` of the last shed request, plus one (0: never).
    last_shed_ms: AtomicU64,
}

/// The answers of the current window.
#[derive(Debug)]
struct Window {
    began: Instant,
    total: Duration,
    answered: u32,
}

impl Window {
    fn new(began: Instant) -> Self {
        Self { began, total: Duration::ZERO, answered: 0 }
    }
}

/// A request admitted by [`LoadShedder::enter`]; it leaves when dropped, and its time in progress counts.
#[derive(Debug)]
pub struct Admitted {
    shedder: Arc<LoadShedder>,
    since: Instant,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.shedder.in_flight.fetch_sub(1, Ordering::AcqRel);
        let now = Instant::now();
        self.shedder.answered(now.saturating_duration_since(self.since), now);
    }
}

impl LoadShedder {
    /// At most `limit` requests in progress at once, whatever their latency.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self::between(limit, limit))
    }

    /// A limit that starts at `ceiling` and follows latency down to `floor`.
    fn between(floor: usize, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        let started = Instant::now();
        Self {
            floor: floor.clamp(1, ceiling),
            ceiling,
            limit: AtomicUsize::new(ceiling),
            in_flight: AtomicUsize::new(0),
            shed_in_window: AtomicBool::new(false),
            window: Mutex::new(Window::new(started)),
            started,
            last_shed_ms: AtomicU64::new(0),
        }
    }

    /// Admits one request, or `None` when the limit is in progress already.
    pub fn enter(self: &Arc<Self>) -> Option<Admitted> {
        let limit = self.limit.load(Ordering::Relaxed);
        let previous = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if previous < limit {
            return Some(Admitted { shedder: self.clone(), since: Instant::now() });
        }
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.shed_in_window.store(true, Ordering::Relaxed);
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_shed_ms.store(now_ms.saturating_add(1), Ordering::Relaxed);
        None
    }

    /// Requests in progress now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Whether a request was turned away within the last second.
    pub fn shedding(&self) -> bool {
        match self.last_shed_ms.load(Ordering::Relaxed) {
            0 => false,
            shed => {
                let shed_at = Duration::from_millis(shed - 1);
                self.started.elapsed().saturating_sub(shed_at) < RECENTLY
            }
        }
    }

    /// Counts a request answered at `now` after `took` in progress, and adjusts the limit when the window ends.
    fn answered(&self, took: Duration, now: Instant) {
        // Poisoned only by a panic inside this function's few lines; its window is as good as any.
        let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        window.total += took;
        window.answered += 1;
        if now.saturating_duration_since(window.began) < WINDOW {
            return;
        }
        let mean = window.total / window.answered;
        *window = Window::new(now);
        drop(window);
        let shed = self.shed_in_window.swap(false, Ordering::Relaxed);
        let limit = self.limit.load(Ordering::Relaxed);
        let next = next_limit(limit, mean, shed).clamp(self.floor, self.ceiling);
        if next != limit {
            self.limit.store(next, Ordering::Relaxed);
            self.report_limit(next);
        }
    }

    fn report_limit(&self, limit: usize) {
        if let Some(internals) = crate::metrics::sign_internals() {
            internals.admission_limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
        }
    }
}

impl Default for LoadShedder {
    /// Between [`FLOOR_PER_CORE`] and [`CEILING_PER_CORE`] requests in progress per core (32 and 96 on two).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).max(2);
        let shedder = Self::between(FLOOR_PER_CORE * cores, CEILING_PER_CORE * cores);
        shedder.report_limit(shedder.ceiling);
        shedder
    }
}

/// The next window's limit, from the mean time in progress of this window's answers and whether any request was
/// turned away. The limit is scaled by `TARGET / mean`, which at the same throughput is the limit that meets the
/// target, but cut by at most a half and raised by at most a quarter at once (the window's mean may be a
/// moment's). Under the target it grows by at least one (back to the ceiling once the load has gone). Over it,
/// it is cut only while requests are being turned away: otherwise the limit is not what they wait for (a closed
/// loop of homeservers below it, a slow key server or database), and a cut would only turn some away.
fn next_limit(limit: usize, mean: Duration, shed: bool) -> usize {
    let scale = TARGET.as_secs_f64() / mean.as_secs_f64().max(f64::MIN_POSITIVE);
    if scale >= 1.0 {
        return ((limit as f64 * scale.min(1.25)).round() as usize).max(limit + 1);
    }
    if !shed {
        return limit;
    }
    ((limit as f64 * scale.max(0.5)).round() as usize).min(limit.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_then_sheds_until_someone_leaves() {
        let shedder = LoadShedder::new(2);
        let first = shedder.enter().unwrap();
        let _second = shedder.enter().unwrap();
        assert!(!shedder.shedding());
        assert!(shedder.enter().is_none());
        assert!(shedder.shedding());
        assert_eq!(shedder.in_flight(), 2);
        drop(first);
        assert_eq!(shedder.in_flight(), 1);
        assert!(shedder.enter().is_some());
    }

    #[test]
    fn the_limit_is_scaled_towards_the_target_and_cut_only_while_shedding() {
        let ms = Duration::from_millis;
        assert_eq!(next_limit(96, ms(16), true), 72, "16 ms against 12: three quarters");
        assert_eq!(next_limit(96, ms(200), true), 48, "at most a half at once");
        assert_eq!(next_limit(96, ms(13), true), 89);
        assert_eq!(next_limit(96, ms(200), false), 96, "slow but nobody turned away: not the limit's doing");
        assert_eq!(next_limit(60, ms(10), true), 72, "fast: grows in proportion");
        assert_eq!(next_limit(60, ms(1), false), 75, "at most a quarter at once");
        assert_eq!(next_limit(8, ms(12), false), 9, "at least one more");
        assert_eq!(next_limit(8, Duration::ZERO, false), 10);
    }

    #[test]
    fn the_limit_moves_once_per_window_between_floor_and_ceiling() {
        let shedder = Arc::new(LoadShedder::between(10, 40));
        let start = shedder.started;
        let slow = Duration::from_millis(100);
        let _full: Vec<Admitted> = (0..40).map(|_| shedder.enter().unwrap()).collect();
        assert!(shedder.enter().is_none());
        shedder.answered(slow, start + WINDOW / 2);
        assert_eq!(shedder.limit.load(Ordering::Relaxed), 40, "the window has not ended");
        shedder.answered(slow, start + WINDOW);
        assert_eq!(shedder.limit.load(Ordering::Relaxed), 20, "cut by a half");
        for window in 2..10 {
            shedder.shed_in_window.store(true, Ordering::Relaxed);
            shedder.answered(slow, start + WINDOW * window);
        }
        assert_eq!(shedder.limit.load(Ordering::Relaxed), 10, "not below the floor");
        for window in 10..40 {
            shedder.answered(Duration::from_millis(1), start + WINDOW * window);
        }
        assert_eq!(
            shedder.limit.load(Ordering::Relaxed),
            40,
            "back to the ceiling once answers are fast, and not above it"
        );
    }

    #[test]
    fn a_fixed_limit_does_not_move() {
        let shedder = LoadShedder::new(3);
        let start = shedder.started;
        let _full: Vec<Admitted> = (0..3).map(|_| shedder.enter().unwrap()).collect();
        shedder.answered(Duration::from_secs(1), start + WINDOW);
        assert_eq!(shedder.limit.load(Ordering::Relaxed), 3);
    }
}
