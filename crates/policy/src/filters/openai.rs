//! An external text classifier (policyserv: OpenAI omni moderation), only in the instance's allowed rooms.

use crate::condition::{Condition, Venue};
use crate::filter::{Filter, FilterContext, FilterError, Outcome};
use crate::handles::BoxFuture;
use crate::render::render_for_classifier;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Openai;

/// The classifier category that means sexual content involving minors.
const MINORS: &str = "sexual/minors";

impl Filter for Openai {
    fn id(&self) -> FilterId {
        FilterId::Openai
    }

    /// The condition policyserv wrapped around the executor: a classifier exists and the room is allowed.
    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        let venue = Venue {
            community_id: cx.scope.community_id,
            room_id: &cx.room.room_id,
            sender: cx.event.sender(),
        };
        cx.handles.classifier.is_some()
            && Condition::any_in(Condition::RoomId, &cx.scope.instance.classifier_room_ids).matches(&venue)
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        Box::pin(async move {
            let Some(classifier) = cx.handles.classifier else {
                return Ok(Outcome::neutral("no classifier"));
            };
            let texts = render_for_classifier(cx.event);
            if texts.is_empty() {
                return Ok(Outcome::neutral("nothing to classify"));
            }
            let mut harm_ids = Vec::new();
            for text in &texts {
                match classifier.classify(text).await {
                    Ok(result) if result.flagged => {
                        harm_ids.push(harms::SPAM);
                        if result.categories.contains(MINORS) {
                            harm_ids.push(harms::CHILD_SAFETY_CSAM);
                        }
                    }
                    Ok(_) => {}
                    Err(err) if cx.config.openai_filter_fail_secure => {
                        return Ok(Outcome::prohibited(
                            &[harms::OTHER],
                            format!("classifier failed (fail-secure): {err}"),
                        ));
                    }
                    Err(err) => return Ok(Outcome::neutral(format!("classifier failed (fail-open): {err}"))),
                }
            }
            Ok(if harm_ids.is_empty() {
                Outcome::neutral("classifier did not flag the text")
            } else {
                Outcome::prohibited(&harm_ids, "classifier flagged the text")
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::handles::FakeClassifier;
    use crate::testing::*;
    use crate::{FilterId, harms};

    fn harness(fail: bool, layer: serde_json::Value) -> Harness {
        let mut h = Harness::new(layer);
        h.instance.classifier_room_ids = vec!["!room:example.org".into()];
        h.classifier = Some(FakeClassifier {
            triggers: vec![("buy".into(), vec![]), ("minor".into(), vec!["sexual/minors".into()])],
            fail,
        });
        h
    }

    /// §8.4 #42–#43: runs only in allowed rooms; verdicts and errors per fail-secure.
    #[test]
    fn vectors() {
        let h = harness(false, json!({}));
        assert_eq!(
            h.judge(FilterId::Openai, message("@a:example.org", "buy now")),
            prohibited(&[harms::SPAM])
        );
        assert_eq!(
            h.judge(FilterId::Openai, message("@a:example.org", "minor")),
            prohibited(&[harms::SPAM, harms::CHILD_SAFETY_CSAM])
        );
        assert_eq!(h.judge(FilterId::Openai, message("@a:example.org", "hello")), neutral());
        let mut elsewhere = harness(false, json!({}));
        elsewhere.room.room_id = "!other:example.org".into();
        assert_eq!(elsewhere.run(FilterId::Openai, message("@a:example.org", "buy now")), None);
        let failing = harness(true, json!({}));
        assert_eq!(
            failing.judge(FilterId::Openai, message("@a:example.org", "hi")),
            prohibited(&[harms::OTHER])
        );
        let fail_open = harness(true, json!({"openai_filter_fail_secure": false}));
        assert_eq!(fail_open.judge(FilterId::Openai, message("@a:example.org", "hi")), neutral());
        let no_classifier = Harness::new(json!({}));
        assert_eq!(no_classifier.run(FilterId::Openai, message("@a:example.org", "buy")), None);
    }
}
