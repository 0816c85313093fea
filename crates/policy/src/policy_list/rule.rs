//! One parsed policy rule.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::PolicyMatch;
use crate::glob::{Glob, GlobSyntax};

/// What a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// `m.policy.rule.user`: user IDs.
    User,
    /// `m.policy.rule.room`: room IDs.
    Room,
    /// `m.policy.rule.server`: server names.
    Server,
}

/// What a rule recommends, ordered by severity (the most severe match within one list wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    /// Explicitly fine: overrides bans from lower-priority lists.
    Allow,
    /// Ban the entity.
    Ban,
    /// Ban and take content down; the reason is never shown.
    Takedown,
}

/// A live rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// User, room or server.
    pub kind: EntityKind,
    /// The entity pattern, if the rule has one.
    pub entity: Option<Glob>,
    /// MSC4205: the padded standard base64 SHA-256 of the literal entity.
    pub sha256: Option<String>,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// The rule's reason as written.
    pub reason: Option<String>,
}

/// Maps an event type to its entity kind and a stability rank (0 stable, 1 `m.room.rule.*`, 2 mjolnir).
pub(super) fn classify_type(event_type: &str) -> Option<(EntityKind, u8)> {
    let prefixes = [("m.policy.rule.", 0), ("m.room.rule.", 1), ("org.matrix.mjolnir.rule.", 2)];
    prefixes.into_iter().find_map(|(prefix, rank)| {
        let kind = match event_type.strip_prefix(prefix)? {
            "user" => EntityKind::User,
            "room" => EntityKind::Room,
            "server" => EntityKind::Server,
            _ => return None,
        };
        Some((kind, rank))
    })
}

/// Maps a recommendation string; unknown ones are ignored (MSC2313).
fn recommendation(value: &str) -> Option<Recommendation> {
    match value {
        "m.ban" | "org.matrix.mjolnir.ban" => Some(Recommendation::Ban),
        "m.takedown" | "org.matrix.msc4204.takedown" => Some(Recommendation::Takedown),
        "org.matrix.mjolnir.allow" | "fi.mau.meowlnir.unban" => Some(Recommendation::Allow),
        _ => None,
    }
}

/// The SHA-256 of `text` as padded standard base64 (MSC4205).
pub(crate) fn entity_hash(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

impl PolicyRule {
    /// Parses a rule's content; `None` for removed rules (no entity and no hash, or no known recommendation).
    pub fn from_content(kind: EntityKind, content: &Value) -> Option<Self> {
        let recommendation = recommendation(content.get("recommendation")?.as_str()?)?;
        let syntax = GlobSyntax::StarAndQuestion;
        let entity = content.get("entity").and_then(Value::as_str).and_then(|e| Glob::new(e, syntax).ok());
        // Server names are case-insensitive (and so are their globs).
        let entity = if kind == EntityKind::Server { entity.map(Glob::case_insensitive) } else { entity };
        let hashes = content.get("hashes").or_else(|| content.get("org.matrix.msc4205.hashes"));
        let sha256 = hashes.and_then(|h| h.get("sha256")).and_then(Value::as_str).map(str::to_owned);
        if entity.is_none() && sha256.is_none() {
            return None;
        }
        let reason = content.get("reason").and_then(Value::as_str).map(str::to_owned);
        Some(Self { kind, entity, sha256, recommendation, reason })
    }

    /// Whether `subject` (a user ID, room ID or port-less server name) is covered by this rule.
    pub fn matches(&self, subject: &str) -> bool {
        if self.entity.as_ref().is_some_and(|glob| glob.matches(subject)) {
            return true;
        }
        let Some(hash) = &self.sha256 else { return false };
        // Lists hash the literal entity; a server's name may be written in any case.
        *hash == entity_hash(subject)
            || (self.kind == EntityKind::Server && *hash == entity_hash(&subject.to_ascii_lowercase()))
    }

    /// The public description of a match.
    pub(super) fn to_match(&self, list_index: usize) -> PolicyMatch {
        PolicyMatch {
            recommendation: self.recommendation,
            kind: self.kind,
            entity: self.entity.as_ref().map_or_else(|| "<hashed>".to_owned(), Glob::as_string),
            list_index,
            reason: if self.recommendation == Recommendation::Takedown { None } else { self.reason.clone() },
        }
    }
}
