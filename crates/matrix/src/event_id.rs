//! Reference hashes, event IDs and v12 room IDs.

use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId};

use crate::{CanonicalObject, RoomVersion};

/// Why an ID could not be derived from an event.
#[derive(Debug, thiserror::Error)]
pub enum EventIdError {
    /// Hashing failed (the redacted event is too large or malformed).
    #[error("cannot compute reference hash: {0}")]
    Hash(String),
    /// A v1/v2 event has no usable `event_id` field.
    #[error("event has no valid `event_id` (required in room version {0})")]
    MissingEventId(String),
    /// The event is not a create event, so it does not determine a room ID.
    #[error("only an m.room.create event with an empty state key determines a room ID")]
    NotCreateEvent,
    /// The room version does not derive room IDs from the create event.
    #[error("room version {0} does not derive room IDs from the create event")]
    RoomIdNotDerived(String),
}

/// The reference hash of an event: sha256 over its redacted canonical form without signatures, in the base64
/// alphabet of the room version (standard for v3, URL-safe for v4+), unpadded.
pub fn reference_hash(event: &CanonicalObject, version: &RoomVersion) -> Result<String, EventIdError> {
    ruma::signatures::reference_hash(event, version.rules()).map_err(|e| EventIdError::Hash(e.to_string()))
}

/// The reference hash of an event from its signing input ([`crate::redaction::event_signing_input`]), which is
/// exactly what the hash covers: for a caller that needs both, one canonical serialisation instead of two.
pub fn reference_hash_of_signing_input(signing_input: &str, version: &RoomVersion) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(signing_input.as_bytes());
    // Room version 3 writes the hash in standard base64, v4 on in URL-safe base64 (v1/v2 IDs are not hashes).
    if matches!(
        version.rules().event_id_format,
        ruma::room_version_rules::EventIdFormatVersion::V1
            | ruma::room_version_rules::EventIdFormatVersion::V2
    ) {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
    }
}

/// The ID of an event: the `event_id` field in v1/v2 rooms, `$` + reference hash from v3 on.
pub fn event_id(event: &CanonicalObject, version: &RoomVersion) -> Result<OwnedEventId, EventIdError> {
    if version.event_id_in_event() {
        return event_id_field(event, version);
    }
    let hash = reference_hash(event, version)?;
    EventId::new_v2_or_v3(&hash).map_err(|e| EventIdError::Hash(e.to_string()))
}

/// [`event_id`] for an event whose signing input is already at hand.
pub fn event_id_with_signing_input(
    event: &CanonicalObject,
    signing_input: &str,
    version: &RoomVersion,
) -> Result<OwnedEventId, EventIdError> {
    if version.event_id_in_event() {
        return event_id_field(event, version);
    }
    let hash = reference_hash_of_signing_input(signing_input, version);
    EventId::new_v2_or_v3(&hash).map_err(|e| EventIdError::Hash(e.to_string()))
}

/// The `event_id` field of a v1/v2 event.
fn event_id_field(event: &CanonicalObject, version: &RoomVersion) -> Result<OwnedEventId, EventIdError> {
    let missing = || EventIdError::MissingEventId(version.as_str().to_owned());
    let raw = event.get("event_id").and_then(|v| v.as_str()).ok_or_else(missing)?;
    EventId::parse(raw).map_err(|_| missing())
}

/// The room ID a v12+ create event defines: `!` + its reference hash.
pub fn room_id_from_create_event(
    create: &CanonicalObject,
    version: &RoomVersion,
) -> Result<OwnedRoomId, EventIdError> {
    if !version.room_id_is_create_event_hash() {
        return Err(EventIdError::RoomIdNotDerived(version.as_str().to_owned()));
    }
    let is_create = create.get("type").and_then(|v| v.as_str()) == Some("m.room.create")
        && create.get("state_key").and_then(|v| v.as_str()) == Some("");
    if !is_create {
        return Err(EventIdError::NotCreateEvent);
    }
    let hash = reference_hash(create, version)?;
    RoomId::new_v2(&hash).map_err(|e| EventIdError::Hash(e.to_string()))
}
