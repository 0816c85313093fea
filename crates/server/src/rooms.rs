//! The rooms service: joining and leaving rooms on request (admin API, startup list, accepted invites) and
//! keeping joined rooms' stored state live from `/send` PDUs.
//!
//! This module is wiring. Joining, leaving and the state tracker live in `palisade_federation::membership`; here
//! the instance's settings pick the `via` servers and our user, concurrent joins of one room are merged, and
//! background joins are retried.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use palisade_federation::membership::{JoinOutcome, LeaveOutcome, Membership, ResyncOutcome};
use palisade_matrix::{OwnedRoomId, OwnedServerName, OwnedUserId, Pdu, RoomId, ServerName};
use palisade_store::{JoinState, Room, Store};
use tracing::{info, warn};

use crate::http::federation::PduSink;

/// The community rooms join when nobody says otherwise (startup list, invites).
pub const DEFAULT_COMMUNITY: &str = "default";

/// Why a join request did not get us into the room.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// We are joined already; nothing was sent.
    #[error("already joined to this room")]
    AlreadyJoined,
    /// The community to put the room in does not exist.
    #[error("community not found")]
    CommunityNotFound,
    /// Another join of this room is in progress.
    #[error("a join of this room is already in progress")]
    InProgress,
    /// No server let us in (each server's reason, joined), or the store failed.
    #[error("join failed: {0}")]
    Failed(String),
}

/// Why a leave request did not get us out of the room.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaveError {
    /// The room is not one we know.
    #[error("room not found")]
    NotFound,
    /// No server took our leave, or the store failed.
    #[error("leave failed: {0}")]
    Failed(String),
}

/// How background joins are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled after each failure.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts over about four minutes: 1 s, 2 s, 4 s … capped at 60 s.
    fn default() -> Self {
        Self { attempts: 8, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60) }
    }
}

/// Joins and leaves rooms as our user, and keeps joined rooms' state current.
pub struct Rooms {
    membership: Membership,
    store: Arc<dyn Store>,
    user: OwnedUserId,
    join_server: Option<OwnedServerName>,
    retry: RetryPolicy,
    joining: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms").field("user", &self.user).field("join_server", &self.join_server).finish()
    }
}

impl Rooms {
    /// Joins as `user` through `membership`, asking `join_server` (`PS_JOIN_SERVER`) when no other server is
    /// given.
    pub fn new(
        membership: Membership,
        store: Arc<dyn Store>,
        user: OwnedUserId,
        join_server: Option<OwnedServerName>,
    ) -> Self {
        Self {
            membership,
            store,
            user,
            join_server,
            retry: RetryPolicy::default(),
            joining: Mutex::default(),
        }
    }

    /// The same service with another retry policy for background joins (tests retry fast).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Our user, `@<join_localpart>:<server_name>`.
    pub fn user_id(&self) -> &OwnedUserId {
        &self.user
    }

    /// Joins `room_id` into `community_id` (which must exist), trying `via` first, then `PS_JOIN_SERVER`, then the
    /// server named in the room ID (rooms before v12 have one). A room we left or were kicked from is rejoined;
    /// its community becomes `community_id`.
    pub async fn join(
        &self,
        room_id: &RoomId,
        community_id: &str,
        via: Option<&ServerName>,
    ) -> Result<Room, JoinError> {
        let failed = |e: palisade_store::StoreError| JoinError::Failed(format!("store: {e}"));
        if self.store.get_community(community_id).await.map_err(failed)?.is_none() {
            return Err(JoinError::CommunityNotFound);
        }
        if let Some(room) = self.store.get_room(room_id.as_str()).await.map_err(failed)?
            && room.join_state == JoinState::Joined
        {
            return Err(JoinError::AlreadyJoined);
        }
        let _guard = JoiningGuard::take(&self.joining, room_id.as_str()).ok_or(JoinError::InProgress)?;
        let servers = self.via_servers(room_id, via, &[]);
        let room_id_owned: OwnedRoomId = room_id.to_owned();
        match self.membership.join_room_into(&room_id_owned, &servers, &self.user, Some(community_id)).await {
            JoinOutcome::Joined { via, room_version, state_stored, dropped, .. } => {
                info!(room_id = %room_id, %via, room_version, state_stored, dropped, community_id, "joined room");
                self.store
                    .get_room(room_id.as_str())
                    .await
                    .map_err(failed)?
                    .ok_or_else(|| JoinError::Failed("the joined room is missing from the store".to_owned()))
            }
            JoinOutcome::Failed { per_server_errors } => {
                let reasons = if per_server_errors.is_empty() {
                    "no server to join through".to_owned()
                } else {
                    per_server_errors
                        .iter()
                        .map(|(server, error)| format!("{server}: {error}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                Err(JoinError::Failed(reasons))
            }
        }
    }

    /// Leaves `room_id`, through the servers of the room's other joined members (from the stored state), then
    /// `PS_JOIN_SERVER` and the room ID's server. The room row stays, marked left, with its configuration.
    pub async fn leave(&self, room_id: &RoomId) -> Result<(), LeaveError> {
        let failed = |e: palisade_store::StoreError| LeaveError::Failed(format!("store: {e}"));
        if self.store.get_room(room_id.as_str()).await.map_err(failed)?.is_none() {
            return Err(LeaveError::NotFound);
        }
        let residents = self.resident_servers(room_id).await.map_err(failed)?;
        let servers = self.via_servers(room_id, None, &residents);
        let room_id_owned: OwnedRoomId = room_id.to_owned();
        match self.membership.leave_room(&room_id_owned, &servers, &self.user).await {
            LeaveOutcome::Left { via, .. } => {
                info!(room_id = %room_id, %via, "left room");
                Ok(())
            }
            LeaveOutcome::Failed { per_server_errors } => Err(LeaveError::Failed(
                per_server_errors
                    .iter()
                    .map(|(server, error)| format!("{server}: {error}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }

    /// Replaces a joined room's stored state with the current state from a resident server (the servers of its
    /// joined members, then `PS_JOIN_SERVER`, then the room ID's server), repairing anything missed while we were
    /// down. Returns the number of state entries stored.
    pub async fn resync(&self, room_id: &RoomId) -> Result<usize, JoinError> {
        let failed = |e: palisade_store::StoreError| JoinError::Failed(format!("store: {e}"));
        let residents = self.resident_servers(room_id).await.map_err(failed)?;
        let servers = self.via_servers(room_id, None, &residents);
        let room_id_owned: OwnedRoomId = room_id.to_owned();
        match self.membership.resync_room(&room_id_owned, &servers, &self.user).await {
            ResyncOutcome::Resynced { via, at_event, state_stored, dropped, still_joined } => {
                info!(room_id = %room_id, %via, at_event, state_stored, dropped, still_joined, "resynced room state");
                Ok(state_stored)
            }
            ResyncOutcome::Failed { per_server_errors } => Err(JoinError::Failed(
                per_server_errors
                    .iter()
                    .map(|(server, error)| format!("{server}: {error}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }

    /// Joins `room_id` in the background, retrying failures per the retry policy; logs the outcome. A room that
    /// is joined already is resynced instead (its state may have changed while we were not running).
    pub fn spawn_join(
        self: &Arc<Self>,
        room_id: OwnedRoomId,
        community_id: String,
        via: Option<OwnedServerName>,
    ) -> tokio::task::JoinHandle<Result<Room, JoinError>> {
        self.spawn_join_after(Duration::ZERO, room_id, community_id, via)
    }

    /// [`Self::spawn_join`], starting after `wait` (an invite reaches the room only after we counter-signed it).
    pub fn spawn_join_after(
        self: &Arc<Self>,
        wait: Duration,
        room_id: OwnedRoomId,
        community_id: String,
        via: Option<OwnedServerName>,
    ) -> tokio::task::JoinHandle<Result<Room, JoinError>> {
        let rooms = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let mut delay = rooms.retry.first_delay;
            let attempts = rooms.retry.attempts.max(1);
            let mut attempt = 1;
            loop {
                match rooms.join(&room_id, &community_id, via.as_deref()).await {
                    Ok(room) => return Ok(room),
                    Err(JoinError::AlreadyJoined) => {
                        info!(room_id = %room_id, "already joined; resyncing its state instead of joining");
                        if let Err(error) = rooms.resync(&room_id).await {
                            warn!(room_id = %room_id, %error, "could not resync room state");
                        }
                        return Err(JoinError::AlreadyJoined);
                    }
                    Err(error @ JoinError::CommunityNotFound) => {
                        warn!(room_id = %room_id, community_id, "cannot join: community not found");
                        return Err(error);
                    }
                    Err(error) if attempt >= attempts => {
                        warn!(room_id = %room_id, attempts, %error, "giving up joining room");
                        return Err(error);
                    }
                    Err(error) => {
                        warn!(room_id = %room_id, attempt, retry_in = ?delay, %error, "join failed; will retry");
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(rooms.retry.max_delay);
                attempt += 1;
            }
        })
    }

    /// Joins each of `room_ids` (the `join_room_ids` setting) into the `default` community in the background.
    pub fn spawn_startup_joins(self: &Arc<Self>, room_ids: impl IntoIterator<Item = OwnedRoomId>) {
        for room_id in room_ids {
            info!(room_id = %room_id, "joining configured room in the background");
            drop(self.spawn_join(room_id, DEFAULT_COMMUNITY.to_owned(), None));
        }
    }

    /// The servers to try, in order and without repeats: `first`, then `residents`, then `PS_JOIN_SERVER`, then
    /// the room ID's server part. Our own server is never asked.
    fn via_servers(
        &self,
        room_id: &RoomId,
        first: Option<&ServerName>,
        residents: &[OwnedServerName],
    ) -> Vec<OwnedServerName> {
        let ours = self.user.server_name();
        let candidates = first
            .map(ToOwned::to_owned)
            .into_iter()
            .chain(residents.iter().cloned())
            .chain(self.join_server.clone())
            .chain(room_id.server_name().map(ToOwned::to_owned));
        let mut servers: Vec<OwnedServerName> = Vec::new();
        for server in candidates {
            if server != ours && !servers.contains(&server) {
                servers.push(server);
            }
        }
        servers
    }

    /// Servers of the users joined to `room_id` per the stored state, except ours.
    async fn resident_servers(&self, room_id: &RoomId) -> palisade_store::StoreResult<Vec<OwnedServerName>> {
        let state = self.store.get_room_state(room_id.as_str()).await?;
        let mut servers = Vec::new();
        for event in state.iter().filter(|e| e.event_type == "m.room.member") {
            if event.event["content"]["membership"].as_str() != Some("join") {
                continue;
            }
            let Ok(user) = OwnedUserId::try_from(event.state_key.as_str()) else { continue };
            let server = user.server_name().to_owned();
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        Ok(servers)
    }
}

/// Received `/send` PDUs update the state of the rooms they belong to.
#[async_trait]
impl PduSink for Rooms {
    async fn accept(&self, room_id: &str, pdus: Vec<Pdu>) {
        match self.membership.apply_received(room_id, &pdus, &self.user).await {
            Ok(report) => {
                if !report.applied.is_empty() {
                    info!(room_id, applied = ?report.applied, "room state updated");
                }
                for (redaction, redacted) in &report.redacted {
                    info!(room_id, redaction, redacted, "state event redacted");
                }
                for (event_id, reason) in &report.skipped {
                    tracing::debug!(room_id, event_id, ?reason, "event not applied to room state");
                }
            }
            Err(error) => warn!(room_id, %error, "could not apply received state"),
        }
    }
}

/// Marks a room as being joined for as long as it lives.
struct JoiningGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    room_id: String,
}

impl<'a> JoiningGuard<'a> {
    /// `None` when the room is being joined already.
    fn take(set: &'a Mutex<HashSet<String>>, room_id: &str) -> Option<Self> {
        let mut rooms = set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rooms.insert(room_id.to_owned()).then(|| Self { set, room_id: room_id.to_owned() })
    }
}

impl Drop for JoiningGuard<'_> {
    fn drop(&mut self) {
        let mut rooms = self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rooms.remove(&self.room_id);
    }
}

impl Rooms {
    /// The service for this instance: our user is `@<federation.join_localpart>:<server_name>`, joins go through
    /// `federation.join_server`, signed with the federation key `key`.
    pub fn from_config(
        config: &crate::config::Config,
        server_name: &ServerName,
        federation: &crate::federation_setup::Federation,
        key: Arc<palisade_matrix::SigningKey>,
        store: Arc<dyn Store>,
    ) -> Result<Self, String> {
        let user = format!("@{}:{server_name}", config.federation.join_localpart.as_str());
        let user = OwnedUserId::try_from(user.as_str()).map_err(|e| format!("user ID {user}: {e}"))?;
        let join_server = OwnedServerName::try_from(config.federation.join_server.as_str()).ok();
        let membership =
            Membership::new(federation.client.clone(), federation.keyring.clone(), store.clone(), key);
        Ok(Self::new(membership, store, user, join_server))
    }
}

#[cfg(test)]
mod tests {
    use palisade_federation::{
        FederationClient, FederationConfig, Keyring, KeyringConfig, MemoryKeyCache, StaticResolver,
    };
    use palisade_matrix::SigningKey;

    use super::*;

    async fn service(join_server: Option<&str>) -> (Arc<Rooms>, Arc<dyn Store>) {
        let key = Arc::new(SigningKey::from_seed(&[3; 32], "t").unwrap());
        let client = Arc::new(
            FederationClient::new(
                "us.test".try_into().unwrap(),
                key.clone(),
                Arc::new(StaticResolver::new()),
                FederationConfig::default(),
            )
            .unwrap(),
        );
        let keyring =
            Arc::new(Keyring::new(client.clone(), Arc::new(MemoryKeyCache::new()), KeyringConfig::default()));
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let membership = Membership::new(client, keyring, store.clone(), key);
        let join_server = join_server.map(|s| s.try_into().unwrap());
        let rooms = Rooms::new(membership, store.clone(), "@policy:us.test".try_into().unwrap(), join_server)
            .with_retry(RetryPolicy {
                attempts: 2,
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
            });
        (Arc::new(rooms), store)
    }

    fn room_id(id: &str) -> OwnedRoomId {
        id.try_into().unwrap()
    }

    #[tokio::test]
    async fn via_servers_in_order_without_repeats_or_ourselves() {
        let (rooms, _) = service(Some("join.test")).await;
        let names =
            |servers: Vec<OwnedServerName>| servers.iter().map(ToString::to_string).collect::<Vec<_>>();
        let pre_v12 = room_id("!abc:origin.test");
        let first: OwnedServerName = "first.test".try_into().unwrap();
        let residents: Vec<OwnedServerName> =
            ["us.test", "resident.test", "join.test"].iter().map(|s| (*s).try_into().unwrap()).collect();
        assert_eq!(
            names(rooms.via_servers(&pre_v12, Some(&first), &residents)),
            ["first.test", "resident.test", "join.test", "origin.test"]
        );
        // v12 room IDs name no server: only the join server is left.
        let v12 = room_id("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM");
        assert_eq!(names(rooms.via_servers(&v12, None, &[])), ["join.test"]);
        let (no_join_server, _) = service(None).await;
        assert!(no_join_server.via_servers(&v12, None, &[]).is_empty());
    }

    #[tokio::test]
    async fn join_checks_the_community_and_an_existing_join_first() {
        let (rooms, store) = service(Some("join.test")).await;
        let room = room_id("!abc:origin.test");
        assert_eq!(rooms.join(&room, "no-such-community", None).await, Err(JoinError::CommunityNotFound));
        store.put_room(&Room::joined(room.to_string(), "10", DEFAULT_COMMUNITY)).await.unwrap();
        assert_eq!(rooms.join(&room, DEFAULT_COMMUNITY, None).await, Err(JoinError::AlreadyJoined));
        // The background join stops at once too, without retrying.
        let outcome = rooms.spawn_join(room.clone(), DEFAULT_COMMUNITY.to_owned(), None).await.unwrap();
        assert_eq!(outcome, Err(JoinError::AlreadyJoined));
    }

    #[tokio::test]
    async fn unreachable_servers_fail_with_each_reason_after_the_retries() {
        let (rooms, store) = service(Some("join.test")).await;
        let room = room_id("!abc:origin.test");
        let outcome = rooms.spawn_join(room.clone(), DEFAULT_COMMUNITY.to_owned(), None).await.unwrap();
        let Err(JoinError::Failed(reasons)) = outcome else { panic!("{outcome:?}") };
        assert!(reasons.contains("join.test:") && reasons.contains("origin.test:"), "{reasons}");
        assert!(store.get_room(room.as_str()).await.unwrap().is_none());
        let v12 = room_id("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM");
        let (no_join_server, _) = service(None).await;
        assert_eq!(
            no_join_server.join(&v12, DEFAULT_COMMUNITY, None).await,
            Err(JoinError::Failed("no server to join through".to_owned()))
        );
        assert_eq!(rooms.leave(&room).await, Err(LeaveError::NotFound));
    }

    #[test]
    fn a_second_concurrent_join_of_one_room_is_refused() {
        let set = Mutex::default();
        let first = JoiningGuard::take(&set, "!a:b");
        assert!(first.is_some());
        assert!(JoiningGuard::take(&set, "!a:b").is_none());
        assert!(JoiningGuard::take(&set, "!other:b").is_some());
        drop(first);
        assert!(JoiningGuard::take(&set, "!a:b").is_some());
    }
}
