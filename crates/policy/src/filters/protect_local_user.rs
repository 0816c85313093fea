//! Nobody but the policy server's own user may change its membership (invite, kick, ban).

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ProtectLocalUser;

impl Filter for ProtectLocalUser {
    fn id(&self) -> FilterId {
        FilterId::ProtectLocalUser
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.scope.instance.local_user_id.is_some()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let local = cx.scope.instance.local_user_id.as_deref();
        let event = cx.event;
        let targets_us = event.event_type() == "m.room.member"
            && event.state_key().is_some()
            && event.state_key() == local;
        ready(Ok(if targets_us && Some(event.sender()) != local {
            Outcome::prohibited(
                &[harms::OTHER],
                "membership change of the policy server's user by someone else",
            )
        } else {
            Outcome::neutral("does not touch the policy server's membership")
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #28.
    #[test]
    fn vectors() {
        let mut h = Harness::new(json!({}));
        h.instance.local_user_id = Some("@alice:example.org".into());
        let member = |sender: &str| {
            let mut e = event("m.room.member", sender, json!({"membership": "invite"}));
            e["state_key"] = json!("@alice:example.org");
            e
        };
        assert_eq!(
            h.judge(FilterId::ProtectLocalUser, member("@bob:example.org")),
            prohibited(&[harms::OTHER])
        );
        assert_eq!(h.judge(FilterId::ProtectLocalUser, member("@alice:example.org")), neutral());
        let mut other = member("@bob:example.org");
        other["state_key"] = json!("@carol:example.org");
        assert_eq!(h.judge(FilterId::ProtectLocalUser, other), neutral());
    }
}
