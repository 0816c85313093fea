//! Trust sources: who may post media. Each source has an opinion (`True`, `False`) or none (`Default`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::glob::Glob;
use crate::room::RoomSnapshot;
use crate::user_id::UserIdRef;

/// A source's opinion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tristate {
    /// No opinion.
    Default,
    /// Trusted.
    True,
    /// Explicitly not trusted (stops further sources).
    False,
}

/// Instance-wide trust data that does not belong to a room.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustData {
    /// Server names in the Muninn Hall member directory.
    pub muninn_servers: BTreeSet<String>,
}

/// A user ID that trust sources cannot reason about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid user ID {0:?}")]
pub struct InvalidUserId(pub String);

impl TrustData {
    /// Reads the Muninn Hall member directory: the keys of the top-level object are server names.
    pub fn from_member_directory(directory: &Value) -> Self {
        let servers = directory.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        Self { muninn_servers: servers }
    }
}

/// Allow/deny user globs chosen by the community. Deny wins.
pub fn self_directed(allow: &[Glob], deny: &[Glob], user_id: &str) -> Tristate {
    if deny.iter().any(|g| g.matches(user_id)) {
        Tristate::False
    } else if allow.iter().any(|g| g.matches(user_id)) {
        Tristate::True
    } else {
        Tristate::Default
    }
}

/// Users of servers in the Muninn Hall directory are trusted.
pub fn muninn(data: &TrustData, user_id: &str) -> Result<Tristate, InvalidUserId> {
    let user = UserIdRef::parse(user_id).ok_or_else(|| InvalidUserId(user_id.to_owned()))?;
    Ok(if data.muninn_servers.contains(user.server()) { Tristate::True } else { Tristate::Default })
}

/// Privileged creators (v12+) are trusted.
pub fn creators(room: &RoomSnapshot, user_id: &str) -> Tristate {
    if room.creators.contains(user_id) { Tristate::True } else { Tristate::Default }
}

/// Users whose power level reaches `state_default` are trusted.
pub fn power_levels(room: &RoomSnapshot, user_id: &str) -> Tristate {
    match &room.power_levels {
        Some(pl) if pl.user_level(user_id) >= pl.state_default => Tristate::True,
        _ => Tristate::Default,
    }
}

/// Combines opinions in order: the first `False` decides, otherwise any `True` trusts; no opinion is untrusted.
pub fn combine(opinions: impl IntoIterator<Item = Tristate>) -> bool {
    let mut trusted = false;
    for opinion in opinions {
        match opinion {
            Tristate::False => return false,
            Tristate::True => trusted = true,
            Tristate::Default => {}
        }
    }
    trusted
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::glob::GlobSyntax;
    use crate::power_levels::PowerLevels;

    fn globs(patterns: &[&str]) -> Vec<Glob> {
        patterns.iter().map(|p| Glob::new(p, GlobSyntax::StarOnly).unwrap()).collect()
    }

    /// §8.5 #48.
    #[test]
    fn self_directed_source() {
        let (allow, deny) = (globs(&["@allowed:*", "@both:*"]), globs(&["@denied:*", "@both:*"]));
        let cases = [
            ("@allowed:example.org", Tristate::True),
            ("@denied:example.org", Tristate::False),
            ("@other:example.org", Tristate::Default),
            ("@both:example.org", Tristate::False),
        ];
        for (user, want) in cases {
            assert_eq!(self_directed(&allow, &deny, user), want, "{user}");
        }
    }

    /// §8.5 #47.
    #[test]
    fn muninn_source() {
        let data = TrustData::from_member_directory(&json!({"example.org": [], "a.org": [], "b.org": []}));
        assert_eq!(data.muninn_servers.len(), 3);
        assert_eq!(muninn(&data, "@x:example.org"), Ok(Tristate::True));
        assert_eq!(muninn(&data, "@x:untrusted.example.org"), Ok(Tristate::Default));
        assert!(muninn(&data, "nope").is_err());
    }

    /// §8.5 #45–#46.
    #[test]
    fn room_sources() {
        let mut room = RoomSnapshot::new("!r:example.org", "12");
        assert_eq!(creators(&room, "@user:example.org"), Tristate::Default);
        assert_eq!(power_levels(&room, "@user:example.org"), Tristate::Default);
        room.creators.insert("@user:example.org".into());
        room.power_levels = Some(
            PowerLevels::from_event(&json!({"type": "m.room.power_levels", "state_key": "",
                "content": {"state_default": 50, "users_default": 0, "users": {"@pl:example.org": 100}}}))
            .unwrap(),
        );
        assert_eq!(creators(&room, "@user:example.org"), Tristate::True);
        assert_eq!(creators(&room, "@pl:example.org"), Tristate::Default);
        assert_eq!(power_levels(&room, "@pl:example.org"), Tristate::True);
        assert_eq!(power_levels(&room, "@user:example.org"), Tristate::Default);
    }

    #[test]
    fn combining() {
        use Tristate::*;
        let cases: &[(&[Tristate], bool)] = &[
            (&[], false),
            (&[Default], false),
            (&[Default, True], true),
            (&[True, False], false),
            (&[False, True], false),
        ];
        for (opinions, want) in cases {
            assert_eq!(combine(opinions.iter().copied()), *want, "{opinions:?}");
        }
    }
}
