//! Sticky events (MSC4354) that are still within their sticky window.

use serde_json::Value;

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{Event, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct StickyEvents;

/// MSC4354 caps stickiness at one hour.
const MAX_STICKY_MS: i64 = 3_600_000;

/// When the event stops being sticky, if it is sticky at all: `min(origin_server_ts, now) + min(duration, 1 h)`
/// (a future timestamp cannot extend the window).
fn sticky_until(event: &Event, now_ms: i64) -> Option<i64> {
    let json = event.json();
    let duration = ["sticky", "msc4354_sticky"]
        .iter()
        .find_map(|key| json.get(*key).and_then(|s| s.get("duration_ms")).and_then(Value::as_i64))?;
    let start = event.origin_server_ts().unwrap_or(now_ms).min(now_ms);
    Some(start.saturating_add(duration.clamp(0, MAX_STICKY_MS)))
}

impl Filter for StickyEvents {
    fn id(&self) -> FilterId {
        FilterId::StickyEvents
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.sticky_events_filter_allow_sticky_events
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let now = i64::try_from(cx.now_ms).unwrap_or(i64::MAX);
        ready(Ok(match sticky_until(cx.event, now) {
            Some(until) if until > now => {
                Outcome::prohibited(&[harms::OTHER], "sticky events are not allowed")
            }
            Some(_) => Outcome::neutral("sticky window has ended"),
            None => Outcome::neutral("not sticky"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #27.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"sticky_events_filter_allow_sticky_events": false}));
        let sticky = |ts: u64, key: &str| {
            let mut e = message("@a:example.org", "hi");
            e["origin_server_ts"] = json!(ts);
            e[key] = json!({"duration_ms": 3_600_000});
            e
        };
        assert_eq!(h.judge(FilterId::StickyEvents, sticky(T0, "sticky")), prohibited(&[harms::OTHER]));
        assert_eq!(
            h.judge(FilterId::StickyEvents, sticky(T0, "msc4354_sticky")),
            prohibited(&[harms::OTHER])
        );
        assert_eq!(h.judge(FilterId::StickyEvents, message("@a:example.org", "hi")), neutral());
        assert_eq!(h.judge(FilterId::StickyEvents, sticky(T0 - 2 * 3_600_000, "sticky")), neutral());
        assert_eq!(Harness::new(json!({})).run(FilterId::StickyEvents, sticky(T0, "sticky")), None);
    }
}
