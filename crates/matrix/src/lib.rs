//! The Matrix protocol as Palisade needs it: a thin facade over ruma.
//!
//! Every ruma call in the project lives in this crate, so a ruma upgrade touches one place. Nothing here does I/O.
//!
//! * [`RoomVersion`]: the rules of a room version, asked as data instead of matching version strings.
//! * [`canonical_json`]: parsing untrusted JSON into canonical form, and writing it back.
//! * [`Pdu`]: an untrusted PDU checked for its room version (size, fields, content hash).
//! * [`event_id`], [`redaction`]: reference hashes, event IDs, v12 room IDs and redaction.
//! * [`keys`]: ed25519 signing keys and the key-file formats operators bring.
//! * [`signing`]: event signatures, and the policy server's `ed25519:policy_server` signature.
//! * [`x_matrix`]: the `Authorization: X-Matrix` scheme of server-server requests.
//! * [`room_policy`]: the `m.room.policy` state event, stable and unstable (MSC4284).

pub mod canonical_json;
pub mod event_id;
pub mod keys;
pub mod path_segment;
pub mod pdu;
pub mod policy_command;
pub mod redaction;
pub mod room_policy;
pub mod room_version;
pub mod server_acl;
pub mod server_keys;
pub mod signing;
pub mod unstable;
pub mod verifying_keys;
pub mod x_matrix;

pub use canonical_json::{CanonicalJsonError, CanonicalObject};
pub use keys::{KeyFileError, SigningKey};
pub use pdu::{ContentHashes, Pdu, PduError};
pub use room_policy::RoomPolicy;
pub use room_version::{RoomVersion, UnsupportedRoomVersion};

/// Re-exported so callers name server names and IDs without depending on ruma themselves.
pub use ruma::{OwnedEventId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, ServerName, UserId};

/// The largest PDU the spec allows, in bytes of canonical JSON including signatures.
pub const MAX_PDU_BYTES: usize = 65_536;
