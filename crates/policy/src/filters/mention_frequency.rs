//! Mentions per sender over a 60-second sliding window.

use super::mentions::count_mentions;
use crate::filter::{Filter, FilterContext, FilterError, Outcome};
use crate::handles::{BoxFuture, CounterKey};
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct MentionFrequency;

/// The sliding window.
pub(crate) const WINDOW_MS: u64 = 60_000;

impl Filter for MentionFrequency {
    fn id(&self) -> FilterId {
        FilterId::MentionFrequency
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.mention_frequency_filter_rate_limit > 0.0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        Box::pin(async move {
            // Only messages are counted and judged. policyserv judged every event against the sender's count, so a
            // sender over the limit could not even leave the room (catalogue §11.8).
            if !cx.event.is_message() {
                return Ok(Outcome::neutral("not a message"));
            }
            let rate = cx.config.mention_frequency_filter_rate_limit;
            let key = CounterKey {
                counter: FilterId::MentionFrequency.as_str(),
                community: cx.scope.community_id,
                user: cx.event.sender(),
            };
            let mentions =
                count_mentions(cx.event, cx.room, cx.config.mention_frequency_filter_min_plaintext_length);
            let previous = cx.handles.counters.sum(key, WINDOW_MS, cx.now_ms).await?;
            if mentions > 0 {
                cx.handles.counters.add(key, mentions as u64, cx.now_ms).await?;
            }
            let total = previous.saturating_add(mentions as u64);
            let per_second = total as f64 / 60.0;
            Ok(if per_second > rate {
                Outcome::prohibited(
                    &[harms::SPAM_FLOODING],
                    format!("{total} mentions in 60 s > limit {rate}/s"),
                )
                .until(cx.now_ms.saturating_add(WINDOW_MS))
            } else {
                Outcome::neutral(format!("{total} mentions in 60 s within limit {rate}/s"))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::room::Member;
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #37 (5 mentions per minute = 1/12 per second).
    #[test]
    fn vectors() {
        let mut h = Harness::new(json!({"mention_frequency_filter_rate_limit": 5.0 / 60.0}));
        for i in 1..=6 {
            h.room.members.insert(format!("@m{i}:example.org"), Member::default());
        }
        let mentioning = |ids: &[&str]| {
            event(
                "m.room.message",
                "@s:example.org",
                json!({"msgtype": "m.text", "body": "hi",
                "m.mentions": {"user_ids": ids}}),
            )
        };
        let all = [
            "@m1:example.org",
            "@m2:example.org",
            "@m3:example.org",
            "@m4:example.org",
            "@m5:example.org",
            "@m6:example.org",
        ];
        let unrelated = event("m.reaction", "@s:example.org", json!({"m.mentions": {"user_ids": all}}));
        assert_eq!(h.judge(FilterId::MentionFrequency, unrelated.clone()), neutral());
        assert_eq!(h.judge(FilterId::MentionFrequency, mentioning(&all[..3])), neutral());
        h.clock.advance_ms(1000);
        assert_eq!(
            h.judge(FilterId::MentionFrequency, mentioning(&all[3..])),
            prohibited(&[harms::SPAM_FLOODING])
        );
        // Over the limit, the sender can still react or leave.
        assert_eq!(h.judge(FilterId::MentionFrequency, unrelated), neutral());
        h.clock.advance_ms(60_000);
        assert_eq!(h.judge(FilterId::MentionFrequency, mentioning(&all[..3])), neutral());
    }
}
