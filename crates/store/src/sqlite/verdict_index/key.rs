//! The key a verdict is indexed by.

use sha2::{Digest, Sha256};

/// A verdict's index key: the first eight bytes of `SHA-256(room ID ‖ 0xFF ‖ event ID)`, read as a big-endian
/// signed integer (SQLite's `INTEGER`, which orders as Rust's `i64` does).
///
/// Keys are stored, so this never changes. `0xFF` cannot occur in UTF-8, so no other pair of IDs hashes the same
/// bytes. Two events can still share a key (one pair in 2^64): the index gives candidates, and each candidate's
/// row is compared with the IDs before it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct VerdictKey(pub(crate) i64);

impl VerdictKey {
    /// The key of the verdict for `event_id` in `room_id`.
    pub(crate) fn of(room_id: &str, event_id: &str) -> Self {
        let digest =
            Sha256::new().chain_update(room_id).chain_update([0xff]).chain_update(event_id).finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest[..8]);
        Self(i64::from_be_bytes(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers from Python's `hashlib`:
    /// `struct.unpack('>q', sha256(room + b'\xff' + event).digest()[:8])`.
    #[test]
    fn keys_are_the_first_eight_bytes_of_the_ids_sha256() {
        assert_eq!(VerdictKey::of("!r:x", "$e"), VerdictKey(-2_608_921_832_132_138_452));
        assert_eq!(VerdictKey::of("!room:example.org", "$abc"), VerdictKey(-2_017_254_423_838_314_041));
    }

    #[test]
    fn the_separator_keeps_room_and_event_apart() {
        assert_ne!(VerdictKey::of("!r:x", "$e"), VerdictKey::of("!r:x$", "e"));
        assert_ne!(VerdictKey::of("!a:x", "$e"), VerdictKey::of("!b:x", "$e"));
    }
}
