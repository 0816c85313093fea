//! Room contexts kept between requests. Every `/sign` needs its room's state, config and policy-list rules;
//! reading them from the store each time would cost more than the cryptography. A context is dropped when the
//! store announces ([`Store::subscribe_changes`]) a change to anything it was built from: SQLite announces before
//! the write returns, PostgreSQL within milliseconds and to every instance.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use palisade_store::{ConfigChange, Store};
use tokio::sync::{OnceCell, broadcast};
use tracing::warn;

use super::{RoomContext, SignError};

/// Joined rooms' contexts by room ID.
#[derive(Debug, Default)]
pub(super) struct RoomContextCache {
    /// The store's change feed; `None` if subscribing failed, and then nothing is kept.
    changes: OnceCell<Option<Mutex<broadcast::Receiver<ConfigChange>>>>,
    contexts: RwLock<HashMap<String, Arc<RoomContext>>>,
    /// Counts changes seen: a context loaded while one arrived may predate it, so it is used once, not kept.
    changes_seen: AtomicU64,
    /// One load at a time per room: requests that miss together (after a change, every request in progress)
    /// wait for the first one's context instead of all reading the store at once.
    loads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoomContextCache {
    /// The context of `room_id`, from memory or from `load`.
    pub(super) async fn get_or_load<Load, Loading>(
        &self,
        store: &Arc<dyn Store>,
        room_id: &str,
        load: Load,
    ) -> Result<Arc<RoomContext>, SignError>
    where
        Load: FnOnce() -> Loading,
        Loading: Future<Output = Result<RoomContext, SignError>>,
    {
        let Some(changes) = self.changes(store).await else { return load().await.map(Arc::new) };
        if let Some(context) = self.cached(changes, room_id) {
            return Ok(context);
        }
        let gate = Arc::clone(lock(&self.loads).entry(room_id.to_owned()).or_default());
        let loaded = {
            let _turn = gate.lock().await;
            self.load(changes, room_id, load).await
        };
        let mut loads = lock(&self.loads);
        // The last of the requests that met at the gate removes it (the map and this request hold the rest).
        if Arc::strong_count(&gate) <= 2 {
            loads.remove(room_id);
        }
        loaded
    }

    /// Loads `room_id`'s context unless the request before at the gate already did, and keeps it unless a change
    /// arrived meanwhile.
    async fn load<Load, Loading>(
        &self,
        changes: &Mutex<broadcast::Receiver<ConfigChange>>,
        room_id: &str,
        load: Load,
    ) -> Result<Arc<RoomContext>, SignError>
    where
        Load: FnOnce() -> Loading,
        Loading: Future<Output = Result<RoomContext, SignError>>,
    {
        if let Some(context) = self.cached(changes, room_id) {
            return Ok(context);
        }
        let seen_before = self.changes_seen.load(Ordering::SeqCst);
        let context = Arc::new(load().await?);
        self.apply(changes);
        if self.changes_seen.load(Ordering::SeqCst) == seen_before {
            write(&self.contexts).insert(room_id.to_owned(), Arc::clone(&context));
        }
        Ok(context)
    }

    /// The kept context of `room_id`, once the changes announced so far have dropped what they touch.
    fn cached(
        &self,
        changes: &Mutex<broadcast::Receiver<ConfigChange>>,
        room_id: &str,
    ) -> Option<Arc<RoomContext>> {
        self.apply(changes);
        read(&self.contexts).get(room_id).map(Arc::clone)
    }

    async fn changes(&self, store: &Arc<dyn Store>) -> Option<&Mutex<broadcast::Receiver<ConfigChange>>> {
        self.changes
            .get_or_init(|| async {
                match store.subscribe_changes().await {
                    Ok(receiver) => Some(Mutex::new(receiver)),
                    Err(error) => {
                        warn!(%error, "no store change feed; room contexts are read for every request");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    /// Drops the contexts that announced changes touch.
    fn apply(&self, changes: &Mutex<broadcast::Receiver<ConfigChange>>) {
        let mut receiver = changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let change = match receiver.try_recv() {
                Ok(change) => change,
                // Missed some: anything may have changed.
                Err(broadcast::error::TryRecvError::Lagged(_)) => ConfigChange::Resync,
                Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => return,
            };
            self.changes_seen.fetch_add(1, Ordering::SeqCst);
            write(&self.contexts).retain(|_, context| !context.built_from(&change));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use palisade_store::{JoinState, Room};
    use serde_json::json;

    use crate::sign::test_room::{Room12, protected_room};

    async fn context(room: &Room12, room_id: &str) -> Arc<crate::sign::RoomContext> {
        room.state.evaluator.room_context(&room.state, room_id).await.unwrap()
    }

    /// Requests that miss together read the store once: the others wait for the first one's context.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_together_share_one_load() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use palisade_policy::{CommunityConfig, InstanceSettings};

        use super::RoomContextCache;
        use crate::sign::room_context::{InstanceLayer, RoomContext};

        let room = protected_room().await;
        let cache = Arc::new(RoomContextCache::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let asks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, loads, store, room_id) =
                    (cache.clone(), loads.clone(), room.state.store.clone(), room.room_id.clone());
                tokio::spawn(async move {
                    let (config, settings) = (CommunityConfig::default(), InstanceSettings::default());
                    let instance = InstanceLayer { config: &config, settings: &settings, policy_lists: &[] };
                    cache
                        .get_or_load(&store, &room_id, || async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            // Long enough for every other ask to arrive while this one loads.
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            RoomContext::load(&store, &room_id, instance).await
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        let contexts: Vec<_> = results_of(asks).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for sixteen asks");
        assert!(contexts.iter().all(|c| Arc::ptr_eq(c, &contexts[0])));
        assert!(cache.loads.lock().unwrap().is_empty(), "no gate is left behind");
    }

    async fn results_of<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut done = Vec::with_capacity(tasks.len());
        for task in tasks {
            done.push(task.await.unwrap());
        }
        done
    }

    #[tokio::test]
    async fn a_context_is_kept_until_something_it_was_built_from_changes() {
        let room = protected_room().await;
        let first = context(&room, &room.room_id).await;
        assert!(Arc::ptr_eq(&first, &context(&room, &room.room_id).await), "read again without a change");

        // Another room's state and another community's config are not this room's business.
        room.state.store.put_community(&palisade_store::Community::new("other", "Other")).await.unwrap();
        let kept = context(&room, &room.room_id).await;
        assert!(Arc::ptr_eq(&first, &kept));

        room.put_state("m.room.topic", "", json!({"topic": "new"}), 20).await;
        let after_state = context(&room, &room.room_id).await;
        assert!(!Arc::ptr_eq(&first, &after_state), "state changed");

        let config = json!({"refusal_message": "Ask the moderators"});
        assert!(room.state.store.set_community_config("default", &config).await.unwrap());
        let after_config = context(&room, &room.room_id).await;
        assert_eq!(after_config.config.refusal_message, "Ask the moderators");

        room.state.store.put_keyword_template("t", "spam").await.unwrap();
        let after_template = context(&room, &room.room_id).await;
        assert_eq!(after_template.settings.keyword_templates.get("t").map(String::as_str), Some("spam"));

        room.state.store.set_room_join_state(&room.room_id, JoinState::Left).await.unwrap();
        let left = room.state.evaluator.room_context(&room.state, &room.room_id).await;
        assert!(left.is_err(), "a room we left is unknown at once");
    }

    #[tokio::test]
    async fn a_policy_list_change_reaches_the_rooms_that_read_the_list() {
        let room = protected_room().await;
        let list_id = "!list:palisade.example.org";
        room.state.store.put_room(&Room::joined(list_id, "10", "default")).await.unwrap();
        let config = json!({"policy_list_room_ids": [list_id]});
        assert!(room.state.store.set_community_config("default", &config).await.unwrap());
        assert!(context(&room, &room.room_id).await.snapshot.policy_rules.is_empty());

        let rule = json!({"entity": "@spammer:example.org", "recommendation": "m.ban", "reason": "spam"});
        let event = json!({"type": "m.policy.rule.user", "state_key": "r1", "content": rule});
        let row = palisade_store::StateEvent {
            event_type: "m.policy.rule.user".to_owned(),
            state_key: "r1".to_owned(),
            event_id: "$r1".to_owned(),
            event,
        };
        room.state.store.put_state_events(list_id, &[row]).await.unwrap();
        let rules = &context(&room, &room.room_id).await.snapshot.policy_rules;
        assert!(rules.check_user("@spammer:example.org").is_some(), "the new rule applies at once");
    }
}
