//! Community filter settings (policyserv's `CommunityConfig`): JSON keys, `PS_*` environment names, defaults,
//! layering and validation.
//!
//! Every key is optional: absent (or JSON `null`) means "inherit from the layer below"; an explicit value — including
//! `false`, `0` and `[]` — overrides. Layers are, from the bottom: [`CommunityConfig::defaults`], the instance
//! (environment), the community, a room override. [`EffectiveConfig`] is the fully resolved result the filters read.

mod env;
mod layering;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{FilterId, FilterMode};

/// A community setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct CommunityConfigError {
    /// The JSON key or environment variable name that was wrong.
    pub key: String,
    /// What was wrong with it.
    pub message: String,
}

impl CommunityConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// Declares every community key once: the optional layer struct, the resolved struct, the defaults, the layering
/// and the environment reader all come from this single list, so a key cannot be forgotten in one of them.
macro_rules! community_keys {
    ($( $(#[doc = $doc:literal])+ $key:ident : $ty:ty = $default:expr; )+) => {
        /// A community's filter settings (one configuration layer). Every field is optional: absent means
        /// "inherit from the layer below".
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct CommunityConfig {
            $(
                $(#[doc = $doc])+
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $key: Option<$ty>,
            )+
        }

        /// Fully resolved settings: every layer applied on top of the defaults.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct EffectiveConfig {
            $(
                $(#[doc = $doc])+
                pub $key: $ty,
            )+
        }

        /// Every JSON key, in declaration order.
        pub const COMMUNITY_KEYS: &[&str] = &[$(stringify!($key)),+];

        impl CommunityConfig {
            /// The code defaults (policyserv's `config/community.go` values plus Palisade's extensions). This is
            /// the only place defaults live.
            pub fn defaults() -> Self {
                Self { $( $key: Some($default), )+ }
            }

            /// Layers `upper` over `lower`: every key `upper` sets wins (maps merge per entry), the rest is
            /// inherited from `lower`.
            pub fn merge(lower: &Self, upper: &Self) -> Self {
                Self { $( $key: layering::Layered::layer(lower.$key.as_ref(), upper.$key.as_ref()), )+ }
            }

            /// Reads every `PS_*` variable `lookup` knows.
            fn read_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, CommunityConfigError> {
                Ok(Self { $( $key: env::read(lookup, stringify!($key))?, )+ })
            }

            /// Resolves this layer on top of the defaults.
            pub fn resolve(&self) -> EffectiveConfig {
                let full = Self::merge(&Self::defaults(), self);
                EffectiveConfig { $( $key: full.$key.unwrap_or_else(|| $default), )+ }
            }
        }
    };
}

/// Owned strings from literals.
fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The media event types and msgtypes policyserv blocks by default.
fn default_media_types() -> Vec<String> {
    strings(&["m.sticker", "m.image", "m.video", "m.file", "m.audio"])
}

community_keys! {
    /// Case-sensitive substrings that mark an event as spam (`PS_KEYWORD_FILTER_KEYWORDS`).
    keyword_filter_keywords: Vec<String> = strings(&["spammy spam"]);
    /// Names of stored keyword templates to run.
    keyword_template_filter_template_names: Vec<String> = Vec::new();
    /// Search keywords in the full event JSON instead of the content.
    keyword_filter_use_full_event: bool = false;
    /// Feed keyword templates the full event JSON instead of `body + " " + formatted_body`.
    keyword_template_filter_use_full_event: bool = false;
    /// Mentions in one message at which it is refused (`<= 0` disables).
    mention_filter_max_mentions: i64 = 20;
    /// Minimum byte length of a display name for it to count as a plain-text mention.
    mention_filter_min_plaintext_length: i64 = 5;
    /// Mentions per second (over 60 s) a sender may make (`<= 0` disables).
    mention_frequency_filter_rate_limit: f64 = 0.0;
    /// Minimum display-name length for the mention-frequency count.
    mention_frequency_filter_min_plaintext_length: i64 = 5;
    /// `@` characters in the content at which an event is refused (`<= 0` disables).
    many_ats_filter_max_ats: i64 = 20;
    /// Event types and msgtypes refused as media (empty disables).
    media_filter_media_types: Vec<String> = default_media_types();
    /// Event types and msgtypes refused as media from untrusted users (empty disables).
    untrusted_media_filter_media_types: Vec<String> = default_media_types();
    /// Trust users of servers in the Muninn Hall directory.
    untrusted_media_filter_use_muninn: bool = true;
    /// Trust room creators (v12+) and users at or above `state_default`.
    untrusted_media_filter_use_power_levels: bool = true;
    /// User-ID globs (`*`) that are trusted with media.
    untrusted_media_filter_allowed_user_globs: Vec<String> = Vec::new();
    /// User-ID globs (`*`) that are never trusted with media (deny wins).
    untrusted_media_filter_denied_user_globs: Vec<String> = Vec::new();
    /// Non-whitespace share of a body at which it is refused (`<= 0` disables).
    density_filter_max_density: f64 = 0.95;
    /// Bodies shorter than this many bytes are not density-checked.
    density_filter_min_trigger_length: i64 = 150;
    /// Bytes of leading + trailing whitespace at which a body is refused (`<= 0` disables).
    trim_length_filter_max_difference: i64 = 25;
    /// Byte length of the whole event above which it is refused (`<= 0` disables).
    length_filter_max_length: i64 = 10000;
    /// Senders whose events are allowed without content checks.
    sender_prefilter_allowed_senders: Vec<String> = Vec::new();
    /// Non-state event types allowed without content checks.
    event_type_prefilter_allowed_event_types: Vec<String> = strings(&["m.room.redaction"]);
    /// State event types allowed without content checks.
    event_type_prefilter_allowed_state_event_types: Vec<String> = strings(&[
        "m.room.power_levels",
        "m.room.avatar",
        "m.room.name",
        "m.room.topic",
        "m.room.join_rules",
        "m.room.history_visibility",
        "m.room.create",
        "m.room.server_acl",
        "m.room.tombstone",
        "m.room.encryption",
        "m.room.canonical_alias",
    ]);
    /// Minutes a sender of a refused event stays refused (`<= 0` disables hellbans).
    hellban_postfilter_minutes: i64 = 60;
    /// Apply moderation policy lists.
    mjolnir_filter_enabled: bool = true;
    /// Where audits of refused events are posted (empty: nowhere).
    webhook_url: String = String::new();
    /// Refuse events when the text classifier fails.
    openai_filter_fail_secure: bool = true;
    /// Allow sticky events (false enables the sticky-events filter).
    sticky_events_filter_allow_sticky_events: bool = true;
    /// HMA banks whose matches refuse media (empty disables media scanning).
    hma_filter_enabled_banks: Vec<String> = Vec::new();
    /// URL globs (`*`) that are allowed; when non-empty every other URL is refused.
    link_filter_allowed_url_globs: Vec<String> = Vec::new();
    /// URL globs (`*`) that are refused (deny wins over allow).
    link_filter_denied_url_globs: Vec<String> = Vec::new();
    /// Refuse events signed with the well-known unsafe key. Unlike policyserv, `false` sticks.
    unsafe_signing_key_filter_enabled: bool = true;
    /// Event types the frequency filter counts and judges.
    frequency_filter_event_types: Vec<String> = strings(&["m.room.message", "m.sticker", "m.reaction"]);
    /// Events per second (over 60 s) a sender may send (`<= 0` disables).
    frequency_filter_rate_limit: f64 = 0.0;
    /// User who receives redaction commands (empty: none).
    moderation_bot_user_id: String = String::new();
    /// Words (runs of ASCII letters/digits) in a sender localpart above which events are refused (`<= 0` disables).
    user_id_contains_words_filter_max_words: i64 = 0;
    /// Byte length of a sender ID above which events are refused (`<= 0` disables).
    user_id_length_filter_max_length: i64 = 0;
    /// Tallest inline emoji in pixels (`<= 0` disables the inline-emoji filter).
    inline_emoji_size_filter_max_height_pixels: i64 = 32;
    /// Palisade: per-filter mode (`enforce`, `shadow`, `off`); filters not listed are enforced. Layers merge per
    /// filter. Env: `PS_FILTER_MODES=mentions=shadow,media=off`.
    filter_modes: BTreeMap<FilterId, FilterMode> = BTreeMap::new();
    /// Palisade: policy-list rooms, highest priority first.
    policy_list_room_ids: Vec<String> = Vec::new();
    /// Palisade: the `error` text of a refusal, which homeservers show the sender (for example a link to the
    /// community's rules); empty: a generic message.
    refusal_message: String = String::new();
}

impl CommunityConfig {
    /// Reads the instance-level community defaults from `PS_*` environment variables (policyserv's names: `PS_` +
    /// the upper-cased JSON key; lists are comma-separated). `lookup` returns a variable's value if it is set.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, CommunityConfigError> {
        Self::read_env(lookup)
    }

    /// Parses one stored JSON layer (a community's config or a room override). Unknown keys are errors.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, CommunityConfigError> {
        serde_json::from_value(value.clone())
            .map_err(|err| CommunityConfigError::new("config", err.to_string()))
    }

    /// Checks every set value (ranges, globs, patterns); the error names the bad key.
    pub fn validate(&self) -> Result<(), CommunityConfigError> {
        validate::validate(self)
    }

    /// The mode of `filter` in this layer, if set.
    pub fn filter_mode(&self, filter: FilterId) -> Option<FilterMode> {
        self.filter_modes.as_ref().and_then(|modes| modes.get(&filter).copied())
    }
}

impl EffectiveConfig {
    /// Resolves `defaults → instance → community → room override`.
    pub fn from_layers(
        instance: &CommunityConfig,
        community: &CommunityConfig,
        room: Option<&CommunityConfig>,
    ) -> Self {
        let mut merged = CommunityConfig::merge(instance, community);
        if let Some(room) = room {
            merged = CommunityConfig::merge(&merged, room);
        }
        merged.resolve()
    }

    /// The mode of `filter` (enforced unless configured otherwise).
    pub fn mode(&self, filter: FilterId) -> FilterMode {
        self.filter_modes.get(&filter).copied().unwrap_or_default()
    }
}

impl Default for EffectiveConfig {
    fn default() -> Self {
        CommunityConfig::default().resolve()
    }
}

#[cfg(test)]
mod tests;
