//! Matrix identifiers that appear in settings: room IDs and the policy server's own user localpart.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A room ID, `!opaque` (v12) or `!opaque:server` (older versions). Only the shape is checked here; whether the
/// room exists is learnt when joining it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

impl RoomId {
    /// The room ID as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RoomId {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let shaped = value.len() > 1
            && value.len() <= 255
            && value.starts_with('!')
            && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',');
        if shaped {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!("{value:?} is not a valid room ID (expected !opaque_id or !opaque_id:server)"))
        }
    }
}

/// The localpart of the policy server's user, `@<localpart>:<server_name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Localpart(String);

impl Localpart {
    /// A built-in default, known to be valid (the `defaults_are_valid` test parses every default).
    pub(crate) fn trusted(value: &'static str) -> Self {
        Self(value.to_owned())
    }

    /// The localpart as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Localpart {
    type Err = String;

    /// The user-ID grammar of the Matrix spec: lower-case letters, digits and `._=-/+`.
    fn from_str(value: &str) -> Result<Self, String> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b);
        if !value.is_empty() && value.len() <= 255 && value.bytes().all(allowed) {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!("{value:?} is not a valid user localpart (allowed: a-z, 0-9 and ._=-/+)"))
        }
    }
}

/// Serde and display plumbing shared by both identifier types.
macro_rules! string_newtype {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> Result<Self, String> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(RoomId);
string_newtype!(Localpart);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids() {
        for good in ["!abc:example.org", "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"] {
            assert!(good.parse::<RoomId>().is_ok(), "{good}");
        }
        for bad in ["", "!", "#alias:example.org", "!a b:example.org", "!a,!b"] {
            assert!(bad.parse::<RoomId>().unwrap_err().contains("is not a valid room ID"), "{bad}");
        }
    }

    #[test]
    fn localparts() {
        assert!("policyserv".parse::<Localpart>().is_ok());
        assert!("palisade.bot-1".parse::<Localpart>().is_ok());
        for bad in ["", "Policy", "a b", "@x", "x:y"] {
            assert!(bad.parse::<Localpart>().is_err(), "{bad}");
        }
    }
}
