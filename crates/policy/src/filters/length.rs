//! Oversized messages: the byte length of the whole event JSON.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{EffectiveConfig, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Length;

/// Compares a byte length with the limit.
fn judge(len: usize, max: i64, what: &str) -> Outcome {
    if len as i64 > max {
        Outcome::prohibited(&[harms::SPAM_FLOODING], format!("{what} is {len} bytes > limit {max}"))
    } else {
        Outcome::neutral(format!("{what} is {len} bytes <= limit {max}"))
    }
}

impl Filter for Length {
    fn id(&self) -> FilterId {
        FilterId::Length
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.length_filter_max_length > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        if !cx.event.is_message() {
            return ready(Ok(Outcome::neutral("not a message")));
        }
        let max = cx.config.length_filter_max_length;
        let len = cx.event.full_json_len();
        ready(Ok(judge(len, max, "event")))
    }

    fn check_text(&self, text: &str, config: &EffectiveConfig) -> Option<Outcome> {
        let max = config.length_filter_max_length;
        (max > 0).then(|| judge(text.len(), max, "text"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::filter::Filter;
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #20 (the limit applies to the whole event, so it is set relative to an empty message's size).
    #[test]
    fn vectors() {
        let base = crate::Event::from_json(message("@a:example.org", "")).unwrap().full_json().len() as i64;
        let h = Harness::new(json!({"length_filter_max_length": base + 300}));
        let long = "a".repeat(301);
        assert_eq!(
            h.judge(FilterId::Length, message("@a:example.org", &long)),
            prohibited(&[harms::SPAM_FLOODING])
        );
        assert_eq!(h.judge(FilterId::Length, message("@a:example.org", &long[1..])), neutral());
        assert_eq!(h.judge(FilterId::Length, message("@a:example.org", "not long enough")), neutral());
        let text = Harness::new(json!({"length_filter_max_length": 300}));
        let class = |t: &str| super::Length.check_text(t, &text.config).map(|o| o.class);
        assert_eq!(class(&long), Some(crate::ContentClass::Prohibited));
        assert_eq!(class("not long enough"), Some(crate::ContentClass::Neutral));
        assert_eq!(
            h.judge(FilterId::Length, event("m.sticker", "@a:example.org", json!({"body": long}))),
            neutral()
        );
    }
}
