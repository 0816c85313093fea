//! Joining and leaving rooms over federation, as the policy server's own user.
//!
//! Join: for each resident server in turn, `GET make_join` (offering room versions 1–12) → sign the template →
//! `PUT v2/send_join?omit_members=false` (we never accept partial state: the policy engine needs every member) →
//! verify the returned state and auth chain (bad PDUs are dropped) → store the room and seed its state snapshot,
//! our join included. Rejoining after a kick takes the same path. Leave: `make_leave` → sign → `v2/send_leave`,
//! then the room is marked left and our leave applied to the snapshot.

use std::sync::Arc;

use palisade_matrix::{
    OwnedRoomId, OwnedServerName, OwnedUserId, Pdu, RoomVersion, SigningKey,
    path_segment::encode as encode_segment,
};
use palisade_store::{JoinState, Room, Store};
use serde_json::Value;

use crate::{
    FederationClient, Keyring, RequestOptions,
    room_state::{ApplyReport, RoomStateTracker},
};

mod outcome;
mod resync;
mod template;
mod verify;

#[cfg(test)]
mod tests;

pub use outcome::{JoinOutcome, LeaveOutcome, MembershipError};
pub use resync::ResyncOutcome;

use template::{Expected, MakeResponse, sign_template};
use verify::{KeyCollector, verify_pdus};

/// The room versions we offer in `make_join` (every version whose rules we implement).
const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u8> = 1..=12;

/// The community a room joins when it is not stored yet.
const DEFAULT_COMMUNITY: &str = "default";

/// Joins and leaves rooms, keeping the store's rooms and snapshots in step.
pub struct Membership {
    client: Arc<FederationClient>,
    keyring: Arc<Keyring>,
    store: Arc<dyn Store>,
    tracker: RoomStateTracker,
    key: Arc<SigningKey>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership").field("server", &self.client.server_name()).finish_non_exhaustive()
    }
}

/// The `v2/send_join` response (fields we read).
#[derive(Debug, serde::Deserialize)]
struct SendJoinResponse {
    #[serde(default)]
    state: Vec<Value>,
    #[serde(default)]
    auth_chain: Vec<Value>,
    /// Our join as the resident server signed it too (restricted joins).
    #[serde(default)]
    event: Option<Value>,
}

impl Membership {
    /// Joins and leaves through `client`, checking signatures with `keyring`, signing our events with `key` (our
    /// federation key, the one `client` signs requests with).
    pub fn new(
        client: Arc<FederationClient>,
        keyring: Arc<Keyring>,
        store: Arc<dyn Store>,
        key: Arc<SigningKey>,
    ) -> Self {
        let tracker = RoomStateTracker::new(store.clone());
        Self { client, keyring, store, tracker, key }
    }

    /// Joins `room_id` as `user` through the first of `via` that lets us in. A room not stored yet joins the
    /// `default` community; a stored room keeps its community.
    pub async fn join_room(
        &self,
        room_id: &OwnedRoomId,
        via: &[OwnedServerName],
        user: &OwnedUserId,
    ) -> JoinOutcome {
        self.join_room_into(room_id, via, user, None).await
    }

    /// Like [`Self::join_room`], and the room is stored under `community_id` when one is given (the community
    /// must exist), also when it was stored under another community before.
    pub async fn join_room_into(
        &self,
        room_id: &OwnedRoomId,
        via: &[OwnedServerName],
        user: &OwnedUserId,
        community_id: Option<&str>,
    ) -> JoinOutcome {
        let mut per_server_errors = Vec::new();
        for server in via {
            match self.join_via(room_id, server, user, community_id).await {
                Ok(joined) => return joined,
                Err(error) => {
                    tracing::info!(room = %room_id, via = %server, %error, "join through server failed");
                    let stop = matches!(error, MembershipError::Store(_));
                    per_server_errors.push((server.clone(), error));
                    if stop {
                        break;
                    }
                }
            }
        }
        JoinOutcome::Failed { per_server_errors }
    }

    /// Leaves `room_id` as `user` through the first of `via` that takes our leave.
    pub async fn leave_room(
        &self,
        room_id: &OwnedRoomId,
        via: &[OwnedServerName],
        user: &OwnedUserId,
    ) -> LeaveOutcome {
        let mut per_server_errors = Vec::new();
        for server in via {
            match self.leave_via(room_id, server, user).await {
                Ok(left) => return left,
                Err(error) => {
                    tracing::info!(room = %room_id, via = %server, %error, "leave through server failed");
                    per_server_errors.push((server.clone(), error));
                }
            }
        }
        LeaveOutcome::Failed { per_server_errors }
    }

    /// One join attempt through `server`.
    async fn join_via(
        &self,
        room_id: &OwnedRoomId,
        server: &OwnedServerName,
        user: &OwnedUserId,
        community_id: Option<&str>,
    ) -> Result<JoinOutcome, MembershipError> {
        let versions: String = SUPPORTED_VERSIONS.map(|v| format!("ver={v}")).collect::<Vec<_>>().join("&");
        let path = format!(
            "/_matrix/federation/v1/make_join/{}/{}?{versions}",
            encode_segment(room_id.as_str()),
            encode_segment(user.as_str())
        );
        let expected = Expected { room_id: room_id.as_str(), user_id: user.as_str(), membership: "join" };
        let (join, version) = self.make_and_sign(server, &path, expected, None).await?;

        let path = format!(
            "/_matrix/federation/v2/send_join/{}/{}?omit_members=false",
            encode_segment(room_id.as_str()),
            encode_segment(join.event_id().as_str())
        );
        let response: SendJoinResponse = self
            .client
            .request_json(http::Method::PUT, server, &path, Some(&join.to_json_value()), force())
            .await
            .into_result()
            .map_err(MembershipError::Send)?;

        let mut keys = KeyCollector::with_own_key(self.client.server_name().as_str(), &self.key);
        let state = verify_pdus(&self.keyring, &mut keys, &response.state, &version).await;
        let auth_chain = verify_pdus(&self.keyring, &mut keys, &response.auth_chain, &version).await;
        let has_create = state.pdus.iter().any(|pdu| {
            pdu.event_type() == "m.room.create" && pdu.state_key() == Some("") && pdu.room_id() == room_id
        });
        if !has_create {
            return Err(MembershipError::BadResponse(
                "no verified create event for this room in the state".into(),
            ));
        }
        let join = self.resident_signed_join(response.event.as_ref(), join, &version, &mut keys).await;

        let mut snapshot = state.pdus;
        snapshot.push(join.clone());
        let stored = self.store_joined(room_id, &version, &snapshot, community_id).await?;
        Ok(JoinOutcome::Joined {
            via: server.clone(),
            room_version: version.as_str().to_owned(),
            event_id: join.event_id().to_string(),
            state_stored: stored,
            dropped: state.dropped + auth_chain.dropped,
        })
    }

    /// The resident server's copy of our join (it adds its signature to restricted joins) if it is the same event
    /// and verifies; otherwise our own.
    async fn resident_signed_join(
        &self,
        returned: Option<&Value>,
        ours: Pdu,
        version: &RoomVersion,
        keys: &mut KeyCollector,
    ) -> Pdu {
        let Some(returned) = returned else { return ours };
        let verified = verify_pdus(&self.keyring, keys, std::slice::from_ref(returned), version).await;
        match verified.pdus.into_iter().next() {
            Some(pdu) if pdu.event_id() == ours.event_id() => pdu,
            _ => ours,
        }
    }

    /// Stores the room (keeping the community and overrides of a room we were in before) and seeds its snapshot.
    async fn store_joined(
        &self,
        room_id: &OwnedRoomId,
        version: &RoomVersion,
        state: &[Pdu],
        community_id: Option<&str>,
    ) -> Result<usize, MembershipError> {
        let store_error = |e: palisade_store::StoreError| MembershipError::Store(e.to_string());
        let existing = self.store.get_room(room_id.as_str()).await.map_err(store_error)?;
        let mut room = existing.unwrap_or_else(|| Room {
            room_id: room_id.to_string(),
            room_version: String::new(),
            community_id: DEFAULT_COMMUNITY.to_owned(),
            join_state: JoinState::Joining,
            moderator_user_id: None,
            overrides: None,
            last_state_update_ms: 0,
        });
        if let Some(community_id) = community_id {
            community_id.clone_into(&mut room.community_id);
        }
        room.room_version = version.as_str().to_owned();
        room.join_state = JoinState::Joining;
        self.store.put_room(&room).await.map_err(store_error)?;
        let report = self.tracker.seed(room_id.as_str(), version, state).await.map_err(store_error)?;
        self.store.set_room_join_state(room_id.as_str(), JoinState::Joined).await.map_err(store_error)?;
        Ok(report.stored)
    }

    /// One leave attempt through `server`.
    async fn leave_via(
        &self,
        room_id: &OwnedRoomId,
        server: &OwnedServerName,
        user: &OwnedUserId,
    ) -> Result<LeaveOutcome, MembershipError> {
        let path = format!(
            "/_matrix/federation/v1/make_leave/{}/{}",
            encode_segment(room_id.as_str()),
            encode_segment(user.as_str())
        );
        let stored_version = self.stored_version(room_id).await;
        let expected = Expected { room_id: room_id.as_str(), user_id: user.as_str(), membership: "leave" };
        let (leave, _) = self.make_and_sign(server, &path, expected, stored_version).await?;
        let path = format!(
            "/_matrix/federation/v2/send_leave/{}/{}",
            encode_segment(room_id.as_str()),
            encode_segment(leave.event_id().as_str())
        );
        self.client
            .request_json::<Value, _>(http::Method::PUT, server, &path, Some(&leave.to_json_value()), force())
            .await
            .into_result()
            .map_err(MembershipError::Send)?;
        let store_error = |e: palisade_store::StoreError| MembershipError::Store(e.to_string());
        self.store.set_room_join_state(room_id.as_str(), JoinState::Left).await.map_err(store_error)?;
        self.tracker.apply(room_id.as_str(), std::slice::from_ref(&leave)).await.map_err(store_error)?;
        Ok(LeaveOutcome::Left { via: server.clone(), event_id: leave.event_id().to_string() })
    }

    /// Applies the state events among `pdus` (received in `/send`, already checked) to `room_id`'s snapshot, and
    /// notices when `user` (our user) was kicked or banned: the room is then marked left, so that a later join
    /// request rejoins it instead of answering "already joined".
    pub async fn apply_received(
        &self,
        room_id: &str,
        pdus: &[Pdu],
        user: &OwnedUserId,
    ) -> palisade_store::StoreResult<ApplyReport> {
        let report = self.tracker.apply(room_id, pdus).await?;
        let ours_changed = pdus.iter().any(|pdu| {
            pdu.event_type() == "m.room.member"
                && pdu.state_key() == Some(user.as_str())
                && report.applied.iter().any(|id| id == pdu.event_id().as_str())
        });
        if ours_changed {
            let event = self.store.get_state_event(room_id, "m.room.member", user.as_str()).await?;
            let membership = event.as_ref().and_then(|e| e.event["content"]["membership"].as_str());
            if membership != Some("join") {
                tracing::warn!(room_id, ?membership, "our user is no longer joined; marking the room left");
                self.store.set_room_join_state(room_id, JoinState::Left).await?;
            }
        }
        Ok(report)
    }

    /// The version stored for a room we know.
    async fn stored_version(&self, room_id: &OwnedRoomId) -> Option<String> {
        self.store.get_room(room_id.as_str()).await.ok().flatten().map(|room| room.room_version)
    }

    /// `GET path` for a template, then our signed event and the room version (the response's, else `fallback`,
    /// else `"1"` as the spec says).
    async fn make_and_sign(
        &self,
        server: &OwnedServerName,
        path: &str,
        expected: Expected<'_>,
        fallback: Option<String>,
    ) -> Result<(Pdu, RoomVersion), MembershipError> {
        let made: MakeResponse = self
            .client
            .request_json::<MakeResponse, ()>(http::Method::GET, server, path, None, force())
            .await
            .into_result()
            .map_err(MembershipError::Make)?;
        let version_name = made.room_version.or(fallback).unwrap_or_else(|| "1".to_owned());
        let version = RoomVersion::parse(&version_name)
            .map_err(|_| MembershipError::UnsupportedVersion(version_name))?;
        let pdu =
            sign_template(made.event, expected, &version, self.client.server_name().as_str(), &self.key)?;
        Ok((pdu, version))
    }
}

/// Membership changes are asked for by an operator now, so they go out even while a server is in backoff.
fn force() -> RequestOptions {
    RequestOptions { ignore_backoff: true, unsigned: false }
}
