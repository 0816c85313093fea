//! Base64 as Matrix uses it: written unpadded with the standard alphabet, read leniently.
//!
//! Key files and signatures from other implementations may be padded or unpadded and may carry non-zero trailing
//! bits (the spec's own example seed does), so reading accepts all of those. URL-safe input is accepted too, since
//! some tools write seeds that way.

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);

const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Encodes unpadded, standard alphabet.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes padded or unpadded, standard or URL-safe base64, ignoring surrounding whitespace.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let text = text.trim();
    STANDARD.decode(text).or_else(|e| URL_SAFE.decode(text).map_err(|_| e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_spelling() {
        let expected = b"\xfb\xff\x00hello".to_vec();
        for text in ["+/8AaGVsbG8", "+/8AaGVsbG8=", "-_8AaGVsbG8", " +/8AaGVsbG8\n"] {
            assert_eq!(decode(text).unwrap(), expected, "{text:?}");
        }
        assert_eq!(encode(&expected), "+/8AaGVsbG8");
        assert!(decode("not base64!").is_err());
    }
}
