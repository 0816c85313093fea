//! Room versions and their rules.

use ruma::{RoomVersionId, room_version_rules::RoomVersionRules};

/// A room version whose rules Palisade knows (v1 to v12).
#[derive(Clone, Debug)]
pub struct RoomVersion {
    id: RoomVersionId,
    rules: RoomVersionRules,
}

/// A room version string that names no version we implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported room version {0:?}")]
pub struct UnsupportedRoomVersion(pub String);

impl RoomVersion {
    /// Looks up the rules for a version string such as `"10"`.
    pub fn parse(version: &str) -> Result<Self, UnsupportedRoomVersion> {
        let unsupported = || UnsupportedRoomVersion(version.to_owned());
        let id = RoomVersionId::try_from(version).map_err(|_| unsupported())?;
        let rules = id.rules().ok_or_else(unsupported)?;
        Ok(Self { id, rules })
    }

    /// The version string, e.g. `"12"`.
    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }

    /// ruma's rules for this version; only this crate reads them.
    pub(crate) fn rules(&self) -> &RoomVersionRules {
        &self.rules
    }

    /// Whether PDUs of this version carry their own `event_id` (v1, v2) instead of deriving it from a hash.
    pub fn event_id_in_event(&self) -> bool {
        self.rules.event_format.require_event_id
    }

    /// Whether the room ID is the create event's reference hash (v12 and later).
    pub fn room_id_is_create_event_hash(&self) -> bool {
        self.rules.authorization.room_create_event_id_as_room_id
    }

    /// Whether integers and floats must follow the strict canonical JSON rules (v6 and later).
    pub fn strict_canonical_json(&self) -> bool {
        self.rules.authorization.strict_canonical_json
    }

    /// Whether `prev_events`/`auth_events` are plain event IDs (v3+) rather than `[id, hashes]` pairs.
    pub fn references_are_ids(&self) -> bool {
        !matches!(
            self.rules.events_reference_format,
            ruma::room_version_rules::EventsReferenceFormatVersion::V1
        )
    }
}

impl std::fmt::Display for RoomVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_versions_one_to_twelve() {
        for v in 1..=12 {
            let version = RoomVersion::parse(&v.to_string()).unwrap();
            assert_eq!(version.as_str(), v.to_string());
        }
    }

    #[test]
    fn rejects_unknown_versions() {
        for bad in ["0", "13", "", "org.example.custom", "1.0"] {
            assert_eq!(RoomVersion::parse(bad).unwrap_err(), UnsupportedRoomVersion(bad.to_owned()));
        }
    }

    #[test]
    fn rules_follow_the_spec_table() {
        let table = [
            // version, event_id in event, room ID is create hash, strict JSON, references are IDs
            ("1", true, false, false, false),
            ("2", true, false, false, false),
            ("3", false, false, false, true),
            ("5", false, false, false, true),
            ("6", false, false, true, true),
            ("11", false, false, true, true),
            ("12", false, true, true, true),
        ];
        for (v, event_id, room_id, strict, ids) in table {
            let version = RoomVersion::parse(v).unwrap();
            assert_eq!(version.event_id_in_event(), event_id, "v{v}");
            assert_eq!(version.room_id_is_create_event_hash(), room_id, "v{v}");
            assert_eq!(version.strict_canonical_json(), strict, "v{v}");
            assert_eq!(version.references_are_ids(), ids, "v{v}");
        }
    }
}
