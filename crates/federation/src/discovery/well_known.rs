//! Step 3 of discovery: `GET https://<hostname>/.well-known/matrix/server`, with its cache.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use serde::Deserialize;
use tracing::debug;

use super::{cache_lifetime, server_name::ParsedServerName};
use crate::transport::body::read_capped;

/// Settings of the well-known lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WellKnownConfig {
    /// The HTTPS port the document is fetched from. Always 443 in production; tests point it at a local server
    /// instead of weakening the scheme or the SSRF guard.
    pub port: u16,
    /// Larger documents are refused (a delegation is a few dozen bytes).
    pub max_bytes: usize,
    /// Total time allowed for one fetch.
    pub timeout: Duration,
}

impl Default for WellKnownConfig {
    fn default() -> Self {
        Self { port: 443, max_bytes: 64 * 1024, timeout: Duration::from_secs(10) }
    }
}

/// The body of `/.well-known/matrix/server`.
#[derive(Deserialize)]
struct Document {
    #[serde(rename = "m.server")]
    server: String,
}

/// One cached answer: the delegated server name, or `None` when the lookup failed or was invalid.
#[derive(Clone, Debug)]
struct Cached {
    delegated: Option<String>,
    expires: Instant,
}

/// Fetches and caches delegations.
#[derive(Debug)]
pub(crate) struct WellKnown {
    http: reqwest::Client,
    config: WellKnownConfig,
    cache: Mutex<HashMap<String, Cached>>,
}

impl WellKnown {
    /// A lookup over `http`, a client whose DNS resolver applies the SSRF guard and which follows no redirects.
    pub(crate) fn new(http: reqwest::Client, config: WellKnownConfig) -> Self {
        Self { http, config, cache: Mutex::new(HashMap::new()) }
    }

    /// The server name `hostname` delegates to, if it has a valid well-known document.
    pub(crate) async fn delegation(&self, hostname: &str) -> Option<String> {
        if let Some(cached) = self.cached(hostname) {
            return cached;
        }
        let (delegated, lifetime) = match self.fetch(hostname).await {
            Ok((delegated, lifetime)) => (Some(delegated), lifetime),
            Err(reason) => {
                debug!(hostname, reason, "no usable well-known delegation");
                (None, cache_lifetime::ERROR_LIFETIME)
            }
        };
        let entry = Cached { delegated: delegated.clone(), expires: Instant::now() + lifetime };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(hostname.to_owned(), entry);
        }
        delegated
    }

    /// A still-fresh cached answer; `None` when there is none.
    fn cached(&self, hostname: &str) -> Option<Option<String>> {
        let cache = self.cache.lock().ok()?;
        let entry = cache.get(hostname)?;
        (entry.expires > Instant::now()).then(|| entry.delegated.clone())
    }

    /// Fetches and validates the document; the error is a reason for the log.
    async fn fetch(&self, hostname: &str) -> Result<(String, Duration), String> {
        let url = format!("https://{hostname}:{}/.well-known/matrix/server", self.config.port);
        let request = self.http.get(&url).timeout(self.config.timeout);
        let response = request.send().await.map_err(|e| crate::transport::describe_error(&e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        let lifetime = cache_lifetime::lifetime(response.headers(), SystemTime::now());
        let body = read_capped(response, self.config.max_bytes).await.map_err(|e| e.to_string())?;
        let document: Document = serde_json::from_slice(&body).map_err(|e| format!("invalid JSON: {e}"))?;
        ParsedServerName::parse(&document.server).map_err(|e| e.to_string())?;
        Ok((document.server, lifetime))
    }
}
