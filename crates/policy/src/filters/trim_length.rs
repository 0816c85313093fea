//! Bodies padded with whitespace (pushing earlier messages off screen).

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{EffectiveConfig, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TrimLength;

/// Measures the padding of `body`: Unicode whitespace at both ends, in bytes (Go's `strings.TrimSpace`).
fn judge(body: &str, max: i64) -> Outcome {
    let diff = body.len() - body.trim().len();
    if diff as i64 >= max {
        Outcome::prohibited(&[harms::SPAM_FLOODING], format!("{diff} bytes of padding >= limit {max}"))
    } else {
        Outcome::neutral(format!("{diff} bytes of padding < limit {max}"))
    }
}

impl Filter for TrimLength {
    fn id(&self) -> FilterId {
        FilterId::TrimLength
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.trim_length_filter_max_difference > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let Some(body) = cx.event.body().filter(|_| cx.event.is_message()) else {
            return ready(Ok(Outcome::neutral("no message body")));
        };
        ready(Ok(judge(body, cx.config.trim_length_filter_max_difference)))
    }

    fn check_text(&self, text: &str, config: &EffectiveConfig) -> Option<Outcome> {
        let max = config.trim_length_filter_max_difference;
        (max > 0).then(|| judge(text, max))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #21.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"trim_length_filter_max_difference": 5}));
        let flooding = prohibited(&[harms::SPAM_FLOODING]);
        let cases = [
            ("   spaces    ", flooding.clone()),
            ("\t\t\ttabs\t\t\t", flooding.clone()),
            ("\n\n\nnewlines\n\n\n", flooding.clone()),
            ("\n\t mixed\t\n ", flooding),
            ("\n 4 total is fine\t\t", neutral()),
        ];
        for (body, want) in cases {
            assert_eq!(h.judge(FilterId::TrimLength, message("@a:example.org", body)), want, "{body:?}");
        }
    }
}
