//! Hashing of community API access tokens.

use sha2::{Digest, Sha256};

/// The stored form of an access token: lower-case hex sha256.
///
/// Tokens are high-entropy random strings, so an unsalted fast hash is enough to make a leaked
/// database useless for authentication, and it keeps lookup a plain indexed equality match.
pub fn hash_access_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hex encoding.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::hash_access_token;

    #[test]
    fn known_sha256_vector() {
        assert_eq!(
            hash_access_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
