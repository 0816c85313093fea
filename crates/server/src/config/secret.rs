//! Secret strings (API keys, access tokens) that must not leak through `Debug` output or error messages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A secret value. `Debug` prints `***`; read the value with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = String;

    /// Refuses empty values and whitespace, which cannot travel in an `Authorization` header. The message never
    /// repeats the value.
    fn from_str(value: &str) -> Result<Self, String> {
        if value.is_empty() {
            Err("a secret must not be empty".to_owned())
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err("a secret must not contain whitespace or control characters".to_owned())
        } else {
            Ok(Self(value.to_owned()))
        }
    }
}

impl TryFrom<String> for Secret {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<Secret> for String {
    fn from(secret: Secret) -> Self {
        secret.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn errors_do_not_repeat_the_value() {
        for bad in ["", "two words", "tab\there"] {
            let err = bad.parse::<Secret>().unwrap_err();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }
}
