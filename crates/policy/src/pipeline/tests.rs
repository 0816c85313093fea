use serde_json::json;

use super::*;
use crate::harms::*;
use crate::policy_list::{PolicyRuleSet, PolicyRuleSource};
use crate::room::Member;
use crate::testing::*;

/// §8.3 #17: the foundation intents.
fn foundation() -> Harness {
    let mut h = Harness::new(json!({
        "sender_prefilter_allowed_senders": ["@admin:example.org"],
        "density_filter_max_density": 0.95,
        "hellban_postfilter_minutes": 60,
    }));
    h.room.policy_rules = PolicyRuleSet::from_lists(&[vec![PolicyRuleSource {
        event_type: "m.policy.rule.user".into(),
        state_key: "r".into(),
        content: json!({"entity": "@banned*:example.org", "recommendation": "m.ban"}),
    }]]);
    for i in 0..30 {
        h.room
            .members
            .insert(format!("@m{i}:example.org"), Member { display_name: Some(format!("Mention{i}")) });
    }
    h
}

fn image(sender: &str) -> serde_json::Value {
    event(
        "m.room.message",
        sender,
        json!({"msgtype": "m.image", "body": "i.png", "url": "mxc://example.org/i"}),
    )
}

#[test]
fn foundation_intents() {
    let h = foundation();
    let v = h.decide(image("@admin:example.org"));
    assert_eq!((v.class, v.harms.len()), (ContentClass::Allowed, 0));

    let help = "Hi! To configure the bridge, edit config.yaml like this:\n```\nbridge:\n  enabled: true\n  \
                port: 8080\n```\nthen restart it with `systemctl restart bridge` and check the logs for errors.";
    assert_eq!(h.decide(message("@helper:example.org", help)).class, ContentClass::Neutral);

    let banned = h.decide(message("@banned_sender:example.org", "doesn't matter"));
    assert_eq!(banned.harms, vec![OTHER, SPAM_FLOODING]);

    assert_eq!(h.decide(image("@user:example.org")).harms, vec![SPAM, SPAM_FLOODING, PS_MEDIA]);

    let five: Vec<String> = (0..5).map(|i| format!("Mention{i}")).collect();
    assert_eq!(h.decide(message("@five:example.org", &five.join(", "))).class, ContentClass::Neutral);
    let all: Vec<String> = (0..30).map(|i| format!("Mention{i}")).collect();
    assert_eq!(h.decide(message("@all:example.org", &all.join(", "))).harms, vec![SPAM_FLOODING]);

    let long = "lorem ipsum ".repeat(10000);
    assert_eq!(h.decide(message("@long:example.org", &long)).harms, vec![SPAM_FLOODING]);
    let dense = "spammy-spam".repeat(100);
    assert_eq!(h.decide(message("@dense:example.org", &dense)).harms, vec![SPAM_FLOODING]);

    let after = h.decide(message("@dense:example.org", "a harmless message"));
    assert_eq!(after.harms, vec![SPAM_FLOODING]);
    assert_eq!(after.expiry, Some(T0 + 3_600_000));
    let names: Vec<&str> = after.trace.iter().map(|t| t.filter.as_str()).collect();
    assert_eq!(
        names,
        vec!["event_type", "sender", "unsafe_signing_key", "hellban_prefilter", "hellban_postfilter"]
    );
}

/// §8.3 #13 and §11.13: `Allowed` skips the hellban and content filters; a concurrent prefilter prohibition wins.
#[test]
fn gating_by_class() {
    let mut h = Harness::new(json!({"sender_prefilter_allowed_senders": ["@admin:example.org"]}));
    h.instance.local_user_id = Some("@policy:example.org".into());
    let v = h.decide(message("@admin:example.org", "spammy spam"));
    assert_eq!(v.class, ContentClass::Allowed);
    assert!(v.trace.iter().all(|t| t.filter != "keyword"));
    let mut kick = event("m.room.member", "@admin:example.org", json!({"membership": "leave"}));
    kick["state_key"] = json!("@policy:example.org");
    let v = h.decide(kick);
    assert_eq!(v.harms, vec![OTHER, SPAM_FLOODING], "prohibited by a prefilter, then hellbanned");
    // Redactions are allowed by the default event-type list, even from a hellbanned sender.
    let v = h.decide(event("m.room.redaction", "@admin:example.org", json!({"redacts": "$x"})));
    assert_eq!(v.class, ContentClass::Allowed);
}

#[test]
fn invalid_sender_is_refused_before_any_filter() {
    let h = Harness::new(json!({}));
    let v = h.decide(message("not-a-user", "hi"));
    assert_eq!(v.harms, vec![SPAM, PS_SPEC_NON_COMPLIANCE]);
    assert_eq!(v.trace.len(), 1);
    assert_eq!(v.trace[0].filter, "sender_is_user_id");
}

#[test]
fn off_mode_skips_and_shadow_records() {
    let h = Harness::new(json!({"filter_modes": {"keyword": "off", "many_ats": "shadow"}}));
    let v = h.decide(message("@a:example.org", &format!("spammy spam {}", "@".repeat(25))));
    assert_eq!(v.class, ContentClass::Neutral);
    assert!(v.trace.iter().all(|t| t.filter != "keyword"));
    let shadow = v.trace.iter().find(|t| t.filter == "many_ats").unwrap();
    assert_eq!((shadow.mode, shadow.outcome), (FilterMode::Shadow, ContentClass::Prohibited));
}

#[test]
fn the_table_lists_every_filter_once() {
    let mut seen: Vec<FilterId> = PHASES.iter().flat_map(|p| p.filters.iter().copied()).collect();
    assert_eq!(seen, FilterId::ALL.to_vec(), "pipeline order is FilterId::ALL order");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), FilterId::ALL.len());
}

#[test]
fn trace_has_one_entry_per_filter_that_ran() {
    let h = Harness::new(json!({}));
    let v = h.decide(message("@a:example.org", "hello"));
    let names: Vec<&str> = v.trace.iter().map(|t| t.filter.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "event_type",
            "unsafe_signing_key",
            "hellban_prefilter",
            "keyword",
            "density",
            "length",
            "many_ats",
            "media",
            "untrusted_media",
            "inline_emoji_size",
            "mentions",
            "trim_length"
        ]
    );
    assert!(v.trace.iter().all(|t| t.outcome == ContentClass::Neutral && !t.reason.is_empty()));
}

#[test]
fn text_mode() {
    let h = Harness::new(json!({"many_ats_filter_max_ats": 2}));
    let v = decide_text("spammy spam @_@", &h.config);
    assert_eq!(v.harms, vec![SPAM, SPAM_FLOODING]);
    let names: Vec<&str> = v.trace.iter().map(|t| t.filter.as_str()).collect();
    assert_eq!(names, vec!["keyword", "density", "length", "many_ats", "trim_length"]);
    assert_eq!(decide_text("hello", &h.config).class, ContentClass::Neutral);
    let shadow = Harness::new(json!({"filter_modes": {"keyword": "shadow"}}));
    assert_eq!(decide_text("spammy spam", &shadow.config).class, ContentClass::Neutral);
}

/// Hostile shapes inside a well-formed PDU never panic and never error: every filter is switched on.
#[test]
fn odd_inputs_are_judged_without_panics() {
    let mut h = Harness::new(json!({
        "keyword_template_filter_template_names": ["t"],
        "mention_frequency_filter_rate_limit": 1.0, "frequency_filter_rate_limit": 1.0,
        "user_id_contains_words_filter_max_words": 3, "user_id_length_filter_max_length": 40,
        "sticky_events_filter_allow_sticky_events": false,
        "link_filter_denied_url_globs": ["*evil*"],
        "hma_filter_enabled_banks": ["b"],
    }));
    h.instance.keyword_templates.insert("t".into(), "{{ range .BodyWords }}{{ end }}".into());
    h.instance.local_user_id = Some("@ps:example.org".into());
    h.scanner = Some(crate::handles::FakeScanner::default());
    let contents = [
        json!({"msgtype": 5, "body": ["x"], "formatted_body": {"a": 1}, "m.mentions": "all"}),
        json!({"msgtype": "m.text", "body": "", "formatted_body": "<img", "m.mentions": {"user_ids": [1, null]}}),
        json!({"msgtype": "m.image", "body": "x", "url": "mxc://", "info": "nope"}),
        json!({"msgtype": "m.text", "body": "\u{0}\u{85}\u{a0}", "formatted_body": "<<<img height==>>>"}),
        json!({"body": "é".repeat(1000), "formatted_body": "<img data-mx-emoticon height='99999999999999999999999'>"}),
    ];
    for content in contents {
        for t in ["m.room.message", "m.sticker", "m.reaction", "m.room.member"] {
            let mut e = event(t, "@s:example.org", content.clone());
            e["sticky"] = json!({"duration_ms": "soon"});
            e["state_key"] = json!("@ps:example.org");
            let _ = h.decide(e.clone());
            e["sticky"] = json!({"duration_ms": i64::MAX});
            e["origin_server_ts"] = json!(i64::MIN);
            let _ = h.decide(e);
        }
    }
}

/// A hellban store that is down.
#[derive(Debug)]
struct FailingHellbans;

impl crate::handles::HellbanStore for FailingHellbans {
    fn active_until<'a>(
        &'a self,
        _community: &'a str,
        _user: &'a str,
        _now_ms: u64,
    ) -> crate::handles::BoxFuture<'a, Result<Option<u64>, crate::handles::StateError>> {
        Box::pin(std::future::ready(Err(crate::handles::StateError("hellban store unreachable".into()))))
    }

    fn start<'a>(
        &'a self,
        _community: &'a str,
        _user: &'a str,
        _now_ms: u64,
        _until_ms: u64,
    ) -> crate::handles::BoxFuture<'a, Result<u64, crate::handles::StateError>> {
        Box::pin(std::future::ready(Err(crate::handles::StateError("hellban store unreachable".into()))))
    }
}

/// §8.3 #11–#12: harms accumulate across phases; an error in one phase fails the whole check, naming the phase,
/// and no later phase runs.
#[test]
fn harms_accumulate_and_errors_stop_the_check() {
    // #11: a content filter's spam plus the postfilter's flooding.
    let h = Harness::new(json!({"hellban_postfilter_minutes": 60}));
    let v = h.decide(message("@a:example.org", "spammy spam"));
    assert_eq!(v.harms, [SPAM, SPAM_FLOODING]);
    let filters: Vec<&str> = v.trace.iter().map(|t| t.filter.as_str()).collect();
    assert!(filters.contains(&"keyword") && filters.contains(&"hellban_postfilter"), "{filters:?}");

    // #12: the hellban prefilter (phase 2) fails; the content filters (phase 3) are never invoked.
    let mut h = Harness::new(json!({"hma_filter_enabled_banks": ["bank"]}));
    h.scanner = Some(crate::handles::FakeScanner::default());
    let handles = crate::handles::Handles {
        clock: &h.clock,
        hellbans: &FailingHellbans,
        counters: &h.counters,
        trust: &h.trust,
        media_scanner: h.scanner.as_ref().map(|s| s as _),
        classifier: None,
        signatures: None,
        filter_timer: None,
    };
    let scope = Scope { community_id: &h.community, instance: &h.instance };
    let event = Event::from_json(image("@a:example.org")).unwrap();
    let error = crate::block_on::block_on(decide(&event, &h.room, &h.config, scope, handles)).unwrap_err();
    assert_eq!((error.phase_index, error.filter), (2, FilterId::HellbanPrefilter));
    assert!(error.to_string().starts_with("error at phase 2 (hellban prefilter)"), "{error}");
    assert!(error.to_string().contains("hellban store unreachable"), "{error}");
    assert_eq!(h.scanner.as_ref().unwrap().calls(), 0, "phase 3 ran after the error");
}

/// Records which filters reported a time.
#[derive(Debug, Default)]
struct Timings(std::sync::Mutex<Vec<FilterId>>);

impl crate::handles::FilterTimer for Timings {
    fn filter_ran(&self, filter: FilterId, _took: std::time::Duration) {
        self.0.lock().unwrap().push(filter);
    }
}

#[test]
fn every_filter_that_ran_reports_its_time() {
    let h = Harness::new(json!({}));
    let timings = Timings::default();
    let handles = crate::handles::Handles { filter_timer: Some(&timings), ..h.handles() };
    let scope = Scope { community_id: &h.community, instance: &h.instance };
    let event = Event::from_json(message("@a:example.org", "hello")).unwrap();
    let verdict = crate::block_on::block_on(decide(&event, &h.room, &h.config, scope, handles)).unwrap();
    let timed: Vec<&str> = timings.0.lock().unwrap().iter().map(|id| id.as_str()).collect();
    let traced: Vec<&str> = verdict.trace.iter().map(|t| t.filter.as_str()).collect();
    assert!(!timed.is_empty());
    assert_eq!(timed, traced);
}

/// The default configuration decides an event the same however often it runs; a rate counter or an outside
/// classifier makes a second decision visible, unless its filter is off.
#[test]
fn repeatable_unless_a_counter_or_outside_service_can_run() {
    let h = Harness::new(json!({}));
    assert!(decision_is_repeatable(&h.config, &h.instance));
    let counted = Harness::new(json!({"mention_frequency_filter_rate_limit": 2.0}));
    assert!(!decision_is_repeatable(&counted.config, &counted.instance));
    let frequency = Harness::new(json!({"frequency_filter_rate_limit": 1.0}));
    assert!(!decision_is_repeatable(&frequency.config, &frequency.instance));
    let off = Harness::new(json!({"frequency_filter_rate_limit": 1.0, "filter_modes": {"frequency": "off"}}));
    assert!(decision_is_repeatable(&off.config, &off.instance));
    let mut classified = Harness::new(json!({}));
    classified.instance.classifier_room_ids = vec!["!room:example.org".to_owned()];
    assert!(!decision_is_repeatable(&classified.config, &classified.instance));
    let scanned = Harness::new(json!({"hma_filter_enabled_banks": ["csam"]}));
    assert!(!decision_is_repeatable(&scanned.config, &scanned.instance));
}
