//! `federation.accept_invites`: what the policy server answers when another server invites its user.
//!
//! Signing an invite only lets the inviting server deliver it; it does not join the room. Operators still choose
//! whom they let put the policy server's user into a room's member list, so the default refuses every invite.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The operator's invite policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AcceptInvites {
    /// Refuse every invite (403 `M_FORBIDDEN`).
    #[default]
    Never,
    /// Counter-sign every invite addressed to our user.
    Always,
    /// Counter-sign invites from `federation.invite_allowed_servers` or into `federation.invite_allowed_rooms`.
    Listed,
}

impl AcceptInvites {
    /// The spelling used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Always => "always",
            Self::Listed => "listed",
        }
    }
}

impl FromStr for AcceptInvites {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "never" => Ok(Self::Never),
            "always" => Ok(Self::Always),
            "listed" => Ok(Self::Listed),
            other => Err(format!("{other:?} is not an invite policy (expected never, always or listed)")),
        }
    }
}

impl TryFrom<String> for AcceptInvites {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<AcceptInvites> for String {
    fn from(policy: AcceptInvites) -> Self {
        policy.as_str().to_owned()
    }
}

impl fmt::Display for AcceptInvites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_the_three_policies() {
        for policy in [AcceptInvites::Never, AcceptInvites::Always, AcceptInvites::Listed] {
            assert_eq!(policy.as_str().parse::<AcceptInvites>(), Ok(policy));
            assert_eq!(String::from(policy), policy.to_string());
        }
        let err = "sometimes".parse::<AcceptInvites>().unwrap_err();
        assert!(err.contains("expected never, always or listed"), "{err}");
        assert_eq!(AcceptInvites::default(), AcceptInvites::Never);
    }
}
