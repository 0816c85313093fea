//! Case-sensitive keywords in the content JSON (or the full event JSON), for every event type.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{EffectiveConfig, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Keyword;

/// Whether the configuration switches the filter on.
fn on(config: &EffectiveConfig) -> bool {
    !config.keyword_filter_keywords.is_empty()
}

/// The first keyword in `haystack`.
fn judge(config: &EffectiveConfig, haystack: &str, place: &str) -> Outcome {
    match config.keyword_filter_keywords.iter().find(|k| haystack.contains(k.as_str())) {
        Some(keyword) => Outcome::prohibited(&[harms::SPAM], format!("{place} contains keyword {keyword:?}")),
        None => Outcome::neutral(format!("no keyword in {place}")),
    }
}

impl Filter for Keyword {
    fn id(&self) -> FilterId {
        FilterId::Keyword
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        on(cx.config)
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let full = cx.config.keyword_filter_use_full_event;
        let haystack = if full { cx.event.full_json() } else { cx.event.content_json() };
        ready(Ok(judge(cx.config, haystack, if full { "event" } else { "content" })))
    }

    fn check_text(&self, text: &str, config: &EffectiveConfig) -> Option<Outcome> {
        on(config).then(|| judge(config, text, "text"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::filter::Filter;
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #32.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"keyword_filter_keywords": ["spammy spam", "example"]}));
        let cases = [
            ("spammy spam", prohibited(&[harms::SPAM])),
            ("this is a longer example of a message", prohibited(&[harms::SPAM])),
            ("this is not spam, nor is it spammy", neutral()),
        ];
        for (body, want) in cases {
            assert_eq!(h.judge(FilterId::Keyword, message("@a:example.org", body)), want, "{body}");
        }
        let text = |t: &str| super::Keyword.check_text(t, &h.config).map(|o| o.class);
        assert_eq!(text("spammy spam"), Some(crate::ContentClass::Prohibited));
        assert_eq!(text("fine"), Some(crate::ContentClass::Neutral));
        let sender = "@user_id_has_the_keyword_instead:example.org";
        let content_only =
            Harness::new(json!({"keyword_filter_keywords": ["user_id_has_the_keyword_instead"]}));
        assert_eq!(content_only.judge(FilterId::Keyword, message(sender, "hello")), neutral());
        let full = Harness::new(json!({
            "keyword_filter_keywords": ["user_id_has_the_keyword_instead"], "keyword_filter_use_full_event": true}));
        assert_eq!(full.judge(FilterId::Keyword, message(sender, "hello")), prohibited(&[harms::SPAM]));
    }
}
