//! Redactions of tracked state. An authorised `m.room.redaction` whose target is a current state event of the
//! snapshot replaces that event with its redacted form (the room version's redaction algorithm), so what the
//! redaction removes stops being in effect: a redacted policy rule has empty content, which the policy-list
//! parser reads as no rule; a redacted topic has none; a redacted power-levels event keeps only the levels the
//! algorithm keeps.
//!
//! Only a target that is current state when the redaction is judged is redacted. A redaction that arrives before
//! its target is not remembered, and one whose target was already replaced changes nothing.

use palisade_matrix::{
    Pdu, canonical_json,
    redaction::{self, Origin},
};
use palisade_store::StateEvent;
use serde_json::Value;

use super::{auth, current::CurrentState, report::Skipped};

/// Whether `pdu` is a redaction, to be judged by [`redacted_target`] rather than as a state event.
pub(crate) fn is_redaction(pdu: &Pdu) -> bool {
    pdu.event_type() == redaction::REDACTION_EVENT_TYPE
}

/// The redacted form of the state event `pdu` (an `m.room.redaction`) redacts, to store in its place; or why the
/// snapshot does not change.
pub(crate) fn redacted_target(state: &CurrentState, room_id: &str, pdu: &Pdu) -> Result<StateEvent, Skipped> {
    if pdu.room_id().as_str() != room_id {
        return Err(Skipped::WrongRoom);
    }
    let Some(target_id) = pdu.redacts() else {
        return Err(Skipped::RedactsNothingTracked { target: None });
    };
    let Some((event_type, state_key, target)) = state.find(target_id) else {
        return Err(Skipped::RedactsNothingTracked { target: Some(target_id.to_owned()) });
    };
    let sender = pdu.sender().as_str();
    let target_sender = target.get("sender").and_then(Value::as_str).unwrap_or_default();
    let same_origin = redaction::same_origin(
        Origin { event_id: pdu.event_id().as_str(), sender },
        Origin { event_id: target_id, sender: target_sender },
        pdu.version(),
    );
    // Infinite creator power (MSC4289) comes with hashed room IDs (v12), as in `super::judge`.
    let privileged_creators = pdu.version().room_id_is_create_event_hash();
    auth::authorise_redaction(state, sender, privileged_creators, same_origin)
        .map_err(Skipped::Unauthorised)?;

    let object =
        canonical_json::from_value(target.clone()).map_err(|e| Skipped::Unredactable(e.to_string()))?;
    let redacted =
        redaction::redact(&object, pdu.version()).map_err(|e| Skipped::Unredactable(e.to_string()))?;
    let event = canonical_json::to_json_value(&redacted);
    if event == *target {
        return Err(Skipped::AlreadyRedacted);
    }
    Ok(StateEvent {
        event_type: event_type.to_owned(),
        state_key: state_key.to_owned(),
        event_id: target_id.to_owned(),
        event,
    })
}
