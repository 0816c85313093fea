//! Events per sender over a 60-second sliding window, for the listed event types.

use crate::filter::{Filter, FilterContext, FilterError, Outcome};
use crate::handles::{BoxFuture, CounterKey};
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Frequency;

const WINDOW_MS: u64 = 60_000;

impl Filter for Frequency {
    fn id(&self) -> FilterId {
        FilterId::Frequency
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.frequency_filter_event_types.is_empty() && cx.config.frequency_filter_rate_limit > 0.0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        Box::pin(async move {
            let event_type = cx.event.event_type();
            if !cx.config.frequency_filter_event_types.iter().any(|t| t == event_type) {
                return Ok(Outcome::neutral(format!("{event_type} is not rate limited")));
            }
            let rate = cx.config.frequency_filter_rate_limit;
            let key = CounterKey {
                counter: FilterId::Frequency.as_str(),
                community: cx.scope.community_id,
                user: cx.event.sender(),
            };
            // Read before adding, so this event is counted exactly once (policyserv could count it twice).
            let previous = cx.handles.counters.sum(key, WINDOW_MS, cx.now_ms).await?;
            cx.handles.counters.add(key, 1, cx.now_ms).await?;
            let total = previous.saturating_add(1);
            Ok(if total as f64 / 60.0 > rate {
                Outcome::prohibited(
                    &[harms::SPAM_FLOODING],
                    format!("{total} events in 60 s > limit {rate}/s"),
                )
                .until(cx.now_ms.saturating_add(WINDOW_MS))
            } else {
                Outcome::neutral(format!("{total} events in 60 s within limit {rate}/s"))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #36 (1 event per minute).
    #[test]
    fn vectors() {
        let h = Harness::new(
            json!({"frequency_filter_rate_limit": 1.0 / 60.0, "frequency_filter_event_types": ["m.room.message"]}),
        );
        let unrelated = event("m.reaction", "@s:example.org", json!({}));
        assert_eq!(h.judge(FilterId::Frequency, unrelated.clone()), neutral());
        assert_eq!(h.judge(FilterId::Frequency, unrelated), neutral());
        assert_eq!(h.judge(FilterId::Frequency, message("@s:example.org", "one")), neutral());
        h.clock.advance_ms(500);
        let outcome = h.run(FilterId::Frequency, message("@s:example.org", "two")).unwrap();
        assert_eq!(outcome.harms, vec![harms::SPAM_FLOODING]);
        assert_eq!(outcome.expiry, Some(T0 + 500 + 60_000));
        assert_eq!(h.judge(FilterId::Frequency, message("@other:example.org", "one")), neutral());
    }
}
