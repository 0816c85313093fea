//! Allow-listed event types skip the content filters.

use crate::FilterId;
use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct EventType;

impl Filter for EventType {
    fn id(&self) -> FilterId {
        FilterId::EventType
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.event_type_prefilter_allowed_event_types.is_empty()
            || !cx.config.event_type_prefilter_allowed_state_event_types.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let event = cx.event;
        // Any state key, including "", makes it a state event.
        let list = if event.is_state() {
            &cx.config.event_type_prefilter_allowed_state_event_types
        } else {
            &cx.config.event_type_prefilter_allowed_event_types
        };
        let kind = if event.is_state() { "state event type" } else { "event type" };
        ready(Ok(if list.iter().any(|t| t == event.event_type()) {
            Outcome::allowed(format!("{kind} {} is allow-listed", event.event_type()))
        } else {
            Outcome::neutral(format!("{kind} {} is not allow-listed", event.event_type()))
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::FilterId;
    use crate::testing::*;

    /// §8.4 #19.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({
            "event_type_prefilter_allowed_event_types": ["m.room.message"],
            "event_type_prefilter_allowed_state_event_types": ["m.room.topic"],
        }));
        let with_state_key = |t: &str| {
            let mut e = event(t, "@a:example.org", json!({}));
            e["state_key"] = json!("");
            e
        };
        let cases = [
            (event("m.room.topic", "@a:example.org", json!({})), neutral()),
            (with_state_key("m.room.message"), neutral()),
            (event("m.room.message", "@a:example.org", json!({})), allowed()),
            (with_state_key("m.room.topic"), allowed()),
        ];
        for (e, want) in cases {
            assert_eq!(h.judge(FilterId::EventType, e.clone()), want, "{e}");
        }
    }
}
