//! Very long sender IDs, for every event type including joins.

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct UserIdLength;

impl Filter for UserIdLength {
    fn id(&self) -> FilterId {
        FilterId::UserIdLength
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.user_id_length_filter_max_length > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let max = cx.config.user_id_length_filter_max_length;
        let len = cx.event.sender().len();
        ready(Ok(if len as i64 > max {
            Outcome::prohibited(&[harms::SPAM_FLOODING], format!("sender ID is {len} bytes > limit {max}"))
        } else {
            Outcome::neutral(format!("sender ID is {len} bytes <= limit {max}"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #31.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"user_id_length_filter_max_length": 40}));
        let long = format!("@{}:example.org", "a".repeat(40));
        assert_eq!(long.len(), 53);
        let short = "@short_user_id:example.org";
        assert_eq!(short.len(), 26);
        assert_eq!(
            h.judge(FilterId::UserIdLength, message(&long, "hi")),
            prohibited(&[harms::SPAM_FLOODING])
        );
        assert_eq!(h.judge(FilterId::UserIdLength, message(short, "hi")), neutral());
    }
}
