//! A [`KeyCache`] kept in the store, so other servers' keys survive restarts and are shared between instances,
//! with the documents read so far also held in memory: every `/sign` checks two signatures, and a store read per
//! check would cost more than the checks themselves.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
};

use async_trait::async_trait;
use palisade_matrix::{
    keys::lenient_base64,
    server_keys::{OldVerifyKey, ServerKeys},
};
use palisade_store::{ServerKey, Store};

use super::key_cache::{KeyCache, KeyCacheError};

/// Servers whose documents are held in memory at most; past this the memory copy starts again from empty.
const MEMORY_SERVERS: usize = 50_000;

/// Server keys in the `server_keys` table: one row per key, current keys without `expired_ts`.
///
/// The memory copy never hides a newer document: the keyring asks again (and `put`s the answer) whenever a cached
/// document has expired or lacks the key a request names.
#[derive(Clone)]
pub struct StoreKeyCache {
    store: Arc<dyn Store>,
    memory: Arc<RwLock<HashMap<String, ServerKeys>>>,
}

impl std::fmt::Debug for StoreKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreKeyCache").finish_non_exhaustive()
    }
}

impl StoreKeyCache {
    /// A cache over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, memory: Arc::default() }
    }

    fn remember(&self, keys: &ServerKeys) {
        if let Ok(mut memory) = self.memory.write() {
            if memory.len() >= MEMORY_SERVERS {
                memory.clear();
            }
            memory.insert(keys.server_name.clone(), keys.clone());
        }
    }
}

#[async_trait]
impl KeyCache for StoreKeyCache {
    async fn get(&self, server: &str) -> Result<Option<ServerKeys>, KeyCacheError> {
        if let Some(keys) = self.memory.read().ok().and_then(|memory| memory.get(server).cloned()) {
            return Ok(Some(keys));
        }
        let rows = self.store.get_server_keys(server).await.map_err(cache_error)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut keys = ServerKeys {
            server_name: server.to_owned(),
            verify_keys: BTreeMap::new(),
            old_verify_keys: Vec::new(),
            valid_until_ts: 0,
        };
        for row in rows {
            // A row that does not decode is ignored: it can only have been written by a broken version.
            let Some(public_key) = decode(&row.public_key) else { continue };
            match row.expired_ts {
                None => {
                    keys.valid_until_ts = keys.valid_until_ts.max(row.valid_until_ts);
                    keys.verify_keys.insert(row.key_id, public_key);
                }
                Some(expired_ts) => {
                    keys.old_verify_keys.push(OldVerifyKey { key_id: row.key_id, public_key, expired_ts })
                }
            }
        }
        self.remember(&keys);
        Ok(Some(keys))
    }

    async fn put(&self, keys: &ServerKeys) -> Result<(), KeyCacheError> {
        let current = keys.verify_keys.iter().map(|(key_id, public_key)| (key_id, public_key, None));
        let old = keys.old_verify_keys.iter().map(|old| (&old.key_id, &old.public_key, Some(old.expired_ts)));
        for (key_id, public_key, expired_ts) in current.chain(old) {
            let row = ServerKey {
                server_name: keys.server_name.clone(),
                key_id: key_id.clone(),
                public_key: lenient_base64::encode(public_key),
                valid_until_ts: keys.valid_until_ts,
                expired_ts,
            };
            self.store.put_server_key(&row).await.map_err(cache_error)?;
        }
        self.remember(keys);
        Ok(())
    }
}

fn decode(public_key: &str) -> Option<[u8; 32]> {
    lenient_base64::decode(public_key).ok()?.try_into().ok()
}

fn cache_error(error: palisade_store::StoreError) -> KeyCacheError {
    KeyCacheError(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_round_trip_through_the_store() {
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let cache = StoreKeyCache::new(store);
        assert_eq!(cache.get("remote.example.org").await.unwrap(), None);
        let keys = ServerKeys {
            server_name: "remote.example.org".to_owned(),
            verify_keys: BTreeMap::from([("ed25519:new".to_owned(), [1; 32])]),
            old_verify_keys: vec![OldVerifyKey {
                key_id: "ed25519:old".to_owned(),
                public_key: [2; 32],
                expired_ts: 10,
            }],
            valid_until_ts: 5000,
        };
        cache.put(&keys).await.unwrap();
        assert_eq!(cache.get("remote.example.org").await.unwrap(), Some(keys.clone()));
        assert_eq!(cache.get("other.example.org").await.unwrap(), None);
        let restarted = StoreKeyCache::new(cache.store.clone());
        assert_eq!(
            restarted.get("remote.example.org").await.unwrap(),
            Some(keys),
            "read back from the store"
        );
    }

    #[tokio::test]
    async fn a_newer_document_replaces_the_one_in_memory() {
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let cache = StoreKeyCache::new(store);
        let mut keys = ServerKeys {
            server_name: "remote.example.org".to_owned(),
            verify_keys: BTreeMap::from([("ed25519:a".to_owned(), [1; 32])]),
            old_verify_keys: Vec::new(),
            valid_until_ts: 5000,
        };
        cache.put(&keys).await.unwrap();
        assert_eq!(cache.get("remote.example.org").await.unwrap().unwrap().valid_until_ts, 5000);
        keys.verify_keys.insert("ed25519:b".to_owned(), [2; 32]);
        keys.valid_until_ts = 9000;
        cache.put(&keys).await.unwrap();
        assert_eq!(cache.get("remote.example.org").await.unwrap(), Some(keys));
    }
}
