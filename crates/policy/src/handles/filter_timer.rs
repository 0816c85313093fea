//! How long each filter took, for the server's latency metrics (the policy crate itself records nothing).

use std::time::Duration;

use crate::filter_id::FilterId;

/// Told, after each filter ran, how long its check took.
pub trait FilterTimer: std::fmt::Debug + Send + Sync {
    /// `filter` finished its check in `took`.
    fn filter_ran(&self, filter: FilterId, took: Duration);
}
