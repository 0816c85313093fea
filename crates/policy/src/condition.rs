//! Conditions that scope a filter to venues (policyserv's `filter/condition`, as data instead of compiled-in Go
//! combinators). A condition sees only the community, room and sender, never content.

use serde::{Deserialize, Serialize};

use crate::glob::{Glob, GlobSyntax};

/// Where an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Venue<'a> {
    /// The community ID.
    pub community_id: &'a str,
    /// The room ID.
    pub room_id: &'a str,
    /// The sender's user ID.
    pub sender: &'a str,
}

/// A boolean expression over a [`Venue`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every condition holds (short-circuits; empty is true).
    AllOf(Vec<Condition>),
    /// Some condition holds (short-circuits; empty is false).
    AnyOf(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// The room ID is exactly this.
    RoomId(String),
    /// The community ID is exactly this (documented by policyserv, never implemented there).
    CommunityId(String),
    /// The sender matches this `*` glob.
    SenderGlob(String),
}

impl Condition {
    /// `AnyOf` over one leaf per value, checked in order (policyserv's `AnyIn`).
    pub fn any_in(leaf: fn(String) -> Condition, values: &[String]) -> Condition {
        Condition::AnyOf(values.iter().cloned().map(leaf).collect())
    }

    /// Evaluates the condition.
    pub fn matches(&self, venue: &Venue<'_>) -> bool {
        match self {
            Self::AllOf(all) => all.iter().all(|c| c.matches(venue)),
            Self::AnyOf(any) => any.iter().any(|c| c.matches(venue)),
            Self::Not(inner) => !inner.matches(venue),
            Self::RoomId(room) => room == venue.room_id,
            Self::CommunityId(community) => community == venue.community_id,
            Self::SenderGlob(pattern) => {
                Glob::new(pattern, GlobSyntax::StarOnly).is_ok_and(|glob| glob.matches(venue.sender))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VENUE: Venue<'static> =
        Venue { community_id: "c", room_id: "!foo:example.org", sender: "@a:example.org" };

    /// §8.4 #44.
    #[test]
    fn vectors() {
        let room = |r: &str| Condition::RoomId(r.to_owned());
        let t = room("!foo:example.org");
        let f = room("!bar:example.org");
        let cases = [
            (Condition::AllOf(vec![]), true),
            (Condition::AnyOf(vec![]), false),
            (Condition::AllOf(vec![t.clone(), f.clone()]), false),
            (Condition::AllOf(vec![t.clone(), t.clone()]), true),
            (Condition::AnyOf(vec![f.clone(), t.clone()]), true),
            (Condition::AnyOf(vec![f.clone(), f.clone()]), false),
            (Condition::Not(Box::new(f.clone())), true),
            (Condition::Not(Box::new(t.clone())), false),
            (Condition::any_in(Condition::RoomId, &["!x:e".into(), "!foo:example.org".into()]), true),
            (Condition::any_in(Condition::RoomId, &[]), false),
            (room("!foo:example.org:8448"), false),
            (Condition::CommunityId("c".into()), true),
            (Condition::SenderGlob("@a:*".into()), true),
            (Condition::SenderGlob("@b:*".into()), false),
        ];
        for (condition, want) in cases {
            assert_eq!(condition.matches(&VENUE), want, "{condition:?}");
        }
        let json = serde_json::to_value(Condition::AllOf(vec![t, Condition::Not(Box::new(f))])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"all_of": [{"room_id": "!foo:example.org"}, {"not": {"room_id": "!bar:example.org"}}]})
        );
    }
}
