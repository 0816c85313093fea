//! MSC4284's unstable identifiers, which ruma does not define. Deleting this module is the whole clean-up once
//! nobody uses them.

/// The unstable policy state event type; its content has a singular `public_key`.
pub const ROOM_POLICY_EVENT_TYPE: &str = "org.matrix.msc4284.policy";

/// The unstable `/sign` endpoint; it refuses with `200 {}` instead of `400 M_FORBIDDEN`.
pub const SIGN_PATH: &str = "/_matrix/policy/unstable/org.matrix.msc4284/sign";

/// The legacy check endpoint (`{"recommendation": "ok" | "spam"}`), used by older homeservers.
pub const CHECK_PATH_PREFIX: &str = "/_matrix/policy/unstable/org.matrix.msc4284/event/";

/// The unstable discovery document, `{"public_key": ...}`.
pub const WELL_KNOWN_PATH: &str = "/.well-known/matrix/org.matrix.msc4284.policy_server";

/// The stable `/sign` endpoint (Matrix 1.18).
pub const STABLE_SIGN_PATH: &str = "/_matrix/policy/v1/sign";

/// The stable discovery document, `{"public_keys": {"ed25519": ...}}`.
pub const STABLE_WELL_KNOWN_PATH: &str = "/.well-known/matrix/policy_server";
