//! Long message bodies with almost no whitespace (walls of characters).

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{EffectiveConfig, FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Density;

/// Share of bytes that are not ASCII whitespace (Go's `\s`: space, `\t`, `\n`, `\f`, `\r`).
pub(crate) fn density(text: &str) -> f64 {
    let total = text.len();
    if total == 0 {
        return 0.0;
    }
    let dense = text.bytes().filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')).count();
    dense as f64 / total as f64
}

/// Judges one body.
fn judge(config: &EffectiveConfig, body: &str) -> Outcome {
    let max = config.density_filter_max_density;
    let min_len = config.density_filter_min_trigger_length;
    if (body.len() as i64) < min_len || body.is_empty() {
        return Outcome::neutral(format!("body of {} bytes < trigger length {min_len}", body.len()));
    }
    let d = density(body);
    if d >= max {
        Outcome::prohibited(&[harms::SPAM_FLOODING], format!("density {d:.3} >= limit {max}"))
    } else {
        Outcome::neutral(format!("density {d:.3} < limit {max}"))
    }
}

impl Filter for Density {
    fn id(&self) -> FilterId {
        FilterId::Density
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.density_filter_max_density > 0.0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        ready(Ok(match cx.event.body().filter(|_| cx.event.is_message()) {
            None => Outcome::neutral("no message body"),
            Some(body) => judge(cx.config, body),
        }))
    }

    fn check_text(&self, text: &str, config: &EffectiveConfig) -> Option<Outcome> {
        (config.density_filter_max_density > 0.0).then(|| judge(config, text))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::filter::Filter;
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #18.
    #[test]
    fn vectors() {
        let h =
            Harness::new(json!({"density_filter_max_density": 0.5, "density_filter_min_trigger_length": 10}));
        let flooding = prohibited(&[harms::SPAM_FLOODING]);
        let long_a = "a".repeat(24);
        let cases = [
            (long_a.as_str(), flooding.clone()),
            ("a b c d e f", flooding),
            ("a          b", neutral()),
            ("  a  b  c  d  e  f  g  h  ", neutral()),
            ("2short", neutral()),
        ];
        for (body, want) in cases {
            assert_eq!(h.judge(FilterId::Density, message("@a:example.org", body)), want.clone(), "{body:?}");
            let text = super::Density.check_text(body, &h.config).unwrap();
            assert_eq!(text.class, want.0, "text mode: {body:?}");
        }
        let other = event("m.sticker", "@a:example.org", json!({"body": long_a}));
        assert_eq!(h.judge(FilterId::Density, other), neutral());
    }
}
