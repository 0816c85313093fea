//! Canonical JSON: parsing untrusted bytes into the form that is hashed and signed.
//!
//! Canonical JSON (spec appendix "Canonical JSON") has sorted keys, no insignificant whitespace, and only integers
//! in the range ±(2^53−1). ruma's `CanonicalJsonObject` enforces the value rules when parsing and writes the
//! canonical form when serialised; this module gives those operations names and errors of our own.

pub use ruma::{CanonicalJsonObject, CanonicalJsonValue};

/// A JSON object known to satisfy the canonical JSON value rules.
pub type CanonicalObject = CanonicalJsonObject;

/// Why bytes could not be read as a canonical JSON object.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalJsonError {
    /// The bytes are not JSON at all (Matrix `M_NOT_JSON`).
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON is well-formed but breaks the canonical JSON rules or is not an object (Matrix `M_BAD_JSON`).
    #[error("JSON is not canonical-JSON compatible: {0}")]
    NotCanonical(String),
}

/// Parses untrusted bytes as a canonical JSON object.
///
/// Floats, integers outside ±(2^53−1) and non-object top-level values are rejected as [`NotCanonical`]; bytes that
/// are not JSON are [`NotJson`].
///
/// [`NotCanonical`]: CanonicalJsonError::NotCanonical
/// [`NotJson`]: CanonicalJsonError::NotJson
pub fn parse_object(bytes: &[u8]) -> Result<CanonicalObject, CanonicalJsonError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalJsonError::NotJson(e.to_string()))?;
    from_value(value)
}

/// Converts an already parsed JSON value into a canonical JSON object.
pub fn from_value(value: serde_json::Value) -> Result<CanonicalObject, CanonicalJsonError> {
    let serde_json::Value::Object(map) = value else {
        return Err(CanonicalJsonError::NotCanonical("expected a JSON object".to_owned()));
    };
    ruma::canonical_json::try_from_json_map(map).map_err(|e| CanonicalJsonError::NotCanonical(e.to_string()))
}

/// Writes an object in canonical form: sorted keys, no whitespace, UTF-8 unescaped.
pub fn to_canonical_string(object: &CanonicalObject) -> String {
    // Serialising a BTreeMap of canonical values cannot fail: keys are strings and every value is representable.
    serde_json::to_string(object).unwrap_or_default()
}

/// Writes any canonical value in canonical form (the bytes a signature over it covers).
pub fn to_canonical_bytes(value: &CanonicalJsonValue) -> Vec<u8> {
    // As above: serialising canonical values into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Converts a canonical object into a plain `serde_json::Value`, for layers that do not use ruma types.
pub fn to_json_value(object: &CanonicalObject) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canonical JSON examples from the spec appendix (input, expected canonical form).
    #[test]
    fn spec_examples_are_written_canonically() {
        let cases = [
            (r#"{}"#, r#"{}"#),
            (r#"{"one": 1, "two": "Two"}"#, r#"{"one":1,"two":"Two"}"#),
            (r#"{"b": "2", "a": "1"}"#, r#"{"a":"1","b":"2"}"#),
            (
                r#"{"auth":{"success":true,"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"medium":"email","address":"john.doe@example.org"},{"medium":"msisdn","address":"123456789"}]}}}"#,
                r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
            ),
            (r#"{"a": "日本語"}"#, r#"{"a":"日本語"}"#),
            (r#"{"本": 2, "日": 1}"#, r#"{"日":1,"本":2}"#),
            (r#"{"a": "\u65E5"}"#, r#"{"a":"日"}"#),
            (r#"{"a": null}"#, r#"{"a":null}"#),
            (r#"{"a": "\u0000\u001f\"\\"}"#, r#"{"a":"\u0000\u001f\"\\"}"#),
        ];
        for (input, expected) in cases {
            let object = parse_object(input.as_bytes()).unwrap();
            assert_eq!(to_canonical_string(&object), expected, "input {input}");
        }
    }

    #[test]
    fn rejects_non_canonical_values() {
        for input in
            [r#"{"a": 1.5}"#, r#"{"a": 9007199254740992}"#, r#"{"a": -9007199254740992}"#, "[1]", "3"]
        {
            assert!(
                matches!(parse_object(input.as_bytes()), Err(CanonicalJsonError::NotCanonical(_))),
                "{input}"
            );
        }
        assert!(parse_object(br#"{"a": 9007199254740991}"#).is_ok());
    }

    #[test]
    fn rejects_non_json() {
        for input in ["", "{", "not json", "{\"a\":}", "\u{feff}{}"] {
            assert!(
                matches!(parse_object(input.as_bytes()), Err(CanonicalJsonError::NotJson(_))),
                "{input:?}"
            );
        }
    }
}
