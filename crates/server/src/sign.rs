//! The `/sign` decision (MSC4284): should the policy server sign this event?
//!
//! Checks run in a fixed order, each failure with its own Matrix error ([`SignError`]): the body is a canonical
//! JSON PDU for a room we know, valid for the room's version with a matching content hash; the room's current
//! `m.room.policy` names us with our current policy key; the caller passes the room's server ACL; the event's own
//! signatures verify. Then the verdict: read back if one is stored for the event (a verdict never flips), else
//! decided by the community's filters and stored before we answer. Concurrent asks about one event share one
//! evaluation.

mod error;
mod evaluation;
mod filter_state;
mod load_shedder;
mod rate_limit;
mod recent_bodies;
mod recent_verdicts;
mod room_cache;
mod room_context;
pub(crate) mod verdict_record;

#[cfg(test)]
mod multi_instance_tests;
#[cfg(test)]
pub(crate) mod test_room;
#[cfg(test)]
mod tests;

use palisade_matrix::{
    CanonicalObject, Pdu, RoomVersion, ServerName, canonical_json,
    event_id::room_id_from_create_event,
    room_policy::ROOM_POLICY_EVENT_TYPE,
    server_acl,
    signing::{PolicySignature, sign_as_policy_server},
};
use palisade_policy::ContentClass;

pub use error::SignError;
pub use evaluation::{DecidedVerdict, Evaluator};
pub use load_shedder::{Admitted, LoadShedder, SHED_RETRY_AFTER};
pub use rate_limit::RateLimiter;
pub use recent_bodies::{BodyHash, RecentBodies, RecentBody, SignedEvent};
pub use room_context::RoomContext;

use crate::{
    event_signatures::{KeyMemo, check_event_signatures},
    http::AppState,
};

/// What the policy server answers for an event.
#[derive(Debug, Clone, PartialEq)]
pub enum SignOutcome {
    /// Neutral or allowed: here is our signature.
    Signed {
        /// The event's ID.
        event_id: String,
        /// The `ed25519:policy_server` signature.
        signature: PolicySignature,
    },
    /// Refused, with the verdict's harms and, for time-bound verdicts, when it ends.
    Refused {
        /// The event's ID.
        event_id: String,
        /// Sorted harm IDs.
        harms: Vec<String>,
        /// When the refusal stops applying (ms since the epoch), for hellbans and rate windows.
        expiry_ms: Option<i64>,
        /// The community's own words for the sender (its `refusal_message`), if it set them.
        message: Option<String>,
    },
}

impl SignOutcome {
    /// The ID of the event decided on.
    pub fn event_id(&self) -> &str {
        match self {
            Self::Signed { event_id, .. } | Self::Refused { event_id, .. } => event_id,
        }
    }

    /// Whether the event was signed.
    pub fn is_signed(&self) -> bool {
        matches!(self, Self::Signed { .. })
    }
}

/// Decides on one `/sign` request from `origin`, whose X-Matrix signature the caller has already checked.
pub async fn sign(state: &AppState, origin: &ServerName, body: &[u8]) -> Result<SignOutcome, SignError> {
    sign_object(state, origin, canonical_json::parse_object(body)?).await
}

/// [`sign`] for a body already parsed (as the X-Matrix check parses it).
pub async fn sign_object(
    state: &AppState,
    origin: &ServerName,
    object: CanonicalObject,
) -> Result<SignOutcome, SignError> {
    Ok(decide_object(state, origin, object).await?.outcome)
}

/// [`sign`] for the body of a `/sign` request, kept among the bodies asked about lately ([`RecentBodies`]), parsed
/// as `object` where the X-Matrix check had to parse it. Once these bytes were signed, a later ask skips what the
/// bytes alone decide (parsing, the PDU checks, the event's signatures, the verdict, our signature); what depends
/// on the asker or on the room's state now is checked again.
pub async fn sign_recent(
    state: &AppState,
    origin: &ServerName,
    body: &RecentBody,
    object: Option<CanonicalObject>,
    raw: &[u8],
) -> Result<SignOutcome, SignError> {
    if let Some(signed) = body.signed() {
        let context = state.evaluator.room_context(state, &signed.room_id).await?;
        check_room(state, &context, origin)?;
        return Ok(SignOutcome::Signed {
            event_id: signed.event_id.clone(),
            signature: signed.signature.clone(),
        });
    }
    let object = match object {
        Some(object) => object,
        None => canonical_json::parse_object(raw)?,
    };
    let decided = decide_object(state, origin, object).await?;
    if let SignOutcome::Signed { event_id, signature } = &decided.outcome {
        body.remember(SignedEvent {
            room_id: decided.room_id,
            event_id: event_id.clone(),
            signature: signature.clone(),
        });
    }
    Ok(decided.outcome)
}

/// What `/sign` decided on an event, and the room it was asked in.
struct Decided {
    room_id: String,
    outcome: SignOutcome,
}

async fn decide_object(
    state: &AppState,
    origin: &ServerName,
    object: CanonicalObject,
) -> Result<Decided, SignError> {
    let room_id = room_id_of(&object)?;
    let context = state.evaluator.room_context(state, &room_id).await?;
    let pdu = Pdu::from_object(object, &context.version)?;
    check_room(state, &context, origin)?;
    let verified = check_event_signatures(state, &pdu, &mut KeyMemo::default())
        .await
        .map_err(SignError::BadSignature)?;
    let event_id = pdu.event_id().to_string();
    // Rooms must always be able to switch their policy server off or change it (MSC4284).
    if pdu.event_type() == ROOM_POLICY_EVENT_TYPE && pdu.state_key() == Some("") {
        let outcome = SignOutcome::Signed { event_id, signature: signature(state, &pdu)? };
        return Ok(Decided { room_id, outcome });
    }
    let verdict = state.evaluator.verdict(state, &context, &pdu, &verified).await?;
    let outcome = match verdict.class() {
        ContentClass::Neutral | ContentClass::Allowed => {
            SignOutcome::Signed { event_id, signature: signature(state, &pdu)? }
        }
        ContentClass::Prohibited => {
            state.evaluator.request_redaction(state, &context, &pdu, origin.as_str()).await;
            SignOutcome::Refused {
                event_id,
                harms: verdict.harms,
                expiry_ms: verdict.expiry_ms,
                message: Evaluator::refusal_message(&context),
            }
        }
    };
    Ok(Decided { room_id, outcome })
}

/// What the room's state now says of any ask: its `m.room.policy` names us with our current key, and its server
/// ACL lets the asker in.
fn check_room(state: &AppState, context: &RoomContext, origin: &ServerName) -> Result<(), SignError> {
    if !context.names_us(&state.server_name, &state.keys.policy.public_key()) {
        return Err(SignError::NotProtected);
    }
    if let Some(acl) = &context.server_acl
        && !server_acl::is_allowed(acl, origin)
    {
        return Err(SignError::DeniedByAcl(origin.to_string()));
    }
    Ok(())
}

/// The room a PDU belongs to: its `room_id`, or for a v12+ create event (which has none) the room it creates.
fn room_id_of(object: &CanonicalObject) -> Result<String, SignError> {
    if let Some(room_id) = object.get("room_id").and_then(|v| v.as_str()) {
        return Ok(room_id.to_owned());
    }
    let version = object
        .get("content")
        .and_then(|c| c.as_object())
        .and_then(|c| c.get("room_version"))
        .and_then(|v| v.as_str())
        .and_then(|v| RoomVersion::parse(v).ok())
        .ok_or_else(|| SignError::BadPdu("field `room_id` is missing".to_owned()))?;
    room_id_from_create_event(object, &version)
        .map(|id| id.to_string())
        .map_err(|_| SignError::BadPdu("field `room_id` is missing".to_owned()))
}

fn signature(state: &AppState, pdu: &Pdu) -> Result<PolicySignature, SignError> {
    sign_as_policy_server(pdu, state.server_name.as_str(), &state.keys.policy)
        .map_err(|e| SignError::BadPdu(e.to_string()))
}
