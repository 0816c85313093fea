//! Reading key files: Synapse's one-line format and the PEM formats of Dendrite and matrix-media-repo.

use super::{SigningKey, lenient_base64};

/// PEM block types that hold a Matrix ed25519 seed.
const PEM_KEY_TYPES: &[&str] = &["MATRIX PRIVATE KEY", "MMR PRIVATE KEY"];

/// Why a key file could not be read. Messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// The file holds no key.
    #[error("the key file contains no key")]
    Empty,
    /// A Synapse-format line is malformed.
    #[error("line {line}: {reason}")]
    InvalidLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A PEM block is malformed.
    #[error("PEM block {block}: {reason}")]
    InvalidPem {
        /// 1-based block number.
        block: usize,
        /// What is wrong.
        reason: String,
    },
    /// The key version cannot be part of a key ID.
    #[error("invalid key version {0:?}: use letters, digits and `_`")]
    InvalidVersion(String),
    /// The seed does not make an ed25519 key.
    #[error("invalid ed25519 key: {0}")]
    InvalidKey(String),
}

/// Reads every key in a key file, in file order.
pub fn parse_key_file(text: &str) -> Result<Vec<SigningKey>, KeyFileError> {
    let keys =
        if text.trim_start().starts_with("-----BEGIN ") { parse_pem(text)? } else { parse_synapse(text)? };
    if keys.is_empty() { Err(KeyFileError::Empty) } else { Ok(keys) }
}

/// Synapse: one key per line, `ed25519 <version> <base64 seed>`; blank lines and `#` comments are skipped.
fn parse_synapse(text: &str) -> Result<Vec<SigningKey>, KeyFileError> {
    let mut keys = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = |reason: &str| KeyFileError::InvalidLine { line: index + 1, reason: reason.to_owned() };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [algorithm, version, seed] = parts.as_slice() else {
            return Err(invalid("expected `ed25519 <version> <base64 seed>`"));
        };
        if *algorithm != "ed25519" {
            return Err(invalid("only ed25519 keys are supported"));
        }
        let seed = decode_seed(seed).map_err(|reason| invalid(&reason))?;
        keys.push(SigningKey::from_seed(&seed, version)?);
    }
    Ok(keys)
}

/// PEM: `-----BEGIN <type>-----`, `Key-ID: ed25519:<version>` header (others ignored), a blank line, base64 body.
fn parse_pem(text: &str) -> Result<Vec<SigningKey>, KeyFileError> {
    let mut keys = Vec::new();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty()).peekable();
    let mut block = 0;
    while let Some(begin) = lines.next() {
        block += 1;
        let invalid = |reason: &str| KeyFileError::InvalidPem { block, reason: reason.to_owned() };
        let kind = begin
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .ok_or_else(|| invalid("expected a `-----BEGIN ...-----` line"))?;
        if !PEM_KEY_TYPES.contains(&kind) {
            return Err(invalid(&format!("unsupported PEM type {kind:?}")));
        }
        let end = format!("-----END {kind}-----");
        let mut key_id = None;
        let mut body = String::new();
        loop {
            let line = lines.next().ok_or_else(|| invalid("missing END line"))?;
            if line == end {
                break;
            }
            match line.split_once(':') {
                Some((name, value)) if body.is_empty() => {
                    if name.trim().eq_ignore_ascii_case("Key-ID") {
                        key_id = Some(value.trim().to_owned());
                    }
                }
                _ => body.push_str(line),
            }
        }
        let key_id = key_id.ok_or_else(|| invalid("missing `Key-ID` header"))?;
        let version =
            key_id.strip_prefix("ed25519:").ok_or_else(|| invalid("`Key-ID` must be `ed25519:<version>`"))?;
        let seed = decode_seed(&body).map_err(|reason| invalid(&reason))?;
        keys.push(SigningKey::from_seed(&seed, version)?);
    }
    Ok(keys)
}

/// A 32-byte seed, or 64 bytes of seed followed by its public key (which must match).
fn decode_seed(text: &str) -> Result<[u8; 32], String> {
    let bytes = lenient_base64::decode(text).map_err(|_| "the key is not valid base64".to_owned())?;
    match bytes.len() {
        32 | 64 => {
            let mut seed = [0u8; 32];
            seed.copy_from_slice(&bytes[..32]);
            if bytes.len() == 64 {
                let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
                if public[..] != bytes[32..] {
                    return Err("the public half of the 64-byte key does not match its seed".to_owned());
                }
            }
            Ok(seed)
        }
        n => Err(format!("expected a 32-byte seed, found {n} bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
    const PUBLIC: &str = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

    #[test]
    fn reads_synapse_format_with_comments_and_padding() {
        let text = format!("# a comment\n\ned25519 a_RXGa {SEED}=\n");
        let keys = parse_key_file(&text).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].version(), "a_RXGa");
        assert_eq!(keys[0].public_key_base64(), PUBLIC);
    }

    #[test]
    fn reads_pem_formats() {
        for kind in PEM_KEY_TYPES {
            let text = format!(
                "-----BEGIN {kind}-----\nKey-ID: ed25519:abc_1\nVersion: 1\n\n{SEED}\n-----END {kind}-----\n"
            );
            let keys = parse_key_file(&text).unwrap();
            assert_eq!(keys[0].version(), "abc_1", "{kind}");
            assert_eq!(keys[0].public_key_base64(), PUBLIC, "{kind}");
        }
    }

    #[test]
    fn reads_64_byte_keys_only_when_halves_match() {
        let seed = lenient_base64::decode(SEED).unwrap();
        let public = lenient_base64::decode(PUBLIC).unwrap();
        let good = lenient_base64::encode(&[seed.clone(), public].concat());
        let bad = lenient_base64::encode(&[seed.clone(), seed].concat());
        assert_eq!(parse_key_file(&format!("ed25519 k {good}")).unwrap()[0].public_key_base64(), PUBLIC);
        assert!(parse_key_file(&format!("ed25519 k {bad}")).is_err());
    }

    #[test]
    fn rejects_bad_files_with_clear_errors() {
        let cases = [
            ("", KeyFileError::Empty),
            ("# only a comment\n", KeyFileError::Empty),
            (
                "ed25519 a_1",
                KeyFileError::InvalidLine {
                    line: 1,
                    reason: "expected `ed25519 <version> <base64 seed>`".into(),
                },
            ),
            (
                &*format!("curve25519 a_1 {SEED}"),
                KeyFileError::InvalidLine { line: 1, reason: "only ed25519 keys are supported".into() },
            ),
            (
                "ed25519 a_1 AAAA",
                KeyFileError::InvalidLine {
                    line: 1,
                    reason: "expected a 32-byte seed, found 3 bytes".into(),
                },
            ),
            (
                "ed25519 a_1 !!!!",
                KeyFileError::InvalidLine { line: 1, reason: "the key is not valid base64".into() },
            ),
            (&*format!("ed25519 bad-version {SEED}"), KeyFileError::InvalidVersion("bad-version".into())),
            (
                &*format!("-----BEGIN RSA PRIVATE KEY-----\n{SEED}\n-----END RSA PRIVATE KEY-----"),
                KeyFileError::InvalidPem {
                    block: 1,
                    reason: "unsupported PEM type \"RSA PRIVATE KEY\"".into(),
                },
            ),
            (
                &*format!("-----BEGIN MATRIX PRIVATE KEY-----\n{SEED}\n-----END MATRIX PRIVATE KEY-----"),
                KeyFileError::InvalidPem { block: 1, reason: "missing `Key-ID` header".into() },
            ),
            (
                &*format!("-----BEGIN MATRIX PRIVATE KEY-----\nKey-ID: ed25519:a\n{SEED}\n"),
                KeyFileError::InvalidPem { block: 1, reason: "missing END line".into() },
            ),
        ];
        for (text, expected) in cases {
            let error = parse_key_file(text).unwrap_err();
            assert_eq!(error, expected, "{text:?}");
            assert!(!error.to_string().contains(SEED));
        }
    }
}
