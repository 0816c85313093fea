//! The one result line of a run.

use std::time::Duration;

use crate::{
    Mode,
    drive::{Outcome, Run},
    rss::Memory,
};

/// `label mode=… requests=… throughput=…/s … ratio=…`: everything on one line, `key=value` pairs.
pub(crate) fn line(
    label: &str,
    mode: Mode,
    run: &Run,
    crypto_bound: f64,
    memory: Option<Memory>,
    rate: Option<u32>,
    concurrency: usize,
) -> String {
    let count = |outcome: Outcome| run.samples.iter().filter(|s| s.outcome == outcome).count();
    let unexpected = run.samples.iter().filter(|s| !s.expected && s.outcome != Outcome::Shed).count();
    let answered = run.samples.len() - count(Outcome::Shed) - count(Outcome::Failed);
    let throughput = answered as f64 / run.elapsed.as_secs_f64();
    // Latency percentiles are over admitted requests: a 429 is an answer, but not the service being measured.
    let mut admitted: Vec<Duration> =
        run.samples.iter().filter(|s| s.outcome != Outcome::Shed).map(|s| s.latency).collect();
    admitted.sort_unstable();
    let drive = rate.map_or_else(|| format!("concurrency={concurrency}"), |r| format!("rate={r}/s"));
    let mut line = format!(
        "{label}{space}mode={mode:?} {drive} requests={total} signed={signed} refused={refused} shed_429={shed} \
         errors={failed} unexpected={unexpected} elapsed={elapsed:.2}s throughput={throughput:.0}/s \
         p50={p50} p95={p95} p99={p99} max={max} crypto_bound={crypto_bound:.0}/s ratio={ratio:.2}",
        space = if label.is_empty() { "" } else { " " },
        mode = mode,
        total = run.samples.len(),
        signed = count(Outcome::Signed),
        refused = count(Outcome::Refused),
        shed = count(Outcome::Shed),
        failed = count(Outcome::Failed),
        elapsed = run.elapsed.as_secs_f64(),
        p50 = millis(percentile(&admitted, 0.50)),
        p95 = millis(percentile(&admitted, 0.95)),
        p99 = millis(percentile(&admitted, 0.99)),
        max = millis(admitted.last().copied()),
        ratio = throughput / crypto_bound.max(1.0),
    );
    line.push_str(&format!(" per_second={}", per_second(run).join(",")));
    if let Some(memory) = memory {
        line.push_str(&format!(
            " peak_rss={:.1}MB lifetime_peak_rss={:.1}MB",
            memory.peak_sampled_kib as f64 / 1024.0,
            memory.lifetime_peak_kib as f64 / 1024.0
        ));
    }
    line
}

/// Requests answered other than by a `429` in each whole second of the run (a last, partial second is left out):
/// how soon the server is back at full rate after an overload.
fn per_second(run: &Run) -> Vec<String> {
    let mut seconds = vec![0_u64; run.elapsed.as_secs() as usize];
    for sample in run.samples.iter().filter(|s| matches!(s.outcome, Outcome::Signed | Outcome::Refused)) {
        if let Some(second) = seconds.get_mut(sample.answered.as_secs() as usize) {
            *second += 1;
        }
    }
    seconds.iter().map(u64::to_string).collect()
}

/// The `q` quantile of sorted latencies (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn millis(latency: Option<Duration>) -> String {
    latency.map_or_else(|| "-".to_owned(), |d| format!("{:.2}ms", d.as_secs_f64() * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_the_second_they_came_in() {
        let sample = |outcome, answered_ms| crate::drive::Sample {
            latency: Duration::from_millis(1),
            outcome,
            expected: true,
            answered: Duration::from_millis(answered_ms),
        };
        let run = Run {
            elapsed: Duration::from_millis(2_500),
            samples: vec![
                sample(Outcome::Signed, 10),
                sample(Outcome::Refused, 999),
                sample(Outcome::Shed, 500),
                sample(Outcome::Failed, 600),
                sample(Outcome::Signed, 1_000),
                sample(Outcome::Signed, 2_400),
            ],
        };
        assert_eq!(
            per_second(&run),
            ["2", "1"],
            "429s, failures and the partial last second are not counted"
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
