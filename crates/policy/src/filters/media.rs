//! Media events: the list mixes event types (`m.sticker`) and message msgtypes (`m.image`).

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{Event, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Media;

/// The listed event type or msgtype the event is, if any.
pub(crate) fn listed_media_kind<'e>(event: &'e Event, list: &[String]) -> Option<&'e str> {
    if list.iter().any(|t| t == event.event_type()) {
        return Some(event.event_type());
    }
    event.msgtype().filter(|m| event.is_message() && list.iter().any(|t| t == m))
}

impl Filter for Media {
    fn id(&self) -> FilterId {
        FilterId::Media
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.media_filter_media_types.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        ready(Ok(match listed_media_kind(cx.event, &cx.config.media_filter_media_types) {
            Some(kind) => {
                Outcome::prohibited(&[harms::SPAM, harms::PS_MEDIA], format!("{kind} media is not allowed"))
            }
            None => Outcome::neutral("not a blocked media type"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #23.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"media_filter_media_types": ["m.sticker", "m.image"]}));
        let media = prohibited(&[harms::SPAM, harms::PS_MEDIA]);
        let msg = |msgtype: &str| {
            event("m.room.message", "@a:example.org", json!({"msgtype": msgtype, "body": "x"}))
        };
        let cases = [
            (event("m.sticker", "@a:example.org", json!({})), media.clone()),
            (msg("m.image"), media),
            (msg("m.file"), neutral()),
            (msg("m.text"), neutral()),
            (event("m.reaction", "@a:example.org", json!({})), neutral()),
        ];
        for (e, want) in cases {
            assert_eq!(h.judge(FilterId::Media, e.clone()), want, "{e}");
        }
    }
}
