//! Metrics from inside `/sign`: where its time goes (each filter, the verdict store), how full the group-commit
//! queue is and how well signature checks batch. Each is recorded where it happens, without plumbing: they are
//! process-wide and join every [`Metrics`](super::Metrics) registry. Labels come from bounded sets only (filter
//! names, two store operations).

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

use palisade_policy::{FilterId, handles::FilterTimer};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, Registry};

use super::LATENCY_BUCKETS;

/// Filters take microseconds; the HTTP buckets would put them all in the first one.
const FILTER_BUCKETS: &[f64] =
    &[0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.1, 1.0];

/// The `/sign` pipeline's metrics.
#[derive(Debug)]
pub(crate) struct SignInternals {
    /// `palisade_sign_decision_seconds`: from an authenticated request to its decision.
    pub(crate) decision: Histogram,
    /// `palisade_filter_seconds{filter}`: one filter's check.
    pub(crate) filter: HistogramVec,
    /// Its series, one per filter in the order of [`FilterId::ALL`] (no label lookup per check).
    filter_series: Vec<(FilterId, Histogram)>,
    /// `palisade_verdict_store_seconds{operation}`: a verdict lookup, or waiting for a verdict's group commit.
    pub(crate) store: HistogramVec,
    /// Its two series.
    lookup: Histogram,
    insert: Histogram,
    /// `palisade_verdict_queue`: verdicts waiting for their group commit.
    pub(crate) verdict_queue: IntGauge,
    /// `palisade_signature_batch_size`: signatures checked in one equation.
    pub(crate) signature_batch: Histogram,
    /// `palisade_sign_admission_limit`: `/sign` requests admitted at once before new ones are shed.
    pub(crate) admission_limit: IntGauge,
}

static SIGN_INTERNALS: LazyLock<Option<SignInternals>> = LazyLock::new(|| SignInternals::new().ok());

/// The process's `/sign` metrics (`None` only if they could not be created, which their fixed names rule out).
pub(crate) fn sign_internals() -> Option<&'static SignInternals> {
    SIGN_INTERNALS.as_ref()
}

impl SignInternals {
    fn new() -> Result<Self, prometheus::Error> {
        let filter = HistogramVec::new(
            HistogramOpts::new("palisade_filter_seconds", "Time one filter took to check an event")
                .buckets(FILTER_BUCKETS.to_vec()),
            &["filter"],
        )?;
        let store = HistogramVec::new(
            HistogramOpts::new(
                "palisade_verdict_store_seconds",
                "Time of a verdict lookup (lookup) or until a new verdict's group commit (insert)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )?;
        Ok(Self {
            filter_series: FilterId::ALL
                .iter()
                .map(|&id| Ok((id, filter.get_metric_with_label_values(&[id.as_str()])?)))
                .collect::<Result<_, prometheus::Error>>()?,
            lookup: store.get_metric_with_label_values(&["lookup"])?,
            insert: store.get_metric_with_label_values(&["insert"])?,
            filter,
            store,
            decision: Histogram::with_opts(
                HistogramOpts::new(
                    "palisade_sign_decision_seconds",
                    "Time from an authenticated /sign request to its decision",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            verdict_queue: IntGauge::new(
                "palisade_verdict_queue",
                "Verdicts waiting for their group commit",
            )?,
            signature_batch: Histogram::with_opts(
                HistogramOpts::new(
                    "palisade_signature_batch_size",
                    "Signatures checked together in one equation",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
            )?,
            admission_limit: IntGauge::new(
                "palisade_sign_admission_limit",
                "/sign requests admitted at once before new ones are shed (follows their latency)",
            )?,
        })
    }

    /// Adds every one of these metrics to `registry`.
    pub(super) fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.decision.clone()))?;
        registry.register(Box::new(self.filter.clone()))?;
        registry.register(Box::new(self.store.clone()))?;
        registry.register(Box::new(self.verdict_queue.clone()))?;
        registry.register(Box::new(self.signature_batch.clone()))?;
        registry.register(Box::new(self.admission_limit.clone()))?;
        Ok(())
    }
}

/// A verdict store operation that is timed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StoreOperation {
    /// A verdict lookup (on PostgreSQL with the wait for its evaluation lock).
    Lookup,
    /// Waiting for a new verdict's group commit.
    Insert,
}

/// Records how long a verdict store `operation` took since `started`.
pub(crate) fn store_took(operation: StoreOperation, started: Instant) {
    if let Some(internals) = sign_internals() {
        let series = match operation {
            StoreOperation::Lookup => &internals.lookup,
            StoreOperation::Insert => &internals.insert,
        };
        series.observe(started.elapsed().as_secs_f64());
    }
}

impl FilterTimer for SignInternals {
    fn filter_ran(&self, filter: FilterId, took: Duration) {
        if let Some((_, series)) = self.filter_series.iter().find(|(id, _)| *id == filter) {
            series.observe(took.as_secs_f64());
        }
    }
}
