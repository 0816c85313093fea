//! Moderation policy lists (MSC2313 and successors), read the way Draupnir, Meowlnir and Mjolnir read them.
//!
//! * Event types `m.policy.rule.{user,room,server}`, legacy `m.room.rule.*` and `org.matrix.mjolnir.rule.*`; for
//!   the same state key the stable type wins.
//! * Recommendations: ban (`m.ban`, `org.matrix.mjolnir.ban`), takedown (`m.takedown`,
//!   `org.matrix.msc4204.takedown`), allow (`org.matrix.mjolnir.allow`, `fi.mau.meowlnir.unban`); others ignored.
//! * Entities are anchored globs with `*` and `?`; server rules match the sender's server name without port,
//!   case-insensitively. MSC4205 hashed entities (`hashes` / `org.matrix.msc4205.hashes`, `sha256`) are matched
//!   against the SHA-256 of the user ID or server name.
//! * Lists are in priority order: the first list with any matching rule decides, so an allow in a higher-priority
//!   list overrides a ban in a lower one. Within one list the most severe matching rule wins.

mod rule;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use rule::{EntityKind, PolicyRule, Recommendation};

use crate::user_id::UserIdRef;

/// One policy state event as the room-state tracker sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyRuleSource {
    /// The event type, e.g. `m.policy.rule.user`.
    pub event_type: String,
    /// The state key (the rule's identity within its list).
    pub state_key: String,
    /// The content (empty or `null` for a removed rule).
    pub content: Value,
}

/// The rules of one or more lists, ready for matching.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyRuleSet {
    /// Rules by list priority (index 0 is the highest-priority list).
    lists: Vec<Vec<PolicyRule>>,
}

/// A rule that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyMatch {
    /// What the rule recommends.
    pub recommendation: Recommendation,
    /// Whether it was a user or server rule.
    pub kind: EntityKind,
    /// The rule's entity as written (or `<hashed>` for hash-only rules).
    pub entity: String,
    /// Index of the list it came from (0 = highest priority).
    pub list_index: usize,
    /// The rule's reason. Always `None` for takedowns: MSC4204 says their reason must not be surfaced.
    pub reason: Option<String>,
}

impl PolicyRuleSet {
    /// Builds the rule set from the state of several list rooms, highest priority first.
    pub fn from_lists(lists: &[Vec<PolicyRuleSource>]) -> Self {
        Self { lists: lists.iter().map(|events| rules_of_list(events)).collect() }
    }

    /// Number of live rules over all lists.
    pub fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    /// Whether there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decisive rule for a sender: user rules on the full ID, server rules on its server name.
    pub fn check_user(&self, user_id: &str) -> Option<PolicyMatch> {
        let server = UserIdRef::parse(user_id).map(|u| u.server_without_port());
        self.decide(|rule| match rule.kind {
            EntityKind::User => rule.matches(user_id),
            EntityKind::Server => server.is_some_and(|s| rule.matches(s)),
            EntityKind::Room => false,
        })
    }

    /// The decisive rule for a room ID (room rules only).
    pub fn check_room(&self, room_id: &str) -> Option<PolicyMatch> {
        self.decide(|rule| rule.kind == EntityKind::Room && rule.matches(room_id))
    }

    /// First list with a match decides; within it the most severe match wins.
    fn decide(&self, matches: impl Fn(&PolicyRule) -> bool) -> Option<PolicyMatch> {
        self.lists.iter().enumerate().find_map(|(index, rules)| {
            rules.iter().filter(|r| matches(r)).max_by_key(|r| r.recommendation).map(|r| r.to_match(index))
        })
    }
}

/// The live rules of one list: stable types win over legacy ones for the same (kind, state key), removed rules
/// and unknown recommendations are dropped.
fn rules_of_list(events: &[PolicyRuleSource]) -> Vec<PolicyRule> {
    // (kind, state key) → (type rank, source); lower rank = more stable.
    let mut chosen: BTreeMap<(EntityKind, &str), (u8, &PolicyRuleSource)> = BTreeMap::new();
    for event in events {
        let Some((kind, rank)) = rule::classify_type(&event.event_type) else { continue };
        let slot = chosen.entry((kind, event.state_key.as_str())).or_insert((rank, event));
        if rank < slot.0 {
            *slot = (rank, event);
        }
    }
    chosen
        .into_iter()
        .filter_map(|((kind, _), (_, event))| PolicyRule::from_content(kind, &event.content))
        .collect()
}

#[cfg(test)]
mod tests;
