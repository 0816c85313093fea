//! Support contacts published at `/.well-known/matrix/support` (MSC1929), in policyserv's one-string form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::server_name::is_server_name;

/// A way to reach the operators: a Matrix user ID (the value starts with `@`) or an e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SupportContact {
    /// `@user:example.org`.
    MatrixId(String),
    /// `user@example.org`.
    Email(String),
}

impl FromStr for SupportContact {
    type Err = String;

    /// policyserv's rule: the value must contain `@`; a leading `@` makes it a Matrix ID, anything else an e-mail
    /// address. Palisade also checks the parts around the `@`, so `@admin` or `admin@` fail at startup instead of
    /// being published.
    fn from_str(value: &str) -> Result<Self, String> {
        let invalid = |hint: &str| format!("invalid support contact value: {value} ({hint})");
        if let Some(user) = value.strip_prefix('@') {
            return match user.split_once(':') {
                Some((local, server)) if !local.is_empty() && is_server_name(server) => {
                    Ok(Self::MatrixId(value.to_owned()))
                }
                _ => Err(invalid("a Matrix ID looks like @admin:example.org")),
            };
        }
        match value.rsplit_once('@') {
            Some((local, domain))
                if !local.is_empty() && is_server_name(domain) && !local.chars().any(char::is_whitespace) =>
            {
                Ok(Self::Email(value.to_owned()))
            }
            Some(_) => Err(invalid("an e-mail address looks like admin@example.org")),
            None => Err(invalid("expected a Matrix ID starting with @ or an e-mail address")),
        }
    }
}

impl TryFrom<String> for SupportContact {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<SupportContact> for String {
    fn from(contact: SupportContact) -> Self {
        contact.to_string()
    }
}

impl fmt::Display for SupportContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MatrixId(value) | Self::Email(value) => f.write_str(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catalogue §8.2 #10 plus Palisade's stricter checks.
    #[test]
    fn classifies_contacts() {
        assert_eq!("user@example.org".parse(), Ok(SupportContact::Email("user@example.org".to_owned())));
        assert_eq!("@user:example.org".parse(), Ok(SupportContact::MatrixId("@user:example.org".to_owned())));
        let err = "user_example.org".parse::<SupportContact>().unwrap_err();
        assert!(err.starts_with("invalid support contact value: user_example.org"), "{err}");
        for bad in ["@user", "@:example.org", "@user:", "user@", "@user:bad host", "a b@example.org", ""] {
            assert!(bad.parse::<SupportContact>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn displays_as_written() {
        let contact: SupportContact = "@admin:example.org".parse().unwrap();
        assert_eq!(contact.to_string(), "@admin:example.org");
    }
}
