//! Many `@` characters in the content JSON (mass pings by user ID), for every event type.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{EffectiveConfig, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ManyAts;

/// Counts `@` in `text`.
fn judge(text: &str, max: i64) -> Outcome {
    let count = text.matches('@').count();
    if count as i64 >= max {
        Outcome::prohibited(&[harms::SPAM_FLOODING], format!("{count} @ characters >= limit {max}"))
    } else {
        Outcome::neutral(format!("{count} @ characters < limit {max}"))
    }
}

impl Filter for ManyAts {
    fn id(&self) -> FilterId {
        FilterId::ManyAts
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.many_ats_filter_max_ats > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        ready(Ok(judge(cx.event.content_json(), cx.config.many_ats_filter_max_ats)))
    }

    fn check_text(&self, text: &str, config: &EffectiveConfig) -> Option<Outcome> {
        let max = config.many_ats_filter_max_ats;
        (max > 0).then(|| judge(text, max))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::filter::Filter;
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #22.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"many_ats_filter_max_ats": 2}));
        let flooding = prohibited(&[harms::SPAM_FLOODING]);
        assert_eq!(h.judge(FilterId::ManyAts, message("@a:example.org", "@_@")), flooding);
        assert_eq!(h.judge(FilterId::ManyAts, message("@a:example.org", "one @")), neutral());
        let text = |t: &str| super::ManyAts.check_text(t, &h.config).map(|o| o.class);
        assert_eq!(text("@_@"), Some(crate::ContentClass::Prohibited));
        assert_eq!(text("one @"), Some(crate::ContentClass::Neutral));
        let mentions = event(
            "m.room.message",
            "@a:example.org",
            json!({"msgtype": "m.text", "body": "test m.mentions",
            "m.mentions": {"user_ids": ["@b:example.org", "@c:example.org", "@d:example.org"]}}),
        );
        assert_eq!(h.judge(FilterId::ManyAts, mentions), flooding);
    }
}
