//! `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`: another server invites our user.
//!
//! The invited server counter-signs the invite event and returns it; the inviting server can only send the
//! invite into the room with that signature. Whether we sign is the operator's choice
//! (`federation.accept_invites`). An accepted invite is followed by a background join of the room (into the
//! `default` community) through the inviting server, retried while the invite reaches the room.

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use palisade_matrix::{
    CanonicalObject, OwnedUserId, Pdu, RoomVersion,
    canonical_json::{self, CanonicalJsonValue},
    redaction::event_signing_input,
};
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};
use tracing::info;

use super::{FederationRequest, InboundSettings, UserLookup};
use crate::event_signatures::{KeyMemo, check_event_signatures};
use crate::{
    config::AcceptInvites,
    http::{AppState, MatrixError},
};

/// How long after counter-signing we start joining: the inviting server sends the invite into the room after our
/// answer, and `make_join` of an invite-only room fails until it has.
const INVITE_JOIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Deserialize)]
struct InviteBody {
    room_version: String,
    event: Box<RawValue>,
}

/// The operator policy's answer to one invite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InviteDecision {
    /// Counter-sign it.
    Accept,
    /// Refuse with 403 and this reason.
    Refuse(&'static str),
}

/// Applies `federation.accept_invites` to an invite from a user of `sender_server` into `room_id`.
pub(crate) fn decide(settings: &InboundSettings, sender_server: &str, room_id: &str) -> InviteDecision {
    match settings.accept_invites {
        AcceptInvites::Never => InviteDecision::Refuse("Invites are not accepted by this policy server"),
        AcceptInvites::Always => InviteDecision::Accept,
        AcceptInvites::Listed
            if settings.invite_allowed_servers.contains(sender_server)
                || settings.invite_allowed_rooms.contains(room_id) =>
        {
            InviteDecision::Accept
        }
        AcceptInvites::Listed => {
            InviteDecision::Refuse("Invites are only accepted from listed servers or into listed rooms")
        }
    }
}

type Params = (String, String);

pub(super) async fn put(
    State(state): State<AppState>,
    params: Result<Path<Params>, PathRejection>,
    request: FederationRequest,
) -> Result<Json<Value>, MatrixError> {
    let Path((room_id, event_id)) = params.map_err(|e| bad_request("M_INVALID_PARAM", format!("{e}")))?;
    let body: InviteBody = serde_json::from_slice(&request.body)
        .map_err(|e| bad_request("M_BAD_JSON", format!("Malformed invite request: {e}")))?;
    let version = RoomVersion::parse(&body.room_version).map_err(|_| {
        bad_request(
            "M_INCOMPATIBLE_ROOM_VERSION",
            format!("Room version {} is not supported", body.room_version),
        )
        .with("room_version", body.room_version.clone())
    })?;
    let pdu = Pdu::parse(body.event.get().as_bytes(), &version)
        .map_err(|e| bad_request(e.errcode(), format!("Invalid invite event: {e}")))?;
    let invitee = check_shape(&pdu, &room_id, &event_id)?;
    if UserLookup::of(&invitee, &state.server_name, &state.inbound.settings) != UserLookup::Ours {
        return Err(forbidden(format!("{invitee} is not a user of this server")));
    }
    let sender_server = pdu.sender().server_name();
    if sender_server != request.origin {
        return Err(forbidden(format!(
            "The invite's sender is not from the requesting server {}",
            request.origin
        )));
    }
    // The operator's policy comes before signature checks, so a refused invite costs no key fetch.
    if let InviteDecision::Refuse(reason) = decide(&state.inbound.settings, sender_server.as_str(), &room_id)
    {
        info!(room_id, sender = %pdu.sender(), "refused an invite");
        return Err(forbidden(reason.to_owned()));
    }
    check_event_signatures(&state, &pdu, &mut KeyMemo::default())
        .await
        .map_err(|reason| forbidden(format!("Invite signatures: {reason}")))?;
    let signed = countersign(&state, &pdu, &version)?;
    info!(room_id, sender = %pdu.sender(), "accepted an invite; joining");
    drop(state.rooms.spawn_join_after(
        INVITE_JOIN_DELAY,
        pdu.room_id().clone(),
        crate::rooms::DEFAULT_COMMUNITY.to_owned(),
        Some(request.origin.clone()),
    ));
    Ok(Json(json!({"event": canonical_json::to_json_value(&signed)})))
}

/// The invite must be an `m.room.member` invite of one user, for the room and event the path names.
fn check_shape(pdu: &Pdu, room_id: &str, event_id: &str) -> Result<OwnedUserId, MatrixError> {
    let membership = pdu.content().get("membership").and_then(CanonicalJsonValue::as_str);
    if pdu.event_type() != "m.room.member" || membership != Some("invite") {
        return Err(bad_request("M_BAD_JSON", "The event is not an m.room.member invite".to_owned()));
    }
    if pdu.room_id().as_str() != room_id {
        return Err(bad_request(
            "M_BAD_JSON",
            format!("The event is for room {}, not {room_id}", pdu.room_id()),
        ));
    }
    if pdu.event_id().as_str() != event_id {
        return Err(bad_request(
            "M_BAD_JSON",
            format!("The event's ID is {}, not {event_id}", pdu.event_id()),
        ));
    }
    let state_key = pdu.state_key().unwrap_or_default();
    OwnedUserId::try_from(state_key)
        .map_err(|e| bad_request("M_BAD_JSON", format!("state_key {state_key:?} is not a user ID: {e}")))
}

/// Adds our federation-key signature to the event, over its redacted form as every event signature is.
fn countersign(state: &AppState, pdu: &Pdu, version: &RoomVersion) -> Result<CanonicalObject, MatrixError> {
    let mut event = pdu.as_object().clone();
    let input = event_signing_input(&event, version).map_err(|e| bad_request("M_BAD_JSON", e.to_string()))?;
    let key = &state.keys.federation;
    let signature = CanonicalJsonValue::String(key.sign_base64(input.as_bytes()));
    let signatures = event
        .entry("signatures".to_owned())
        .or_insert_with(|| CanonicalJsonValue::Object(CanonicalObject::new()));
    if let CanonicalJsonValue::Object(servers) = signatures {
        let ours = servers
            .entry(state.server_name.to_string())
            .or_insert_with(|| CanonicalJsonValue::Object(CanonicalObject::new()));
        if let CanonicalJsonValue::Object(keys) = ours {
            keys.insert(key.key_id(), signature);
            return Ok(event);
        }
    }
    // Pdu::parse checked that `signatures` is an object of objects; reaching this means it did not.
    Err(bad_request("M_BAD_JSON", "The event's signatures are malformed".to_owned()))
}

fn bad_request(errcode: &'static str, message: String) -> MatrixError {
    MatrixError::new(StatusCode::BAD_REQUEST, errcode, message)
}

fn forbidden(message: String) -> MatrixError {
    MatrixError::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(policy: AcceptInvites) -> InboundSettings {
        InboundSettings {
            accept_invites: policy,
            invite_allowed_servers: ["friends.example".to_owned()].into(),
            invite_allowed_rooms: ["!listed:elsewhere.example".to_owned()].into(),
            ..InboundSettings::default()
        }
    }

    #[test]
    fn the_policy_table() {
        let cases = [
            (AcceptInvites::Never, "friends.example", "!listed:elsewhere.example", false),
            (AcceptInvites::Always, "stranger.example", "!other:stranger.example", true),
            (AcceptInvites::Listed, "friends.example", "!other:friends.example", true),
            (AcceptInvites::Listed, "stranger.example", "!listed:elsewhere.example", true),
            (AcceptInvites::Listed, "stranger.example", "!other:stranger.example", false),
        ];
        for (policy, server, room, accepted) in cases {
            let decision = decide(&settings(policy), server, room);
            assert_eq!(
                decision == InviteDecision::Accept,
                accepted,
                "{policy} {server} {room}: {decision:?}"
            );
        }
    }
}
