//! What a join or leave came to, per resident server tried.

use palisade_matrix::OwnedServerName;

/// Why one resident server could not get us into (or out of) the room.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// `make_join`/`make_leave` failed (the [`crate::Outcome`] failure, described).
    #[error("make request failed: {0}")]
    Make(String),
    /// The room version offered is not one we implement.
    #[error("unsupported room version {0:?}")]
    UnsupportedVersion(String),
    /// The event template is not the membership event we asked for, or cannot be signed.
    #[error("unusable event template: {0}")]
    BadTemplate(String),
    /// `send_join`/`send_leave` failed.
    #[error("send request failed: {0}")]
    Send(String),
    /// The `send_join` response is unusable (e.g. no verifiable create event in the state).
    #[error("unusable send_join response: {0}")]
    BadResponse(String),
    /// A resync request (`timestamp_to_event`, `state`, `event`) failed or its answer is unusable.
    #[error("resync failed: {0}")]
    Resync(String),
    /// Storing the room or its state failed; later servers are not tried.
    #[error("store error: {0}")]
    Store(String),
}

/// The result of [`super::Membership::join_room`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// We are joined; the room and its state are stored.
    Joined {
        /// The resident server that let us in.
        via: OwnedServerName,
        /// The room version.
        room_version: String,
        /// Our join event.
        event_id: String,
        /// State entries stored in the snapshot.
        state_stored: usize,
        /// State and auth-chain PDUs dropped because they failed parsing or signature checks.
        dropped: usize,
    },
    /// No server let us in.
    Failed {
        /// Each server tried, in order, with why it failed.
        per_server_errors: Vec<(OwnedServerName, MembershipError)>,
    },
}

/// The result of [`super::Membership::leave_room`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// Our leave was accepted; the room is marked left.
    Left {
        /// The resident server that took the leave.
        via: OwnedServerName,
        /// Our leave event.
        event_id: String,
    },
    /// No server took our leave.
    Failed {
        /// Each server tried, in order, with why it failed.
        per_server_errors: Vec<(OwnedServerName, MembershipError)>,
    },
}
