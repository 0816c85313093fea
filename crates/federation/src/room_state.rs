//! The live room-state tracker: keeps each room's stored snapshot (create, power levels, members, join rules,
//! ACL, policy, policy-list rules) current from the PDUs we receive, applying only authorised updates.
//!
//! * [`RoomStateTracker::seed`] replaces the snapshot with the state a `send_join` response gave us.
//! * [`RoomStateTracker::apply`] applies new state events (from `/send`, or our own join/leave) one by one, in
//!   `depth` order, each judged by [`auth::authorise`] against the state including the ones before it. An
//!   authorised `m.room.redaction` of a current state event replaces that event with its redacted form
//!   (`redaction.rs`).
//!
//! Ordering: an event whose `depth` is lower than the stored event's for the same `(type, state_key)` is ignored
//! as stale. Depth is the event's position in the room DAG as its sender saw it; timestamps are set by the
//! sender's clock and say nothing about causality, so they are not used. Equal depths (concurrent forks) are
//! accepted in arrival order; real state resolution between forks is not done here.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use palisade_matrix::{Pdu, RoomVersion, canonical_json::CanonicalJsonValue};
use palisade_store::{StateEvent, Store, StoreResult};

pub mod auth;
mod current;
pub mod power;
mod redaction;
mod report;
mod tracked;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

pub use auth::{AuthRejection, Candidate};
pub use power::Power;
pub use report::{ApplyReport, SeedReport, Skipped};
pub use tracked::is_tracked;

use current::CurrentState;

/// Keeps rooms' state snapshots in the store current.
///
/// Clones share one lock: each `apply` or `seed` reads the snapshot, judges and writes as one step, so two
/// transactions carrying events for one room (say the same event from two servers) cannot interleave and let a
/// shallower event overwrite a deeper one.
#[derive(Clone)]
pub struct RoomStateTracker {
    store: Arc<dyn Store>,
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for RoomStateTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomStateTracker").finish_non_exhaustive()
    }
}

impl RoomStateTracker {
    /// A tracker writing to `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, writing: Arc::default() }
    }

    /// Applies the tracked state events among `pdus` to `room_id`'s snapshot. Each is checked for room, type,
    /// staleness and authorisation against the state as it stands after the events before it (sorted by depth).
    /// Redactions among them redact their target if it is a current state event and they are authorised.
    /// Rooms the store does not know are left alone: every PDU is reported as [`Skipped::UnknownRoom`].
    pub async fn apply(&self, room_id: &str, pdus: &[Pdu]) -> StoreResult<ApplyReport> {
        let _writing = self.writing.lock().await;
        let mut report = ApplyReport::default();
        if self.store.get_room(room_id).await?.is_none() {
            report.skipped =
                pdus.iter().map(|pdu| (pdu.event_id().to_string(), Skipped::UnknownRoom)).collect();
            return Ok(report);
        }
        let mut state = CurrentState::from_stored(self.store.get_room_state(room_id).await?);
        let mut ordered: Vec<&Pdu> = pdus.iter().collect();
        ordered.sort_by_key(|pdu| depth_of(pdu));
        let mut accepted = Vec::new();
        for pdu in ordered {
            let is_redaction = redaction::is_redaction(pdu);
            let outcome = if is_redaction {
                redaction::redacted_target(&state, room_id, pdu)
            } else {
                judge(&state, room_id, pdu).map(|()| state_event(pdu))
            };
            match outcome {
                Ok(entry) => {
                    state.insert(&entry.event_type, &entry.state_key, &entry.event_id, entry.event.clone());
                    if is_redaction {
                        report.redacted.push((pdu.event_id().to_string(), entry.event_id.clone()));
                    } else {
                        report.applied.push(entry.event_id.clone());
                    }
                    accepted.push(entry);
                }
                Err(skipped) => report.skipped.push((pdu.event_id().to_string(), skipped)),
            }
        }
        // Later events for one key replace earlier ones within the batch too (and a redacted form replaces the
        // event it redacts), so only the last is written.
        accepted.reverse();
        let mut seen = std::collections::BTreeSet::new();
        accepted.retain(|e| seen.insert((e.event_type.clone(), e.state_key.clone())));
        if !accepted.is_empty() {
            self.store.put_state_events(room_id, &accepted).await?;
        }
        Ok(report)
    }

    /// Replaces `room_id`'s snapshot with the tracked events of `state` (the room's state from a `send_join`
    /// response, already signature-checked), keeping the deepest event per `(type, state_key)`. The room must
    /// already be stored. The resident server's state is taken as resolved: it is not re-authorised here.
    pub async fn seed(&self, room_id: &str, version: &RoomVersion, state: &[Pdu]) -> StoreResult<SeedReport> {
        let _writing = self.writing.lock().await;
        let mut current = std::collections::BTreeMap::<(String, String), (i64, StateEvent)>::new();
        let mut report = SeedReport::default();
        for pdu in state {
            let Some(state_key) = pdu.state_key() else { continue };
            if pdu.room_id().as_str() != room_id || pdu.version().as_str() != version.as_str() {
                report.ignored += 1;
                continue;
            }
            if !is_tracked(pdu.event_type(), state_key) {
                report.ignored += 1;
                continue;
            }
            let key = (pdu.event_type().to_owned(), state_key.to_owned());
            let depth = depth_of(pdu);
            if current.get(&key).is_none_or(|(stored, _)| *stored <= depth) {
                current.insert(key, (depth, state_event(pdu)));
            }
        }
        let events: Vec<StateEvent> = current.into_values().map(|(_, event)| event).collect();
        report.stored = events.len();
        self.store.replace_room_state(room_id, &events, now_ms()).await?;
        Ok(report)
    }
}

/// Whether `pdu` may change `state`, or why not.
fn judge(state: &CurrentState, room_id: &str, pdu: &Pdu) -> Result<(), Skipped> {
    let Some(state_key) = pdu.state_key() else { return Err(Skipped::NotState) };
    if pdu.room_id().as_str() != room_id {
        return Err(Skipped::WrongRoom);
    }
    let event_type = pdu.event_type();
    if !is_tracked(event_type, state_key) {
        return Err(Skipped::NotTracked);
    }
    if state.event_id(event_type, state_key) == Some(pdu.event_id().as_str()) {
        return Err(Skipped::AlreadyApplied);
    }
    if let Some(stored) = state.depth(event_type, state_key)
        && depth_of(pdu) < stored
    {
        return Err(Skipped::Stale { depth: depth_of(pdu), stored_depth: stored });
    }
    let content = pdu.to_json_value().get("content").cloned().unwrap_or_default();
    let candidate = Candidate {
        event_type,
        state_key,
        sender: pdu.sender().as_str(),
        content: &content,
        // Infinite creator power (MSC4289) arrived in v12 together with hashed room IDs; the matrix crate exposes
        // the latter, and no version has one without the other.
        privileged_creators: pdu.version().room_id_is_create_event_hash(),
    };
    auth::authorise(state, &candidate).map_err(Skipped::Unauthorised)
}

/// The stored form of a state PDU: the full event as received.
fn state_event(pdu: &Pdu) -> StateEvent {
    StateEvent {
        event_type: pdu.event_type().to_owned(),
        state_key: pdu.state_key().unwrap_or_default().to_owned(),
        event_id: pdu.event_id().to_string(),
        event: pdu.to_json_value(),
    }
}

/// The PDU's `depth` (checked non-negative at parse time).
fn depth_of(pdu: &Pdu) -> i64 {
    pdu.as_object().get("depth").and_then(CanonicalJsonValue::as_integer).map(i64::from).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
