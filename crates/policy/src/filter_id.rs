//! Stable names for every filter, used in traces, per-filter modes and configuration.

use serde::{Deserialize, Serialize};

/// One filter of the pipeline. The serialised (snake_case) name is what operators write in `filter_modes` and what
/// verdict traces record, so renaming a variant is a breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterId {
    /// Refuses membership changes of the policy server's own user made by others.
    ProtectLocalUser,
    /// Allows listed (state) event types without further checks.
    EventType,
    /// Allows listed senders without further checks.
    Sender,
    /// Refuses events signed with the well-known unsafe (math/rand seed 0) key.
    UnsafeSigningKey,
    /// Refuses events of senders under a hellban.
    HellbanPrefilter,
    /// Substring keywords in the content (or full event) JSON.
    Keyword,
    /// Operator-written Go text/template keyword rules.
    KeywordTemplate,
    /// Non-whitespace density of long bodies.
    Density,
    /// Byte length of the whole event.
    Length,
    /// Number of `@` characters in the content.
    ManyAts,
    /// Media event types / msgtypes.
    Media,
    /// Media from users no trust source vouches for.
    UntrustedMedia,
    /// Size and shape of inline `<img>` emoji.
    InlineEmojiSize,
    /// Mentions of room members in one message.
    Mentions,
    /// Moderation policy lists (user and server rules).
    PolicyList,
    /// Leading/trailing whitespace of the body.
    TrimLength,
    /// An external text classifier (OpenAI omni moderation).
    Openai,
    /// Sticky events (MSC4354).
    StickyEvents,
    /// Allowed / denied URL globs.
    Links,
    /// Mentions per sender over a sliding window.
    MentionFrequency,
    /// Events per sender over a sliding window.
    Frequency,
    /// Number of words in the sender's localpart.
    UserIdWords,
    /// Byte length of the sender's user ID.
    UserIdLength,
    /// Hash matching of media (HMA).
    MediaScanning,
    /// Starts a hellban for senders of prohibited events.
    HellbanPostfilter,
}

impl FilterId {
    /// Every filter, in pipeline order.
    pub const ALL: [FilterId; 25] = [
        Self::ProtectLocalUser,
        Self::EventType,
        Self::Sender,
        Self::UnsafeSigningKey,
        Self::HellbanPrefilter,
        Self::Keyword,
        Self::KeywordTemplate,
        Self::Density,
        Self::Length,
        Self::ManyAts,
        Self::Media,
        Self::UntrustedMedia,
        Self::InlineEmojiSize,
        Self::Mentions,
        Self::PolicyList,
        Self::TrimLength,
        Self::Openai,
        Self::StickyEvents,
        Self::Links,
        Self::MentionFrequency,
        Self::Frequency,
        Self::UserIdWords,
        Self::UserIdLength,
        Self::MediaScanning,
        Self::HellbanPostfilter,
    ];

    /// The configuration / trace name, e.g. `many_ats`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProtectLocalUser => "protect_local_user",
            Self::EventType => "event_type",
            Self::Sender => "sender",
            Self::UnsafeSigningKey => "unsafe_signing_key",
            Self::HellbanPrefilter => "hellban_prefilter",
            Self::Keyword => "keyword",
            Self::KeywordTemplate => "keyword_template",
            Self::Density => "density",
            Self::Length => "length",
            Self::ManyAts => "many_ats",
            Self::Media => "media",
            Self::UntrustedMedia => "untrusted_media",
            Self::InlineEmojiSize => "inline_emoji_size",
            Self::Mentions => "mentions",
            Self::PolicyList => "policy_list",
            Self::TrimLength => "trim_length",
            Self::Openai => "openai",
            Self::StickyEvents => "sticky_events",
            Self::Links => "links",
            Self::MentionFrequency => "mention_frequency",
            Self::Frequency => "frequency",
            Self::UserIdWords => "user_id_words",
            Self::UserIdLength => "user_id_length",
            Self::MediaScanning => "media_scanning",
            Self::HellbanPostfilter => "hellban_postfilter",
        }
    }

    /// Looks a filter up by its configuration name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|id| id.as_str() == name)
    }
}

impl std::fmt::Display for FilterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_name() {
        for id in FilterId::ALL {
            let json = serde_json::to_value(id).unwrap();
            assert_eq!(json, serde_json::Value::String(id.as_str().to_owned()));
            assert_eq!(FilterId::from_name(id.as_str()), Some(id));
        }
        assert_eq!(FilterId::from_name("nope"), None);
    }
}
