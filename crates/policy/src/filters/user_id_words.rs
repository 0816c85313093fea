//! Sender localparts made of many words (generated spam accounts), for every event type including joins.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct UserIdWords;

/// Runs of ASCII letters and digits; anything else (including non-ASCII letters) separates words.
fn count_words(localpart: &str) -> usize {
    localpart.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).count()
}

impl Filter for UserIdWords {
    fn id(&self) -> FilterId {
        FilterId::UserIdWords
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.user_id_contains_words_filter_max_words > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let max = cx.config.user_id_contains_words_filter_max_words;
        let words = cx.event.sender_id().map_or(0, |u| count_words(u.localpart()));
        ready(Ok(if words as i64 > max {
            Outcome::prohibited(&[harms::SPAM_FLOODING], format!("{words} words in localpart > limit {max}"))
        } else {
            Outcome::neutral(format!("{words} words in localpart <= limit {max}"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #30.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"user_id_contains_words_filter_max_words": 3}));
        let cases = [
            ("@user.with_four-words:example.org", prohibited(&[harms::SPAM_FLOODING])),
            ("@two.words:example.org", neutral()),
            ("@-_-empty_words.-.:example.org", neutral()),
        ];
        for (sender, want) in cases {
            assert_eq!(h.judge(FilterId::UserIdWords, message(sender, "hi")), want, "{sender}");
        }
        assert_eq!(super::count_words("naïve.user"), 3, "non-ASCII letters separate words");
    }
}
