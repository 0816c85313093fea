//! Every filter, one file each, and the registry mapping names to implementations.

mod density;
mod event_type;
mod frequency;
mod hellban_postfilter;
mod hellban_prefilter;
mod inline_emoji_size;
mod keyword;
mod keyword_template;
mod length;
mod links;
mod many_ats;
mod media;
mod media_scanning;
mod mention_frequency;
mod mentions;
mod openai;
mod policy_list;
mod protect_local_user;
mod sender;
mod sticky_events;
mod trim_length;
mod unsafe_signing_key;
mod untrusted_media;
mod user_id_length;
mod user_id_words;

pub use unsafe_signing_key::UNSAFE_PUBLIC_KEYS;

use crate::FilterId;
use crate::filter::Filter;

/// The implementation of `id`.
pub fn registry(id: FilterId) -> &'static dyn Filter {
    match id {
        FilterId::ProtectLocalUser => &protect_local_user::ProtectLocalUser,
        FilterId::EventType => &event_type::EventType,
        FilterId::Sender => &sender::Sender,
        FilterId::UnsafeSigningKey => &unsafe_signing_key::UnsafeSigningKey,
        FilterId::HellbanPrefilter => &hellban_prefilter::HellbanPrefilter,
        FilterId::Keyword => &keyword::Keyword,
        FilterId::KeywordTemplate => &keyword_template::KeywordTemplate,
        FilterId::Density => &density::Density,
        FilterId::Length => &length::Length,
        FilterId::ManyAts => &many_ats::ManyAts,
        FilterId::Media => &media::Media,
        FilterId::UntrustedMedia => &untrusted_media::UntrustedMedia,
        FilterId::InlineEmojiSize => &inline_emoji_size::InlineEmojiSize,
        FilterId::Mentions => &mentions::Mentions,
        FilterId::PolicyList => &policy_list::PolicyList,
        FilterId::TrimLength => &trim_length::TrimLength,
        FilterId::Openai => &openai::Openai,
        FilterId::StickyEvents => &sticky_events::StickyEvents,
        FilterId::Links => &links::Links,
        FilterId::MentionFrequency => &mention_frequency::MentionFrequency,
        FilterId::Frequency => &frequency::Frequency,
        FilterId::UserIdWords => &user_id_words::UserIdWords,
        FilterId::UserIdLength => &user_id_length::UserIdLength,
        FilterId::MediaScanning => &media_scanning::MediaScanning,
        FilterId::HellbanPostfilter => &hellban_postfilter::HellbanPostfilter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_match() {
        for id in FilterId::ALL {
            assert_eq!(registry(id).id(), id);
        }
    }
}
