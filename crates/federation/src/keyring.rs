//! The keyring: other servers' signing keys, from the cache, fetched directly from the server, or through notaries.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use palisade_matrix::{ServerName, server_keys::ServerKeys};
use tracing::{debug, warn};

use crate::client::{FederationClient, RequestOptions};

mod key_cache;
mod notary;
mod self_signed;
mod signed_json;
mod store_cache;

pub use key_cache::{KeyCache, KeyCacheError, MemoryKeyCache};
pub use notary::{NotaryError, NotaryServer};
pub use store_cache::StoreKeyCache;

use crate::in_flight::InFlight;

/// Where keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringConfig {
    /// Ask the server itself (`GET /_matrix/key/v2/server`) first.
    pub direct: bool,
    /// Then ask these notaries, in order.
    pub notaries: Vec<NotaryServer>,
}

impl Default for KeyringConfig {
    fn default() -> Self {
        Self { direct: true, notaries: Vec::new() }
    }
}

/// Why keys could not be obtained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFetchError {
    /// Neither direct fetching nor any notary is configured.
    #[error("no key sources configured")]
    NoSources,
    /// Every source failed; one reason per source, in order.
    #[error("could not fetch keys of {server}: {}", reasons.join("; "))]
    AllFailed {
        /// The server whose keys were wanted.
        server: String,
        /// Why each source failed.
        reasons: Vec<String>,
    },
    /// The key is one whose private half is public (`palisade_matrix::keys::KNOWN_UNSAFE_PUBLIC_KEYS`): nothing
    /// signed with it is trusted.
    #[error("key {key_id} of {server} is a known-unsafe key")]
    UnsafeKey {
        /// The server.
        server: String,
        /// The key ID.
        key_id: String,
    },
    /// The server's keys were fetched but do not include this key ID.
    #[error("{server} has no key {key_id}")]
    UnknownKey {
        /// The server.
        server: String,
        /// The key ID asked for.
        key_id: String,
    },
}

/// Fetches, verifies and caches server keys.
#[derive(Debug)]
pub struct Keyring {
    client: Arc<FederationClient>,
    cache: Arc<dyn KeyCache>,
    config: KeyringConfig,
    in_flight: InFlight<Result<ServerKeys, KeyFetchError>>,
}

/// Milliseconds since the Unix epoch, the unit of `valid_until_ts`.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Keyring {
    /// A keyring fetching through `client` and keeping keys in `cache`.
    pub fn new(client: Arc<FederationClient>, cache: Arc<dyn KeyCache>, config: KeyringConfig) -> Self {
        Self { client, cache, config, in_flight: InFlight::default() }
    }

    /// The public key `key_id` of `server`: from the cache if the cached document is still valid and has it,
    /// otherwise after one fetch. Keys the server has retired (`old_verify_keys`) are returned too, since old
    /// events stay signed with them.
    /// Known-unsafe keys are never returned ([`KeyFetchError::UnsafeKey`]).
    pub async fn verify_key(&self, server: &ServerName, key_id: &str) -> Result<[u8; 32], KeyFetchError> {
        let key = self.any_verify_key(server, key_id).await?;
        if palisade_matrix::keys::is_known_unsafe(&key) {
            warn!(server = server.as_str(), key_id, "refusing a known-unsafe signing key");
            return Err(KeyFetchError::UnsafeKey { server: server.to_string(), key_id: key_id.to_owned() });
        }
        Ok(key)
    }

    /// [`Self::verify_key`] before the unsafe-key check.
    async fn any_verify_key(&self, server: &ServerName, key_id: &str) -> Result<[u8; 32], KeyFetchError> {
        if let Some(cached) = self.cached_valid(server).await
            && let Some(key) = find_key(&cached, key_id)
        {
            return Ok(key);
        }
        let keys = self.fetch_server_keys(server).await?;
        find_key(&keys, key_id).ok_or_else(|| KeyFetchError::UnknownKey {
            server: server.to_string(),
            key_id: key_id.to_owned(),
        })
    }

    /// The keys of `server`: the cached document if still valid, otherwise fetched.
    pub async fn server_keys(&self, server: &ServerName) -> Result<ServerKeys, KeyFetchError> {
        match self.cached_valid(server).await {
            Some(keys) => Ok(keys),
            None => self.fetch_server_keys(server).await,
        }
    }

    /// Fetches the keys of `server` now (direct, then notaries), stores them in the cache and returns them.
    /// Concurrent calls for one server share a single fetch.
    pub async fn fetch_server_keys(&self, server: &ServerName) -> Result<ServerKeys, KeyFetchError> {
        self.in_flight.run(server.as_str(), || self.fetch_from_sources(server)).await
    }

    /// The cached document of `server` if it has not expired. A failing cache is logged and treated as empty.
    async fn cached_valid(&self, server: &ServerName) -> Option<ServerKeys> {
        match self.cache.get(server.as_str()).await {
            Ok(Some(keys)) if keys.valid_until_ts > now_ms() => Some(keys),
            Ok(_) => None,
            Err(e) => {
                warn!(server = server.as_str(), error = %e, "key cache read failed");
                None
            }
        }
    }

    /// Tries each configured source in order and caches the first verified answer.
    async fn fetch_from_sources(&self, server: &ServerName) -> Result<ServerKeys, KeyFetchError> {
        if !self.config.direct && self.config.notaries.is_empty() {
            return Err(KeyFetchError::NoSources);
        }
        let mut reasons = Vec::new();
        if self.config.direct {
            match self.fetch_direct(server).await {
                Ok(keys) => return Ok(self.store(keys).await),
                Err(reason) => reasons.push(format!("direct: {reason}")),
            }
        }
        for notary in &self.config.notaries {
            match self.fetch_via_notary(server, notary).await {
                Ok(keys) => return Ok(self.store(keys).await),
                Err(reason) => reasons.push(format!("notary {}: {reason}", notary.server_name)),
            }
        }
        debug!(server = server.as_str(), ?reasons, "key fetch failed");
        Err(KeyFetchError::AllFailed { server: server.to_string(), reasons })
    }

    /// Writes fetched keys to the cache; a failing cache only costs a later refetch.
    async fn store(&self, keys: ServerKeys) -> ServerKeys {
        if let Err(e) = self.cache.put(&keys).await {
            warn!(server = keys.server_name, error = %e, "key cache write failed");
        }
        keys
    }

    /// `GET /_matrix/key/v2/server` on the server itself; the document must be self-signed.
    async fn fetch_direct(&self, server: &ServerName) -> Result<ServerKeys, String> {
        let outcome = self
            .client
            .request_bytes(
                http::Method::GET,
                server,
                "/_matrix/key/v2/server",
                None,
                RequestOptions::default(),
            )
            .await;
        let body = outcome.into_result()?;
        self_signed::verify_self_signed(&body, server.as_str())
    }

    /// `POST /_matrix/key/v2/query` on `notary`, checked with the notary's configured key and the server's own.
    async fn fetch_via_notary(
        &self,
        server: &ServerName,
        notary: &NotaryServer,
    ) -> Result<ServerKeys, String> {
        let notary_name = <&ServerName>::try_from(notary.server_name.as_str())
            .map_err(|e| format!("invalid notary name: {e}"))?;
        let body = serde_json::to_vec(&notary::query_body(server.as_str())).map_err(|e| e.to_string())?;
        let outcome = self
            .client
            .request_bytes(
                http::Method::POST,
                notary_name,
                "/_matrix/key/v2/query",
                Some(body),
                RequestOptions::default(),
            )
            .await;
        let response = outcome.into_result()?;
        notary.verify_response(&response, server.as_str()).map_err(|e| e.to_string())
    }
}

/// A current or retired key of the document.
fn find_key(keys: &ServerKeys, key_id: &str) -> Option<[u8; 32]> {
    keys.verify_keys
        .get(key_id)
        .copied()
        .or_else(|| keys.old_verify_keys.iter().find(|old| old.key_id == key_id).map(|old| old.public_key))
}

#[cfg(test)]
mod tests;
