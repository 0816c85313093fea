//! The retention job: verdicts (with their traces), media-scan results, stored federation transaction responses
//! and spent filter state older than `database.retention_days` are pruned in the background. Rooms, room state
//! and communities are never pruned (see `Store::prune`).

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use palisade_store::{PruneReport, Store, StoreResult};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// How often the job runs. Pruning is cheap when there is little to delete, and a day's worth of rows at most
/// waits this long past its age.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60 * 60);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What to prune and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows older than this are pruned.
    pub max_age_ms: i64,
    /// Time between runs (the first run starts right away).
    pub interval: Duration,
}

impl Retention {
    /// The job for `database.retention_days`; `None` when rows are kept forever (`0`).
    pub fn from_days(days: u32) -> Option<Self> {
        (days > 0).then(|| Self { max_age_ms: i64::from(days) * DAY_MS, interval: DEFAULT_INTERVAL })
    }
}

/// Prunes rows older than `max_age_ms` before `now_ms`.
pub async fn prune_once(store: &dyn Store, max_age_ms: i64, now_ms: i64) -> StoreResult<PruneReport> {
    store.prune(now_ms.saturating_sub(max_age_ms)).await
}

/// Starts the job on the current runtime. It runs until the returned task is aborted; a failed run is logged and
/// retried at the next interval.
pub fn spawn(store: Arc<dyn Store>, retention: Retention) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(retention.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match prune_once(store.as_ref(), retention.max_age_ms, now_ms()).await {
                Ok(report) if report == PruneReport::default() => {}
                Ok(report) => info!(
                    verdicts = report.verdicts,
                    media_scans = report.media_scans,
                    federation_txns = report.federation_txns,
                    hellbans = report.hellbans,
                    frequency_hits = report.frequency_hits,
                    "retention: pruned old rows"
                ),
                Err(error) => warn!(%error, "retention: pruning failed; retrying at the next interval"),
            }
        }
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use palisade_store::{MediaScan, StoredVerdict, VerdictClass, VerdictLookup};
    use serde_json::json;

    use super::*;

    fn verdict(event_id: &str, decided_at_ms: i64) -> StoredVerdict {
        StoredVerdict {
            room_id: "!r:example.org".to_owned(),
            event_id: event_id.to_owned(),
            reference_hash: None,
            class: VerdictClass::Neutral,
            harms: Vec::new(),
            expiry_ms: None,
            trace: json!([]).into(),
            decided_at_ms,
        }
    }

    async fn is_stored(store: &dyn Store, event_id: &str) -> bool {
        matches!(store.get_verdict("!r:example.org", event_id, None).await.unwrap(), VerdictLookup::Found(_))
    }

    #[test]
    fn zero_days_keeps_everything() {
        assert_eq!(Retention::from_days(0), None);
        assert_eq!(Retention::from_days(2).map(|r| r.max_age_ms), Some(2 * DAY_MS));
    }

    #[tokio::test]
    async fn the_job_prunes_old_verdicts_and_scans_and_keeps_recent_ones() {
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let now = now_ms();
        let (old, recent) = (now - 3 * DAY_MS, now - DAY_MS / 2);
        store.insert_verdicts_if_absent(&[verdict("$old", old), verdict("$recent", recent)]).await.unwrap();
        for (mxc, at) in [("mxc://a/old", old), ("mxc://a/recent", recent)] {
            let scan = MediaScan {
                mxc_uri: mxc.to_owned(),
                community_id: "default".to_owned(),
                class: VerdictClass::Neutral,
                harms: Vec::new(),
                scanned_at_ms: at,
            };
            store.put_media_scan(&scan).await.unwrap();
        }

        let retention = Retention { max_age_ms: 2 * DAY_MS, interval: Duration::from_millis(20) };
        let job = spawn(store.clone(), retention);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while is_stored(store.as_ref(), "$old").await {
            assert!(tokio::time::Instant::now() < deadline, "old verdict not pruned within 5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        job.abort();
        assert!(is_stored(store.as_ref(), "$recent").await);
        assert!(store.get_media_scan("mxc://a/old", "default").await.unwrap().is_none());
        assert!(store.get_media_scan("mxc://a/recent", "default").await.unwrap().is_some());
    }
}
