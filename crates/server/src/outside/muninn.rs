//! The Muninn Hall member directory (catalogue §6.3): `GET <url>` with the API key as a bearer token answers
//! `{server_name: [user IDs...]}`; its server names are trusted by the untrusted-media filter. Polled 0–9 s after
//! startup and then every 50–70 minutes; the names are kept in memory for decisions and in the store
//! (`trust_data` `muninn_hall`/`""` → `{"server_names": [...]}`, policyserv's encoding) so a restart starts with
//! them. A failed poll is logged and keeps the previous data.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use palisade_policy::trust::TrustData;
use palisade_store::Store;
use serde_json::{Value, json};

use super::http::{OutsideError, OutsideHttp, OutsideRequest};

const SERVICE: &str = "Muninn Hall";

/// The directory lists a few thousand servers at most.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The `trust_data` source and key the server names are stored under.
pub const TRUST_SOURCE: &str = "muninn_hall";

/// The instance's current trust data, shared by the poller and every decision.
#[derive(Clone, Debug, Default)]
pub struct TrustCache(Arc<RwLock<Arc<TrustData>>>);

impl TrustCache {
    /// The current data.
    pub fn get(&self) -> Arc<TrustData> {
        self.0.read().map(|data| data.clone()).unwrap_or_default()
    }

    /// Replaces the data.
    pub fn set(&self, data: TrustData) {
        if let Ok(mut current) = self.0.write() {
            *current = Arc::new(data);
        }
    }

    /// Loads what the store kept from the last poll, if anything.
    pub async fn load(&self, store: &dyn Store) -> Result<(), palisade_store::StoreError> {
        if let Some(stored) = store.get_trust_data(TRUST_SOURCE, "").await? {
            let names = stored.get("server_names").and_then(Value::as_array).cloned().unwrap_or_default();
            let servers = names.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            self.set(TrustData { muninn_servers: servers });
        }
        Ok(())
    }
}

/// The directory client.
#[derive(Clone)]
pub struct MuninnClient {
    http: OutsideHttp,
    url: String,
    api_key: String,
}

impl std::fmt::Debug for MuninnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuninnClient").field("url", &self.url).finish_non_exhaustive()
    }
}

impl MuninnClient {
    /// A client for the directory at `url`.
    pub fn new(http: OutsideHttp, url: &str, api_key: &str) -> Self {
        Self { http, url: url.to_owned(), api_key: api_key.to_owned() }
    }

    /// Fetches the directory.
    pub async fn fetch(&self) -> Result<TrustData, OutsideError> {
        let request = OutsideRequest {
            service: SERVICE,
            method: reqwest::Method::GET,
            url: self.http.checked_url(&self.url)?,
            bearer: Some(&self.api_key),
            body: None,
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        let bytes = self.http.send(request).await?;
        let directory: Value = serde_json::from_slice(&bytes)
            .map_err(|e| OutsideError::BadResponse { service: SERVICE, reason: e.to_string() })?;
        if !directory.is_object() {
            return Err(OutsideError::BadResponse {
                service: SERVICE,
                reason: "the member directory is not a JSON object".to_owned(),
            });
        }
        Ok(TrustData::from_member_directory(&directory))
    }

    /// Fetches the directory and, on success, updates `cache` and the store.
    pub async fn refresh(&self, cache: &TrustCache, store: &dyn Store) -> Result<usize, String> {
        let data = self.fetch().await.map_err(|e| e.to_string())?;
        let count = data.muninn_servers.len();
        let stored = json!({"server_names": data.muninn_servers});
        cache.set(data);
        store.put_trust_data(TRUST_SOURCE, "", &stored).await.map_err(|e| e.to_string())?;
        Ok(count)
    }
}

/// Polls the directory until the runtime stops: first after 0–9 s, then every 50–70 minutes.
pub fn spawn_poller(
    client: MuninnClient,
    cache: TrustCache,
    store: Arc<dyn Store>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(jitter(9_000))).await;
        loop {
            match client.refresh(&cache, store.as_ref()).await {
                Ok(count) => tracing::info!(servers = count, "refreshed the Muninn Hall member directory"),
                Err(error) => tracing::warn!(%error, "could not refresh the Muninn Hall member directory"),
            }
            tokio::time::sleep(Duration::from_secs(50 * 60) + Duration::from_millis(jitter(20 * 60_000)))
                .await;
        }
    })
}

/// A pseudo-random delay below `max_ms`, so instances do not poll in step.
fn jitter(max_ms: u64) -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
    u64::from(nanos) % max_ms.max(1)
}
