//! URLs in the content checked against allowed and denied globs, for every event type.

use std::sync::LazyLock;

use regex::Regex;

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::glob::{Glob, GlobSyntax};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Links;

/// policyserv's URL pattern: lower-case `http`/`https` up to whitespace, quotes, angle brackets or backticks.
static URL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r#"https?://[^\s"<>`]+"#).ok());

fn globs(patterns: &[String]) -> Vec<Glob> {
    patterns.iter().filter_map(|p| Glob::new(p, GlobSyntax::StarOnly).ok()).collect()
}

impl Filter for Links {
    fn id(&self) -> FilterId {
        FilterId::Links
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.link_filter_allowed_url_globs.is_empty()
            || !cx.config.link_filter_denied_url_globs.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let Some(url_pattern) = URL.as_ref() else {
            return ready(Err(FilterError("URL pattern failed to compile".into())));
        };
        let allow = globs(&cx.config.link_filter_allowed_url_globs);
        let deny = globs(&cx.config.link_filter_denied_url_globs);
        let content = cx.event.content_json();
        let blocked = url_pattern.find_iter(content).map(|m| m.as_str()).find(|url| {
            deny.iter().any(|g| g.matches(url))
                || (!allow.is_empty() && !allow.iter().any(|g| g.matches(url)))
        });
        ready(Ok(match blocked {
            Some(url) => Outcome::prohibited(&[harms::SPAM], format!("link {url} is not allowed")),
            None => Outcome::neutral("no disallowed link"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #34.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({
            "link_filter_allowed_url_globs": ["https://allowed.example.org/*", "https://also-allowed.example.org/*"],
            "link_filter_denied_url_globs": ["https://allowed.example.org/blocked/*"],
        }));
        let spam = prohibited(&[harms::SPAM]);
        let cases = [
            ("see https://allowed.example.org/page", neutral()),
            ("see https://allowed.example.org/blocked/page", spam.clone()),
            ("see https://other.example.org/page", spam.clone()),
            ("no links here", neutral()),
            ("https://also-allowed.example.org/x and https://unlisted.example.org/y", spam.clone()),
        ];
        for (body, want) in cases {
            assert_eq!(h.judge(FilterId::Links, message("@a:example.org", body)), want, "{body}");
        }
        let deny_only = Harness::new(json!({"link_filter_denied_url_globs": ["*denied.example.org/path*"]}));
        let cases = [
            ("http://denied.example.org/path", spam),
            ("https://denied.example.org/another/page", neutral()),
        ];
        for (body, want) in cases {
            assert_eq!(deny_only.judge(FilterId::Links, message("@a:example.org", body)), want, "{body}");
        }
    }
}
