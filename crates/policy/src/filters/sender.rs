//! Allow-listed senders skip the content filters.

use crate::FilterId;
use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Sender;

impl Filter for Sender {
    fn id(&self) -> FilterId {
        FilterId::Sender
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.sender_prefilter_allowed_senders.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let sender = cx.event.sender();
        ready(Ok(if cx.config.sender_prefilter_allowed_senders.iter().any(|s| s == sender) {
            Outcome::allowed("sender is allow-listed")
        } else {
            Outcome::neutral("sender is not allow-listed")
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::FilterId;
    use crate::testing::*;

    /// §8.4 #26.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"sender_prefilter_allowed_senders": ["@alice:example.org"]}));
        assert_eq!(h.judge(FilterId::Sender, message("@bob:example.org", "hi")), neutral());
        assert_eq!(h.judge(FilterId::Sender, message("@alice:example.org", "hi")), allowed());
    }
}
