//! Operator-written keyword templates; every token a template prints is a harm ID.

use std::borrow::Cow;

use crate::FilterId;
use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::keyword_template::KeywordTemplate as Template;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct KeywordTemplate;

/// Runs every configured template that exists (missing names are skipped, as in policyserv).
fn run(cx: &FilterContext<'_>) -> Result<Outcome, FilterError> {
    if !cx.event.is_message() {
        return Ok(Outcome::neutral("not a message"));
    }
    let text = if cx.config.keyword_template_filter_use_full_event {
        Cow::Borrowed(cx.event.full_json())
    } else {
        Cow::Owned(format!("{} {}", cx.event.body().unwrap_or(""), cx.event.formatted_body().unwrap_or("")))
    };
    let mut harm_ids = Vec::new();
    let mut fired = Vec::new();
    for name in &cx.config.keyword_template_filter_template_names {
        let Some(source) = cx.scope.instance.keyword_templates.get(name) else { continue };
        let template = Template::parse(name, source).map_err(|e| FilterError(e.to_string()))?;
        let harms = template.harms(&text).map_err(|e| FilterError(e.to_string()))?;
        if !harms.is_empty() {
            fired.push(name.as_str());
        }
        harm_ids.extend(harms);
    }
    Ok(if harm_ids.is_empty() {
        Outcome::neutral("no template matched")
    } else {
        let refs: Vec<&str> = harm_ids.iter().map(String::as_str).collect();
        Outcome::prohibited(&refs, format!("template(s) {} matched", fired.join(", ")))
    })
}

impl Filter for KeywordTemplate {
    fn id(&self) -> FilterId {
        FilterId::KeywordTemplate
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.keyword_template_filter_template_names.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        ready(run(cx))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::FilterId;
    use crate::testing::*;

    const SPAM: &str = "org.example.keyword.spam";
    const FLOOD: &str = "org.example.keyword.spam.flooding";

    fn harness(full: bool) -> Harness {
        let mut h =
            Harness::new(json!({"keyword_template_filter_template_names": ["example", "does_not_exist"],
            "keyword_template_filter_use_full_event": full}));
        h.instance
            .keyword_templates
            .insert("example".into(), crate::keyword_template::tests_example().into());
        h
    }

    /// §8.4 #33.
    #[test]
    fn vectors() {
        let h = harness(false);
        let cases = [
            (message("@a:example.org", "this has a bad word, bad2, in it"), prohibited(&[SPAM, FLOOD])),
            (message("@a:example.org", "LET'S TEST CASE SENSITIVITY TOO: BAD3"), prohibited(&[SPAM, FLOOD])),
            (
                event(
                    "m.room.message",
                    "@a:example.org",
                    json!({"msgtype": "m.text", "body": "fine",
                    "formatted_body": "this contains bad1 in html"}),
                ),
                prohibited(&[SPAM, FLOOD]),
            ),
            (message("@a:example.org", "this is not spam"), neutral()),
            (event("m.sticker", "@a:example.org", json!({"body": "bad1"})), neutral()),
        ];
        for (e, want) in cases {
            assert_eq!(h.judge(FilterId::KeywordTemplate, e.clone()), want, "{e}");
        }
        let mut full = harness(true);
        full.instance.keyword_templates.insert(
            "example".into(),
            r#"{{ if StringContains .BodyRaw "@user_id_has_the_keyword:" }}org.example.keyword.spam{{ end }}"#.into(),
        );
        let e = message("@user_id_has_the_keyword:example.org", "hello");
        assert_eq!(full.judge(FilterId::KeywordTemplate, e), prohibited(&[SPAM]));
    }

    #[test]
    fn a_broken_template_fails_the_check() {
        let mut h = harness(false);
        h.instance.keyword_templates.insert("example".into(), "{{ if }".into());
        let event = crate::Event::from_json(message("@a:example.org", "x")).unwrap();
        let err = crate::block_on::block_on(crate::decide(
            &event,
            &h.room,
            &h.config,
            crate::Scope { community_id: "c", instance: &h.instance },
            crate::handles::Handles {
                clock: &h.clock,
                hellbans: &h.hellbans,
                counters: &h.counters,
                trust: &h.trust,
                media_scanner: None,
                classifier: None,
                signatures: None,
                filter_timer: None,
            },
        ))
        .unwrap_err();
        assert_eq!(err.filter, FilterId::KeywordTemplate);
        assert_eq!(err.phase_index, 3);
    }
}
