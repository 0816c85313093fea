//! The outbound EDU queue: records handed to the federation sender.

use serde_json::Value;

/// One queued EDU.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEdu {
    /// Queue position (monotonic per database).
    pub id: i64,
    /// The EDU JSON (`edu_type`, `content`, ...).
    pub edu: Value,
}

/// A batch of EDUs leased to one sender for one destination.
///
/// The transaction ID is pinned to these EDUs until they are acknowledged, so a retry after a
/// failure resends the *same* transaction and the receiver can de-duplicate it.
#[derive(Debug, Clone, PartialEq)]
pub struct EduBatch {
    /// Destination server name.
    pub destination: String,
    /// Federation transaction ID to use for `PUT /send/{txn_id}`.
    pub txn_id: String,
    /// The EDUs, oldest first.
    pub edus: Vec<QueuedEdu>,
}

/// When a destination will next be tried after a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EduRetry {
    /// Consecutive failures so far.
    pub failures: u32,
    /// Earliest time (ms) the destination is offered again.
    pub next_attempt_ms: i64,
}

/// Delay before retrying a destination after `failures` consecutive failures: 5 s doubling per
/// failure, capped at one hour, so a dead server is not hammered forever (policyserv retried every
/// ~15 s without end).
pub fn edu_retry_delay_ms(failures: u32) -> i64 {
    const BASE_MS: i64 = 5_000;
    const CAP_MS: i64 = 3_600_000;
    let doublings = failures.saturating_sub(1).min(20);
    BASE_MS.saturating_mul(1_i64 << doublings).min(CAP_MS)
}

#[cfg(test)]
mod tests {
    use super::edu_retry_delay_ms;

    #[test]
    fn retry_delay_doubles_then_caps() {
        assert_eq!(edu_retry_delay_ms(1), 5_000);
        assert_eq!(edu_retry_delay_ms(2), 10_000);
        assert_eq!(edu_retry_delay_ms(3), 20_000);
        assert_eq!(edu_retry_delay_ms(30), 3_600_000);
        assert_eq!(edu_retry_delay_ms(u32::MAX), 3_600_000);
    }
}
