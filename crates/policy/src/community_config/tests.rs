use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: BTreeMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name: &str| vars.get(name).cloned()
}

#[test]
fn every_key_has_a_default_and_round_trips() {
    let defaults = CommunityConfig::defaults();
    let json = serde_json::to_value(&defaults).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), COMMUNITY_KEYS.len());
    for key in COMMUNITY_KEYS {
        assert!(object.contains_key(*key), "{key} has no default");
    }
    assert_eq!(CommunityConfig::from_json(&json).unwrap(), defaults);
    assert_eq!(COMMUNITY_KEYS.len(), 40, "37 policyserv keys + 3 Palisade keys");
}

#[test]
fn policyserv_defaults() {
    let d = CommunityConfig::default().resolve();
    assert_eq!(d.keyword_filter_keywords, vec!["spammy spam"]);
    assert_eq!(d.mention_filter_max_mentions, 20);
    assert_eq!(d.density_filter_max_density, 0.95);
    assert_eq!(d.length_filter_max_length, 10000);
    assert_eq!(d.many_ats_filter_max_ats, 20);
    assert_eq!(d.hellban_postfilter_minutes, 60);
    assert_eq!(d.inline_emoji_size_filter_max_height_pixels, 32);
    assert_eq!(d.event_type_prefilter_allowed_event_types, vec!["m.room.redaction"]);
    assert_eq!(d.event_type_prefilter_allowed_state_event_types.len(), 11);
    assert_eq!(d.media_filter_media_types.len(), 5);
    assert!(d.unsafe_signing_key_filter_enabled);
    assert!(d.sticky_events_filter_allow_sticky_events);
    assert_eq!(d.frequency_filter_event_types, vec!["m.room.message", "m.sticker", "m.reaction"]);
}

/// §8.2 #6: a community layer overrides exactly the keys it sets.
#[test]
fn community_json_overrides_only_its_keys() {
    let base = CommunityConfig {
        inline_emoji_size_filter_max_height_pixels: Some(100),
        keyword_filter_keywords: Some(vec!["spammy spam".into(), "example".into()]),
        ..Default::default()
    };
    let community = CommunityConfig::from_json(
        &json!({"inline_emoji_size_filter_max_height_pixels": 36, "length_filter_max_length": 12}),
    )
    .unwrap();
    let effective = EffectiveConfig::from_layers(&base, &community, None);
    assert_eq!(effective.inline_emoji_size_filter_max_height_pixels, 36);
    assert_eq!(effective.length_filter_max_length, 12);
    assert_eq!(effective.keyword_filter_keywords, vec!["spammy spam", "example"]);
}

/// §8.2 #7: environment values become the instance layer; unset keys keep the defaults.
#[test]
fn env_gives_instance_values() {
    let instance = CommunityConfig::from_env(&env(&[
        ("PS_INLINE_EMOJI_SIZE_FILTER_MAX_HEIGHT_PIXELS", "100"),
        ("PS_KEYWORD_FILTER_KEYWORDS", "spammy spam,example"),
    ]))
    .unwrap();
    let effective = instance.resolve();
    assert_eq!(effective.inline_emoji_size_filter_max_height_pixels, 100);
    assert_eq!(effective.keyword_filter_keywords, vec!["spammy spam", "example"]);
    assert_eq!(effective.length_filter_max_length, 10000);
    assert_eq!(effective.many_ats_filter_max_ats, 20);
    let community = CommunityConfig::from_json(
        &json!({"inline_emoji_size_filter_max_height_pixels": 36, "length_filter_max_length": 12}),
    )
    .unwrap();
    let effective = EffectiveConfig::from_layers(&instance, &community, None);
    assert_eq!(effective.inline_emoji_size_filter_max_height_pixels, 36);
    assert_eq!(effective.length_filter_max_length, 12);
    assert_eq!(effective.keyword_filter_keywords, vec!["spammy spam", "example"]);
}

/// §8.2 #8 and §11.10: explicit false / 0 / [] override, including the unsafe-key switch.
#[test]
fn explicit_falsy_values_override() {
    let instance = CommunityConfig::from_env(&env(&[
        ("PS_STICKY_EVENTS_FILTER_ALLOW_STICKY_EVENTS", "true"),
        ("PS_UNSAFE_SIGNING_KEY_FILTER_ENABLED", "true"),
    ]))
    .unwrap();
    let community = CommunityConfig::from_json(&json!({
        "sticky_events_filter_allow_sticky_events": false,
        "unsafe_signing_key_filter_enabled": false,
        "mention_filter_max_mentions": 0,
        "media_filter_media_types": [],
    }))
    .unwrap();
    // The stored form keeps the explicit values (policyserv's omitempty bool lost `false`).
    let stored = serde_json::to_value(&community).unwrap();
    assert_eq!(stored["unsafe_signing_key_filter_enabled"], json!(false));
    let community = CommunityConfig::from_json(&stored).unwrap();
    let effective = EffectiveConfig::from_layers(&instance, &community, None);
    assert!(!effective.sticky_events_filter_allow_sticky_events);
    assert!(!effective.unsafe_signing_key_filter_enabled);
    assert_eq!(effective.mention_filter_max_mentions, 0);
    assert!(effective.media_filter_media_types.is_empty());
}

#[test]
fn null_and_absent_inherit() {
    let community = CommunityConfig::from_json(&json!({"mention_filter_max_mentions": null})).unwrap();
    assert_eq!(community, CommunityConfig::default());
    let instance = CommunityConfig { mention_filter_max_mentions: Some(7), ..Default::default() };
    assert_eq!(EffectiveConfig::from_layers(&instance, &community, None).mention_filter_max_mentions, 7);
}

/// §8.2 #9: the pure defaults do not look at the environment.
#[test]
fn pure_defaults_ignore_env() {
    assert_eq!(CommunityConfig::default().resolve(), CommunityConfig::defaults().resolve());
    assert_eq!(CommunityConfig::from_env(&env(&[])).unwrap(), CommunityConfig::default());
}

#[test]
fn env_parse_errors_name_the_variable() {
    let cases = [
        ("PS_MENTION_FILTER_MAX_MENTIONS", "twenty"),
        ("PS_DENSITY_FILTER_MAX_DENSITY", "high"),
        ("PS_MJOLNIR_FILTER_ENABLED", "yes"),
        ("PS_FILTER_MODES", "mentions=loud"),
        ("PS_FILTER_MODES", "nosuch=shadow"),
    ];
    for (name, value) in cases {
        let err = CommunityConfig::from_env(&env(&[(name, value)])).unwrap_err();
        assert_eq!(err.key, name, "{value}");
    }
}

#[test]
fn env_lists_bools_and_modes() {
    let c = CommunityConfig::from_env(&env(&[
        ("PS_MEDIA_FILTER_MEDIA_TYPES", ""),
        ("PS_KEYWORD_FILTER_USE_FULL_EVENT", "T"),
        ("PS_DENSITY_FILTER_MAX_DENSITY", "0.5"),
        ("PS_FILTER_MODES", "mentions=shadow, media=off"),
        ("PS_WEBHOOK_URL", "https://hook.example.org/x"),
    ]))
    .unwrap();
    assert_eq!(c.media_filter_media_types, Some(vec![]));
    assert_eq!(c.keyword_filter_use_full_event, Some(true));
    assert_eq!(c.density_filter_max_density, Some(0.5));
    assert_eq!(c.filter_mode(FilterId::Mentions), Some(FilterMode::Shadow));
    assert_eq!(c.filter_mode(FilterId::Media), Some(FilterMode::Off));
    assert_eq!(c.webhook_url.as_deref(), Some("https://hook.example.org/x"));
}

#[test]
fn filter_modes_merge_per_filter() {
    let community = CommunityConfig::from_json(&json!({"filter_modes": {"mentions": "shadow"}})).unwrap();
    let room = CommunityConfig::from_json(&json!({"filter_modes": {"media": "off"}})).unwrap();
    let effective = EffectiveConfig::from_layers(&CommunityConfig::default(), &community, Some(&room));
    assert_eq!(effective.mode(FilterId::Mentions), FilterMode::Shadow);
    assert_eq!(effective.mode(FilterId::Media), FilterMode::Off);
    assert_eq!(effective.mode(FilterId::Keyword), FilterMode::Enforce);
}

#[test]
fn unknown_keys_and_wrong_types_are_rejected() {
    assert!(CommunityConfig::from_json(&json!({"spam_threshold": 0.8})).is_err());
    assert!(CommunityConfig::from_json(&json!({"mention_filter_max_mentions": "20"})).is_err());
    assert!(CommunityConfig::from_json(&json!({"filter_modes": {"nosuch": "off"}})).is_err());
}

#[test]
fn validation_names_the_key() {
    let cases = [
        (json!({"keyword_filter_keywords": ["ok", ""]}), "keyword_filter_keywords"),
        (json!({"link_filter_denied_url_globs": [""]}), "link_filter_denied_url_globs"),
        (json!({"sender_prefilter_allowed_senders": ["alice"]}), "sender_prefilter_allowed_senders"),
        (json!({"policy_list_room_ids": ["#alias:example.org"]}), "policy_list_room_ids"),
        (json!({"policy_list_room_ids": ["!tooshort"]}), "policy_list_room_ids"),
        (json!({"moderation_bot_user_id": "bot"}), "moderation_bot_user_id"),
        (json!({"webhook_url": "ftp://x"}), "webhook_url"),
        (json!({"mention_filter_min_plaintext_length": -1}), "mention_filter_min_plaintext_length"),
        (json!({"density_filter_min_trigger_length": -5}), "density_filter_min_trigger_length"),
    ];
    for (layer, key) in cases {
        let err = CommunityConfig::from_json(&layer).unwrap().validate().unwrap_err();
        assert_eq!(err.key, key, "{layer}");
    }
    let fine = json!({"mention_filter_max_mentions": -1, "hellban_postfilter_minutes": 0, "moderation_bot_user_id": "",
        // A room ID of room version 12 has no server part.
        "policy_list_room_ids": ["!old:example.org", "!gPv1UJTgUfpw81AjmFDnjoz25-4JUEfPpZNyjjcU0HA"]});
    CommunityConfig::from_json(&fine).unwrap().validate().unwrap();
    CommunityConfig::defaults().validate().unwrap();
}

#[test]
fn non_finite_floats_are_rejected() {
    let c = CommunityConfig { frequency_filter_rate_limit: Some(f64::NAN), ..Default::default() };
    assert_eq!(c.validate().unwrap_err().key, "frequency_filter_rate_limit");
}

/// §8.3 #14: naming a filter that does not exist is a configuration error, in JSON and in the environment.
#[test]
fn unknown_filter_names_are_errors() {
    let error =
        CommunityConfig::from_json(&json!({"filter_modes": {"no_such_filter": "shadow"}})).unwrap_err();
    assert!(error.to_string().contains("no_such_filter"), "{error}");
    let error = CommunityConfig::from_json(&json!({"filter_modes": {"mentions": "loud"}})).unwrap_err();
    assert!(error.to_string().contains("loud"), "{error}");
    let error = CommunityConfig::from_env(&env(&[("PS_FILTER_MODES", "no_such_filter=off")])).unwrap_err();
    assert!(error.to_string().contains("no_such_filter"), "{error}");
    assert!(CommunityConfig::from_json(&json!({"filter_modes": {"mentions": "shadow"}})).is_ok());
}
