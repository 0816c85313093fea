//! Where the keyring keeps fetched server keys. A trait, so the store crate can persist them across restarts and
//! instances; [`MemoryKeyCache`] serves tests and single-process setups.

use std::{collections::HashMap, sync::Mutex};

use palisade_matrix::server_keys::ServerKeys;

/// A cache backend failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key cache error: {0}")]
pub struct KeyCacheError(pub String);

/// Verified server-key documents by server name. Only verified documents are ever put here.
#[async_trait::async_trait]
pub trait KeyCache: Send + Sync + std::fmt::Debug {
    /// The stored document of `server`, expired or not.
    async fn get(&self, server: &str) -> Result<Option<ServerKeys>, KeyCacheError>;

    /// Stores `keys`, replacing what was stored for `keys.server_name`.
    async fn put(&self, keys: &ServerKeys) -> Result<(), KeyCacheError>;
}

/// A process-local [`KeyCache`].
#[derive(Debug, Default)]
pub struct MemoryKeyCache {
    entries: Mutex<HashMap<String, ServerKeys>>,
}

impl MemoryKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl KeyCache for MemoryKeyCache {
    async fn get(&self, server: &str) -> Result<Option<ServerKeys>, KeyCacheError> {
        let entries = self.entries.lock().map_err(|_| KeyCacheError("lock poisoned".to_owned()))?;
        Ok(entries.get(server).cloned())
    }

    async fn put(&self, keys: &ServerKeys) -> Result<(), KeyCacheError> {
        let mut entries = self.entries.lock().map_err(|_| KeyCacheError("lock poisoned".to_owned()))?;
        entries.insert(keys.server_name.clone(), keys.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[tokio::test]
    async fn memory_cache_replaces_by_server() {
        let cache = MemoryKeyCache::new();
        assert_eq!(cache.get("a.org").await.unwrap(), None);
        let mut keys = ServerKeys {
            server_name: "a.org".into(),
            verify_keys: BTreeMap::from([("ed25519:1".to_owned(), [1; 32])]),
            old_verify_keys: Vec::new(),
            valid_until_ts: 10,
        };
        cache.put(&keys).await.unwrap();
        keys.valid_until_ts = 20;
        cache.put(&keys).await.unwrap();
        assert_eq!(cache.get("a.org").await.unwrap().map(|k| k.valid_until_ts), Some(20));
        assert_eq!(cache.get("b.org").await.unwrap(), None);
    }
}
