//! What applying or seeding state did, per event, so callers can log and tests can assert it.

use super::auth::AuthRejection;

/// Why a PDU did not change the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// It has no state key.
    NotState,
    /// It belongs to another room.
    WrongRoom,
    /// The room is not in the store.
    UnknownRoom,
    /// Its type is not one the snapshot keeps.
    NotTracked,
    /// It is already the stored event.
    AlreadyApplied,
    /// An event deeper in the DAG is already stored for its `(type, state_key)`.
    Stale {
        /// The PDU's depth.
        depth: i64,
        /// The stored event's depth.
        stored_depth: i64,
    },
    /// The auth rules refuse it.
    Unauthorised(AuthRejection),
    /// A redaction whose target is not a current state event of the snapshot: a message, untracked or replaced
    /// state, an event we have not seen, or no target at all (`None`).
    RedactsNothingTracked {
        /// The event it redacts, if it names one.
        target: Option<String>,
    },
    /// A redaction of a state event that is redacted already.
    AlreadyRedacted,
    /// The stored target could not be redacted (a malformed stored event).
    Unredactable(String),
}

/// The result of [`super::RoomStateTracker::apply`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// IDs of the events applied, in the order applied.
    pub applied: Vec<String>,
    /// Redactions applied to the snapshot, in the order applied: (the redaction's ID, the ID of the state event
    /// now stored in its redacted form).
    pub redacted: Vec<(String, String)>,
    /// Events not applied, with the reason.
    pub skipped: Vec<(String, Skipped)>,
}

/// The result of [`super::RoomStateTracker::seed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Entries stored in the new snapshot.
    pub stored: usize,
    /// State events left out (untracked type, other room or version).
    pub ignored: usize,
}
