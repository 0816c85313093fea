//! Repairing a joined room's snapshot from a resident server, for state we may have missed (downtime, a lost
//! transaction): `GET timestamp_to_event` (now, backwards) names the room's latest event, `GET state` gives the
//! room's state at it and `GET event` the event itself. Every PDU is signature-checked; the resident's resolved
//! state then replaces the snapshot, as after a join.

use palisade_matrix::{
    OwnedRoomId, OwnedServerName, OwnedUserId, RoomVersion, path_segment::encode as encode_segment,
};
use palisade_store::JoinState;
use serde_json::Value;

use super::{
    Membership, MembershipError, force,
    verify::{KeyCollector, verify_pdus},
};

/// What a resync did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResyncOutcome {
    /// The snapshot was replaced with the resident's state.
    Resynced {
        /// The resident server asked.
        via: OwnedServerName,
        /// The event whose state was taken.
        at_event: String,
        /// State entries stored.
        state_stored: usize,
        /// PDUs dropped because they failed parsing or signature checks.
        dropped: usize,
        /// Whether our user is still joined per that state (if not, the room is marked left).
        still_joined: bool,
    },
    /// No server could give us the state.
    Failed {
        /// Each server tried, in order, with why it failed.
        per_server_errors: Vec<(OwnedServerName, MembershipError)>,
    },
}

#[derive(Debug, serde::Deserialize)]
struct ClosestEvent {
    event_id: String,
}

#[derive(Debug, serde::Deserialize)]
struct StateResponse {
    #[serde(default)]
    pdus: Vec<Value>,
}

#[derive(Debug, serde::Deserialize)]
struct EventResponse {
    #[serde(default)]
    pdus: Vec<Value>,
}

impl Membership {
    /// Replaces `room_id`'s snapshot (a room we are joined to) with the current state as the first of `via` that
    /// answers sees it. `user` is our user: when that state no longer has it joined, the room is marked left.
    pub async fn resync_room(
        &self,
        room_id: &OwnedRoomId,
        via: &[OwnedServerName],
        user: &OwnedUserId,
    ) -> ResyncOutcome {
        let mut per_server_errors = Vec::new();
        for server in via {
            match self.resync_via(room_id, server, user).await {
                Ok(outcome) => return outcome,
                Err(error) => {
                    tracing::info!(room = %room_id, via = %server, %error, "resync through server failed");
                    let stop = matches!(error, MembershipError::Store(_));
                    per_server_errors.push((server.clone(), error));
                    if stop {
                        break;
                    }
                }
            }
        }
        ResyncOutcome::Failed { per_server_errors }
    }

    async fn resync_via(
        &self,
        room_id: &OwnedRoomId,
        server: &OwnedServerName,
        user: &OwnedUserId,
    ) -> Result<ResyncOutcome, MembershipError> {
        let store_error = |e: palisade_store::StoreError| MembershipError::Store(e.to_string());
        let failed = MembershipError::Resync;
        let version_name = self
            .stored_version(room_id)
            .await
            .ok_or_else(|| MembershipError::Resync("the room is not stored".to_owned()))?;
        let version = RoomVersion::parse(&version_name)
            .map_err(|_| MembershipError::UnsupportedVersion(version_name.clone()))?;
        let room = encode_segment(room_id.as_str());

        let now = crate::room_state::now_ms();
        let path = format!("/_matrix/federation/v1/timestamp_to_event/{room}?ts={now}&dir=b");
        let latest: ClosestEvent = self
            .client
            .request_json::<ClosestEvent, ()>(http::Method::GET, server, &path, None, force())
            .await
            .into_result()
            .map_err(failed)?;
        let at = encode_segment(&latest.event_id);
        let path = format!("/_matrix/federation/v1/state/{room}?event_id={at}");
        let state: StateResponse = self
            .client
            .request_json::<StateResponse, ()>(http::Method::GET, server, &path, None, force())
            .await
            .into_result()
            .map_err(failed)?;
        // `state` is the state *before* the event; the event itself may change it.
        let path = format!("/_matrix/federation/v1/event/{at}");
        let event: EventResponse = self
            .client
            .request_json::<EventResponse, ()>(http::Method::GET, server, &path, None, force())
            .await
            .into_result()
            .map_err(failed)?;

        let mut keys = KeyCollector::with_own_key(self.client.server_name().as_str(), &self.key);
        let mut raw = state.pdus;
        raw.extend(event.pdus.into_iter().filter(|pdu| pdu.get("state_key").is_some()));
        let verified = verify_pdus(&self.keyring, &mut keys, &raw, &version).await;
        let has_create = verified.pdus.iter().any(|pdu| {
            pdu.event_type() == "m.room.create" && pdu.state_key() == Some("") && pdu.room_id() == room_id
        });
        if !has_create {
            return Err(MembershipError::Resync(
                "no verified create event for this room in the state".into(),
            ));
        }
        let report =
            self.tracker.seed(room_id.as_str(), &version, &verified.pdus).await.map_err(store_error)?;
        let ours = self.store.get_state_event(room_id.as_str(), "m.room.member", user.as_str()).await;
        let still_joined = ours
            .map_err(store_error)?
            .is_some_and(|event| event.event["content"]["membership"].as_str() == Some("join"));
        if !still_joined {
            tracing::warn!(room = %room_id, "our user is not joined per the resident's state; marking the room left");
            self.store.set_room_join_state(room_id.as_str(), JoinState::Left).await.map_err(store_error)?;
        }
        Ok(ResyncOutcome::Resynced {
            via: server.clone(),
            at_event: latest.event_id,
            state_stored: report.stored,
            dropped: verified.dropped,
            still_joined,
        })
    }
}
