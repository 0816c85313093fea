//! Moderation policy lists: ban and takedown rules for the sender and its server, for every event type.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::policy_list::{EntityKind, Recommendation};
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct PolicyList;

impl Filter for PolicyList {
    fn id(&self) -> FilterId {
        FilterId::PolicyList
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.mjolnir_filter_enabled && !cx.room.policy_rules.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let Some(found) = cx.room.policy_rules.check_user(cx.event.sender()) else {
            return ready(Ok(Outcome::neutral("no policy rule matches the sender")));
        };
        let what = match found.kind {
            EntityKind::Server => "server",
            EntityKind::User | EntityKind::Room => "user",
        };
        let list = found.list_index;
        ready(Ok(match found.recommendation {
            Recommendation::Allow => {
                Outcome::neutral(format!("{what} allowed by list #{list} rule {}", found.entity))
            }
            Recommendation::Ban => {
                let reason = found.reason.map(|r| format!(" ({r})")).unwrap_or_default();
                Outcome::prohibited(
                    &[harms::OTHER],
                    format!("{what} banned by list #{list} rule {}{reason}", found.entity),
                )
            }
            // Never surface anything about a takedown beyond the fact (MSC4204).
            Recommendation::Takedown => {
                Outcome::prohibited(&[harms::OTHER], format!("{what} taken down by list #{list}"))
                    .and_redact()
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::policy_list::{PolicyRuleSet, PolicyRuleSource};
    use crate::testing::*;
    use crate::{FilterId, harms};

    fn rule(t: &str, entity: &str, recommendation: &str) -> PolicyRuleSource {
        PolicyRuleSource {
            event_type: t.into(),
            state_key: entity.into(),
            content: json!({"entity": entity, "recommendation": recommendation, "reason": "secret reason"}),
        }
    }

    /// §8.4 #25, extended to every event type (policyserv only checked messages).
    #[test]
    fn vectors() {
        let mut h = Harness::new(json!({}));
        h.room.policy_rules = PolicyRuleSet::from_lists(&[vec![
            rule("m.policy.rule.user", "@alice*:example.org", "m.ban"),
            rule("m.policy.rule.server", "*.example.org", "m.ban"),
        ]]);
        let other = prohibited(&[harms::OTHER]);
        let cases = [
            (message("@aliceeeeeeeeee:example.org", "hi"), other.clone()),
            (message("@bob:subdomain.example.org", "hi"), other.clone()),
            (message("@alic:example.org", "hi"), neutral()),
            (message("@bob:example.org", "hi"), neutral()),
            (event("m.room.member", "@aliceeeee:example.org", json!({"membership": "join"})), other.clone()),
            (event("m.reaction", "@bob:subdomain.example.org", json!({})), other),
        ];
        for (e, want) in cases {
            assert_eq!(h.judge(FilterId::PolicyList, e.clone()), want, "{e}");
        }
        let off = Harness { config: Harness::new(json!({"mjolnir_filter_enabled": false})).config, ..h };
        assert_eq!(off.run(FilterId::PolicyList, message("@aliceeeeeeeeee:example.org", "hi")), None);
    }

    #[test]
    fn takedown_reason_is_never_shown() {
        let mut h = Harness::new(json!({}));
        h.room.policy_rules =
            PolicyRuleSet::from_lists(&[vec![rule("m.policy.rule.user", "@evil:example.org", "m.takedown")]]);
        let outcome = h.run(FilterId::PolicyList, message("@evil:example.org", "hi")).unwrap();
        assert_eq!(outcome.harms, vec![harms::OTHER]);
        assert!(!outcome.reason.contains("secret"), "{}", outcome.reason);
        assert!(!outcome.reason.contains("@evil"), "{}", outcome.reason);
        assert!(outcome.redact);
        let verdict = h.decide(message("@evil:example.org", "hi"));
        assert!(verdict.redact);
        assert!(!serde_json::to_string(&verdict).unwrap().contains("secret"));
        assert!(!h.decide(message("@fine:example.org", "hi")).redact);
    }
}
