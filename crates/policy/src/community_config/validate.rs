//! Validation of one configuration layer. Every error names the JSON key.

use super::{CommunityConfig, CommunityConfigError};
use crate::glob::{Glob, GlobSyntax};

/// Checks every value that is set.
pub(super) fn validate(config: &CommunityConfig) -> Result<(), CommunityConfigError> {
    let lists = [
        ("keyword_filter_keywords", &config.keyword_filter_keywords),
        ("keyword_template_filter_template_names", &config.keyword_template_filter_template_names),
        ("media_filter_media_types", &config.media_filter_media_types),
        ("untrusted_media_filter_media_types", &config.untrusted_media_filter_media_types),
        ("event_type_prefilter_allowed_event_types", &config.event_type_prefilter_allowed_event_types),
        (
            "event_type_prefilter_allowed_state_event_types",
            &config.event_type_prefilter_allowed_state_event_types,
        ),
        ("hma_filter_enabled_banks", &config.hma_filter_enabled_banks),
        ("frequency_filter_event_types", &config.frequency_filter_event_types),
    ];
    for (key, list) in lists {
        // An empty keyword would match every event; an empty type never matches. Both are typos (trailing commas).
        no_empty_entries(key, list.as_deref())?;
    }
    let globs = [
        ("untrusted_media_filter_allowed_user_globs", &config.untrusted_media_filter_allowed_user_globs),
        ("untrusted_media_filter_denied_user_globs", &config.untrusted_media_filter_denied_user_globs),
        ("link_filter_allowed_url_globs", &config.link_filter_allowed_url_globs),
        ("link_filter_denied_url_globs", &config.link_filter_denied_url_globs),
    ];
    for (key, list) in globs {
        for pattern in list.iter().flatten() {
            Glob::new(pattern, GlobSyntax::StarOnly)
                .map_err(|err| CommunityConfigError::new(key, format!("bad glob {pattern:?}: {err}")))?;
        }
    }
    for sender in config.sender_prefilter_allowed_senders.iter().flatten() {
        if !looks_like_id(sender, '@') {
            return Err(CommunityConfigError::new(
                "sender_prefilter_allowed_senders",
                format!("{sender:?} is not a user ID"),
            ));
        }
    }
    for room in config.policy_list_room_ids.iter().flatten() {
        if !looks_like_id(room, '!') && !is_v12_room_id(room) {
            return Err(CommunityConfigError::new(
                "policy_list_room_ids",
                format!("{room:?} is not a room ID"),
            ));
        }
    }
    if let Some(user) = config.moderation_bot_user_id.as_deref().filter(|u| !u.is_empty())
        && !looks_like_id(user, '@')
    {
        return Err(CommunityConfigError::new(
            "moderation_bot_user_id",
            format!("{user:?} is not a user ID"),
        ));
    }
    if let Some(url) = config.webhook_url.as_deref().filter(|u| !u.is_empty())
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(CommunityConfigError::new("webhook_url", "must be an http(s) URL"));
    }
    let floats = [
        ("density_filter_max_density", config.density_filter_max_density),
        ("mention_frequency_filter_rate_limit", config.mention_frequency_filter_rate_limit),
        ("frequency_filter_rate_limit", config.frequency_filter_rate_limit),
    ];
    for (key, value) in floats {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(CommunityConfigError::new(key, "must be a finite number"));
        }
    }
    // Thresholds may be <= 0 (that disables their filter), but a minimum length below zero has no meaning.
    let minimums = [
        ("mention_filter_min_plaintext_length", config.mention_filter_min_plaintext_length),
        (
            "mention_frequency_filter_min_plaintext_length",
            config.mention_frequency_filter_min_plaintext_length,
        ),
        ("density_filter_min_trigger_length", config.density_filter_min_trigger_length),
    ];
    for (key, value) in minimums {
        if value.is_some_and(|v| v < 0) {
            return Err(CommunityConfigError::new(key, "must not be negative"));
        }
    }
    Ok(())
}

/// Rejects lists with an empty entry.
fn no_empty_entries(key: &str, list: Option<&[String]>) -> Result<(), CommunityConfigError> {
    if list.is_some_and(|l| l.iter().any(String::is_empty)) {
        return Err(CommunityConfigError::new(key, "contains an empty entry"));
    }
    Ok(())
}

/// A room ID of room version 12 (MSC4291): `!` and the unpadded URL-safe base64 of a SHA-256 hash, with no server
/// part.
fn is_v12_room_id(id: &str) -> bool {
    id.strip_prefix('!').is_some_and(|hash| {
        hash.len() == 43 && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// `<sigil>localpart:server` with non-empty parts.
fn looks_like_id(id: &str, sigil: char) -> bool {
    id.strip_prefix(sigil)
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty())
}
