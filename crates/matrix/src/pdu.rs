//! Untrusted PDUs: parsed and checked for a room version before anything looks at their content.

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::{
    CanonicalObject, MAX_PDU_BYTES, RoomVersion,
    canonical_json::{self, CanonicalJsonError, CanonicalJsonValue, to_canonical_string},
    event_id::{self, EventIdError},
    keys::lenient_base64,
    redaction::{self, RedactionError},
};

mod fields;

use fields::{FIELD_RULES, FieldKind, Requirement};

/// A PDU whose shape, size and content hash have been checked for its room version.
///
/// The content hash is verified at parse time: a PDU whose `hashes.sha256` does not match its content is an error,
/// never silently treated as redacted, so nothing downstream can sign content it did not see.
#[derive(Clone, Debug)]
pub struct Pdu {
    object: CanonicalObject,
    /// The redacted event without `signatures` and `unsigned` in canonical form: what the sender's and the policy
    /// server's signatures cover and the reference hash hashes, serialised once.
    signing_input: String,
    /// Bytes of the whole PDU in canonical form.
    canonical_len: usize,
    version: RoomVersion,
    event_id: OwnedEventId,
    room_id: OwnedRoomId,
    sender: OwnedUserId,
}

/// Why a PDU was rejected. [`PduError::errcode`] gives the Matrix error code to answer with.
#[derive(Debug, thiserror::Error)]
pub enum PduError {
    /// The bytes are not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The PDU is larger than the spec's limit.
    #[error("PDU is {0} bytes of canonical JSON, more than the limit of {MAX_PDU_BYTES}")]
    TooLarge(usize),
    /// The JSON breaks canonical-JSON rules.
    #[error("PDU is not canonical JSON: {0}")]
    NotCanonical(String),
    /// A field is missing or has the wrong type for this room version.
    #[error("field `{field}` {problem}")]
    Field {
        /// The offending top-level field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// `hashes.sha256` does not match the content.
    #[error("content hash mismatch: the event claims {claimed} but its content hashes to {computed}")]
    ContentHashMismatch {
        /// The hash the event carries.
        claimed: String,
        /// The hash of what it contains.
        computed: String,
    },
    /// An ID could not be derived.
    #[error(transparent)]
    EventId(#[from] EventIdError),
    /// Redaction failed on a malformed field.
    #[error(transparent)]
    Redaction(#[from] RedactionError),
}

impl PduError {
    /// The Matrix `errcode` for this rejection.
    pub fn errcode(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "M_NOT_JSON",
            Self::TooLarge(_) => "M_TOO_LARGE",
            _ => "M_BAD_JSON",
        }
    }
}

impl From<CanonicalJsonError> for PduError {
    fn from(error: CanonicalJsonError) -> Self {
        match error {
            CanonicalJsonError::NotJson(e) => Self::NotJson(e),
            CanonicalJsonError::NotCanonical(e) => Self::NotCanonical(e),
        }
    }
}

impl Pdu {
    /// Parses and checks untrusted PDU bytes for `version`.
    pub fn parse(bytes: &[u8], version: &RoomVersion) -> Result<Self, PduError> {
        // Canonical JSON is never longer than its input by more than escaping changes, so a body far over the limit
        // is refused before it is parsed.
        if bytes.len() > 4 * MAX_PDU_BYTES {
            return Err(PduError::TooLarge(bytes.len()));
        }
        Self::from_object(canonical_json::parse_object(bytes)?, version)
    }

    /// Checks an already parsed object for `version`.
    pub fn from_object(mut object: CanonicalObject, version: &RoomVersion) -> Result<Self, PduError> {
        if !version.event_id_in_event() {
            // From v3 on the ID is derived, not part of the event; some servers send it anyway. It is covered by
            // neither hash nor signature, so dropping it keeps both checks and our signature independent of it.
            object.remove("event_id");
        }
        let canonical_len = to_canonical_string(&object).len();
        if canonical_len > MAX_PDU_BYTES {
            return Err(PduError::TooLarge(canonical_len));
        }
        check_fields(&object, version)?;
        let sender = parse_sender(&object)?;
        let room_id = room_id_of(&object, version)?;
        check_content_hash(&object)?;
        let signing_input = redaction::event_signing_input(&object, version)?;
        let event_id = event_id::event_id_with_signing_input(&object, &signing_input, version)?;
        Ok(Self { object, signing_input, canonical_len, version: version.clone(), event_id, room_id, sender })
    }

    /// The event ID (taken from the event in v1/v2, derived from the reference hash from v3 on).
    pub fn event_id(&self) -> &OwnedEventId {
        &self.event_id
    }

    /// The room the event belongs to (derived from the create event itself in v12+).
    pub fn room_id(&self) -> &OwnedRoomId {
        &self.room_id
    }

    /// The sender's user ID.
    pub fn sender(&self) -> &OwnedUserId {
        &self.sender
    }

    /// The room version the PDU was checked against.
    pub fn version(&self) -> &RoomVersion {
        &self.version
    }

    /// The event type.
    pub fn event_type(&self) -> &str {
        self.str_field("type").unwrap_or_default()
    }

    /// The state key, if this is a state event.
    pub fn state_key(&self) -> Option<&str> {
        self.str_field("state_key")
    }

    /// The event content.
    pub fn content(&self) -> &CanonicalObject {
        static EMPTY: CanonicalObject = CanonicalObject::new();
        self.object.get("content").and_then(CanonicalJsonValue::as_object).unwrap_or(&EMPTY)
    }

    /// `origin_server_ts` in milliseconds.
    pub fn origin_server_ts(&self) -> i64 {
        self.object
            .get("origin_server_ts")
            .and_then(CanonicalJsonValue::as_integer)
            .map(i64::from)
            .unwrap_or(0)
    }

    /// The length in bytes of the whole PDU in canonical form (what the size limit applies to).
    pub fn canonical_len(&self) -> usize {
        self.canonical_len
    }

    /// The whole PDU as received (canonical form).
    pub fn as_object(&self) -> &CanonicalObject {
        &self.object
    }

    /// The whole PDU as a plain JSON value, for layers that do not use ruma types.
    pub fn to_json_value(&self) -> serde_json::Value {
        canonical_json::to_json_value(&self.object)
    }

    /// The redacted form of the PDU.
    pub fn redacted(&self) -> Result<CanonicalObject, RedactionError> {
        redaction::redact(&self.object, &self.version)
    }

    /// For an `m.room.redaction`, the ID of the event it redacts (top-level `redacts` before v11, `content.redacts`
    /// from v11 on); `None` for other events.
    pub fn redacts(&self) -> Option<&str> {
        redaction::redaction_target(&self.object, &self.version)
    }

    /// The exact bytes event signatures cover, the policy server's included: the redacted event without
    /// `signatures` and `unsigned`. (The policy signature also leaves out `event_id` in rooms whose event IDs are
    /// hashes; a PDU never holds one there, see [`Pdu::from_object`].)
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    /// The reference hash (which is also the event ID without `$` from v3 on).
    pub fn reference_hash(&self) -> Result<String, EventIdError> {
        event_id::reference_hash(&self.object, &self.version)
    }

    fn str_field(&self, name: &str) -> Option<&str> {
        self.object.get(name).and_then(CanonicalJsonValue::as_str)
    }
}

/// Applies [`FIELD_RULES`] to the top-level fields.
fn check_fields(object: &CanonicalObject, version: &RoomVersion) -> Result<(), PduError> {
    for rule in FIELD_RULES {
        let required = match rule.requirement {
            Requirement::Always => true,
            Requirement::Optional => false,
            Requirement::WhenEventIdInEvent => version.event_id_in_event(),
            Requirement::UnlessV12Create => !is_v12_create(object, version),
        };
        match object.get(rule.name) {
            None if required => {
                return Err(PduError::Field { field: rule.name, problem: "is missing".to_owned() });
            }
            None => {}
            Some(value) => {
                if let Err(problem) = rule.kind.check(value, version) {
                    return Err(PduError::Field { field: rule.name, problem });
                }
            }
        }
    }
    if is_v12_create(object, version) && object.contains_key("room_id") {
        return Err(PduError::Field {
            field: "room_id",
            problem: "must be absent from a create event in this room version".to_owned(),
        });
    }
    Ok(())
}

fn is_v12_create(object: &CanonicalObject, version: &RoomVersion) -> bool {
    version.room_id_is_create_event_hash()
        && object.get("type").and_then(CanonicalJsonValue::as_str) == Some("m.room.create")
        && object.get("state_key").and_then(CanonicalJsonValue::as_str) == Some("")
}

/// The content hash an event claims (`hashes.sha256`) next to the one its content actually has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentHashes {
    /// `hashes.sha256` as sent, if present.
    pub claimed: Option<String>,
    /// sha256 of the event without `hashes`, `signatures` and `unsigned`, unpadded base64.
    pub computed: String,
}

impl ContentHashes {
    /// Computes both hashes of an event object.
    pub fn of(object: &CanonicalObject) -> Result<Self, PduError> {
        let claimed = object
            .get("hashes")
            .and_then(CanonicalJsonValue::as_object)
            .and_then(|hashes| hashes.get("sha256"))
            .and_then(CanonicalJsonValue::as_str)
            .map(str::to_owned);
        let computed = ruma::signatures::content_hash(object)
            .map_err(|e| PduError::Field { field: "hashes", problem: e.to_string() })?
            .encode();
        Ok(Self { claimed, computed })
    }

    /// Whether the claimed hash matches (lenient base64, as Synapse accepts).
    pub fn matches(&self) -> bool {
        let computed = lenient_base64::decode(&self.computed).unwrap_or_default();
        self.claimed
            .as_deref()
            .is_some_and(|claimed| lenient_base64::decode(claimed).is_ok_and(|b| b == computed))
    }
}

/// Recomputes the content hash and compares it with `hashes.sha256`.
fn check_content_hash(object: &CanonicalObject) -> Result<(), PduError> {
    let hashes = ContentHashes::of(object)?;
    if hashes.matches() {
        return Ok(());
    }
    match hashes.claimed {
        None => Err(PduError::Field { field: "hashes", problem: "has no `sha256` string".to_owned() }),
        Some(claimed) => Err(PduError::ContentHashMismatch { claimed, computed: hashes.computed }),
    }
}

fn parse_sender(object: &CanonicalObject) -> Result<OwnedUserId, PduError> {
    let raw = object.get("sender").and_then(CanonicalJsonValue::as_str).unwrap_or_default();
    UserId::parse(raw)
        .map_err(|e| PduError::Field { field: "sender", problem: format!("is not a user ID: {e}") })
}

fn room_id_of(object: &CanonicalObject, version: &RoomVersion) -> Result<OwnedRoomId, PduError> {
    if is_v12_create(object, version) {
        return Ok(event_id::room_id_from_create_event(object, version)?);
    }
    let raw = object.get("room_id").and_then(CanonicalJsonValue::as_str).unwrap_or_default();
    RoomId::parse(raw)
        .map_err(|e| PduError::Field { field: "room_id", problem: format!("is not a room ID: {e}") })
}

impl FieldKind {
    /// Checks one value against this kind; the error says what is wrong.
    fn check(self, value: &CanonicalJsonValue, version: &RoomVersion) -> Result<(), String> {
        let ok = match self {
            Self::String => value.as_str().is_some(),
            Self::Object => value.as_object().is_some(),
            Self::NonNegativeInteger => value.as_integer().is_some_and(|i| i64::from(i) >= 0),
            Self::Integer => value.as_integer().is_some(),
            Self::EventReferences => return check_references(value, version),
        };
        if ok { Ok(()) } else { Err(format!("must be {}", self.describe())) }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Object => "an object",
            Self::NonNegativeInteger => "a non-negative integer",
            Self::Integer => "an integer",
            Self::EventReferences => "a list of event references",
        }
    }
}

/// `prev_events`/`auth_events`: event IDs from v3 on, `[event_id, {hashes}]` pairs before.
fn check_references(value: &CanonicalJsonValue, version: &RoomVersion) -> Result<(), String> {
    let items = value.as_array().ok_or("must be an array")?;
    for item in items {
        let ok = if version.references_are_ids() {
            item.as_str().is_some()
        } else {
            item.as_array().is_some_and(|pair| {
                pair.len() == 2 && pair[0].as_str().is_some() && pair[1].as_object().is_some()
            })
        };
        if !ok {
            let expected =
                if version.references_are_ids() { "event ID strings" } else { "[event_id, hashes] pairs" };
            return Err(format!("must contain {expected} in room version {version}"));
        }
    }
    Ok(())
}
