//! KSUID-like identifiers for communities and federation transactions.

use std::time::{SystemTime, UNIX_EPOCH};

/// KSUID epoch (2014-05-13T16:53:20Z), so IDs sort like policyserv's.
const KSUID_EPOCH_SECS: u64 = 1_400_000_000;

/// A new 27-character, time-ordered, base62 identifier: 4 bytes of seconds since the KSUID epoch
/// followed by 16 random bytes, the same shape as policyserv's KSUIDs.
pub fn new_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = u32::try_from(now.saturating_sub(KSUID_EPOCH_SECS)).unwrap_or(u32::MAX);
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    rand::fill(&mut bytes[4..]);
    base62_fixed(&bytes)
}

/// Base62 of a 160-bit big-endian number, left-padded to 27 digits (the KSUID text form).
fn base62_fixed(bytes: &[u8; 20]) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const LEN: usize = 27;
    // Long division by 62 over base-256 digits.
    let mut number = bytes.to_vec();
    let mut digits = [b'0'; LEN];
    for slot in digits.iter_mut().rev() {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(acc / 62).unwrap_or(u8::MAX);
            remainder = acc % 62;
        }
        *slot = ALPHABET[usize::try_from(remainder).unwrap_or(0)];
    }
    digits.iter().map(|&d| char::from(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_27_base62_chars_and_unique() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 27 && id.chars().all(|c| c.is_ascii_alphanumeric())));
    }

    #[test]
    fn base62_matches_ksuid_extremes() {
        assert_eq!(base62_fixed(&[0; 20]), "000000000000000000000000000");
        // The maximum KSUID, from the KSUID specification.
        assert_eq!(base62_fixed(&[0xff; 20]), "aWgEPTl1tmebfsQzFP4bxwgy80V");
    }
}
