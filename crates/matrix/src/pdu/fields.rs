//! The top-level fields of a PDU and when each is required, as data.

/// What a field's value must be.
#[derive(Clone, Copy, Debug)]
pub(super) enum FieldKind {
    String,
    Object,
    Integer,
    NonNegativeInteger,
    /// `prev_events` / `auth_events`, whose element shape depends on the room version.
    EventReferences,
}

/// When a field must be present.
#[derive(Clone, Copy, Debug)]
pub(super) enum Requirement {
    Always,
    Optional,
    /// Only in room versions whose events carry their own ID (v1, v2).
    WhenEventIdInEvent,
    /// Always, except on a v12+ create event, which has no `room_id`.
    UnlessV12Create,
}

/// One top-level field rule.
#[derive(Debug)]
pub(super) struct FieldRule {
    pub(super) name: &'static str,
    pub(super) kind: FieldKind,
    pub(super) requirement: Requirement,
}

const fn rule(name: &'static str, kind: FieldKind, requirement: Requirement) -> FieldRule {
    FieldRule { name, kind, requirement }
}

/// The PDU format of the server-server API ("PDUs" and the room version event formats).
pub(super) const FIELD_RULES: &[FieldRule] = &[
    rule("type", FieldKind::String, Requirement::Always),
    rule("sender", FieldKind::String, Requirement::Always),
    rule("room_id", FieldKind::String, Requirement::UnlessV12Create),
    rule("content", FieldKind::Object, Requirement::Always),
    rule("origin_server_ts", FieldKind::Integer, Requirement::Always),
    rule("depth", FieldKind::NonNegativeInteger, Requirement::Always),
    rule("prev_events", FieldKind::EventReferences, Requirement::Always),
    rule("auth_events", FieldKind::EventReferences, Requirement::Always),
    rule("hashes", FieldKind::Object, Requirement::Always),
    rule("signatures", FieldKind::Object, Requirement::Always),
    rule("event_id", FieldKind::String, Requirement::WhenEventIdInEvent),
    rule("state_key", FieldKind::String, Requirement::Optional),
    rule("redacts", FieldKind::String, Requirement::Optional),
    rule("unsigned", FieldKind::Object, Requirement::Optional),
    rule("origin", FieldKind::String, Requirement::Optional),
];
