//! Senders of refused events are hellbanned for `hellban_postfilter_minutes`.

use crate::filter::{Filter, FilterContext, FilterError, Outcome};
use crate::handles::BoxFuture;
use crate::{FilterId, FilterMode, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct HellbanPostfilter;

impl Filter for HellbanPostfilter {
    fn id(&self) -> FilterId {
        FilterId::HellbanPostfilter
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.hellban_postfilter_minutes > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        Box::pin(async move {
            let minutes = u64::try_from(cx.config.hellban_postfilter_minutes).unwrap_or(0);
            let until = cx.now_ms.saturating_add(minutes.saturating_mul(60_000));
            if cx.mode == FilterMode::Shadow {
                // Shadow mode must not change anything, including future verdicts.
                return Ok(Outcome::prohibited(
                    &[harms::SPAM_FLOODING],
                    format!("would hellban for {minutes} min"),
                ));
            }
            let until =
                cx.handles.hellbans.start(cx.scope.community_id, cx.event.sender(), cx.now_ms, until).await?;
            Ok(Outcome::prohibited(&[harms::SPAM_FLOODING], format!("sender hellbanned for {minutes} min"))
                .until(until))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::block_on::block_on;
    use crate::handles::HellbanStore;
    use crate::testing::*;
    use crate::{ContentClass, FilterId, harms};

    /// §8.4 #38: bans are per community, are not extended by repeated spam, and end.
    #[test]
    fn prefilter_vectors() {
        let h = Harness::new(json!({"hellban_postfilter_minutes": 1}));
        block_on(h.hellbans.start("community", "@spam:example.org", T0, T0 + 10_000)).unwrap();
        block_on(h.hellbans.start("other", "@neutral:example.org", T0, T0 + 10_000)).unwrap();
        let flooding = prohibited(&[harms::SPAM_FLOODING]);
        assert_eq!(h.judge(FilterId::HellbanPrefilter, message("@spam:example.org", "hi")), flooding);
        assert_eq!(h.judge(FilterId::HellbanPrefilter, message("@neutral:example.org", "hi")), neutral());
        for step in 1..=6 {
            block_on(h.hellbans.start(
                "community",
                "@spam:example.org",
                T0 + step * 1000,
                T0 + step * 1000 + 10_000,
            ))
            .unwrap();
        }
        h.clock.set_ms(T0 + 12_000);
        assert_eq!(h.judge(FilterId::HellbanPrefilter, message("@spam:example.org", "hi")), neutral());
    }

    /// §8.4 #39.
    #[test]
    fn postfilter_vectors() {
        let h = Harness::new(
            json!({"media_filter_media_types": ["m.sticker"], "hellban_postfilter_minutes": 60}),
        );
        let sticker = event("m.sticker", "@spam:example.org", json!({}));
        let first = h.decide(sticker.clone());
        assert_eq!(first.harms, vec![harms::SPAM, harms::SPAM_FLOODING, harms::PS_MEDIA]);
        assert_eq!(first.expiry, None, "the media refusal is permanent");
        let second = h.decide(sticker);
        assert_eq!(second.harms, vec![harms::SPAM_FLOODING], "content filters skipped");
        assert_eq!(second.expiry, Some(T0 + 3_600_000));
        assert!(second.trace.iter().all(|t| t.filter != "media"));
        // A neutral event does not start a ban.
        let v = h.decide(message("@fine:example.org", "hello"));
        assert_eq!(v.class, ContentClass::Neutral);
        assert_eq!(h.judge(FilterId::HellbanPrefilter, message("@fine:example.org", "hi")), neutral());
    }

    #[test]
    fn shadow_mode_does_not_ban() {
        let h = Harness::new(json!({"media_filter_media_types": ["m.sticker"],
            "filter_modes": {"hellban_postfilter": "shadow"}}));
        let v = h.decide(event("m.sticker", "@spam:example.org", json!({})));
        assert_eq!(v.harms, vec![harms::SPAM, harms::PS_MEDIA]);
        assert!(v.trace.iter().any(|t| t.filter == "hellban_postfilter" && t.reason.starts_with("would")));
        assert_eq!(h.judge(FilterId::HellbanPrefilter, message("@spam:example.org", "hi")), neutral());
    }
}
