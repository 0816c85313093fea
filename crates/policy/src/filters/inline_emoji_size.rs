//! Inline images in `formatted_body` must be small custom emoji: `data-mx-emoticon` and a plain-digit `height` no
//! larger than the limit (blocks giant "emoji" used to flood the timeline).

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::html_tags::{StartTag, start_tags};
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct InlineEmojiSize;

/// Why an `<img>` is not an acceptable emoji, if it is not.
fn problem(tag: &StartTag, max: i64) -> Option<String> {
    if !tag.attributes.iter().any(|(name, _)| name == "data-mx-emoticon") {
        return Some("inline image without data-mx-emoticon".to_owned());
    }
    let heights: Vec<&Option<String>> =
        tag.attributes.iter().filter(|(n, _)| n == "height").map(|(_, v)| v).collect();
    let [height] = heights.as_slice() else {
        return Some(format!("inline emoji with {} height attributes", heights.len()));
    };
    let height = height.as_deref().unwrap_or("");
    if height.is_empty() || !height.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("inline emoji height {height:?} is not a number"));
    }
    match height.parse::<i64>() {
        Ok(h) if h <= max => None,
        Ok(h) => Some(format!("inline emoji height {h} > limit {max}")),
        Err(_) => Some(format!("inline emoji height {height} is out of range")),
    }
}

impl Filter for InlineEmojiSize {
    fn id(&self) -> FilterId {
        FilterId::InlineEmojiSize
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.inline_emoji_size_filter_max_height_pixels > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let Some(html) = cx.event.formatted_body().filter(|f| cx.event.is_message() && !f.is_empty()) else {
            return ready(Ok(Outcome::neutral("no formatted body")));
        };
        let max = cx.config.inline_emoji_size_filter_max_height_pixels;
        let first_problem = start_tags(html).iter().filter(|t| t.name == "img").find_map(|t| problem(t, max));
        ready(Ok(match first_problem {
            Some(why) => Outcome::prohibited(&[harms::SPAM, harms::PS_SPEC_NON_COMPLIANCE], why),
            None => Outcome::neutral("inline images are acceptable emoji"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::*;
    use crate::{FilterId, harms};

    fn html(formatted: &str) -> serde_json::Value {
        event(
            "m.room.message",
            "@a:example.org",
            json!({"msgtype": "m.text", "body": "x",
            "format": "org.matrix.custom.html", "formatted_body": formatted}),
        )
    }

    /// §8.4 #35: the generated matrix of emoticon attribute × height × case × closing style × context.
    #[test]
    fn vectors() {
        let h = Harness::new(json!({"inline_emoji_size_filter_max_height_pixels": 32}));
        let spam = prohibited(&[harms::SPAM, harms::PS_SPEC_NON_COMPLIANCE]);
        let emoticons =
            [Some("data-mx-emoticon"), Some("data-mx-emoticon=\"\""), Some("data-mx-emoticon=\"yes\""), None];
        let heights: [(Option<&str>, bool); 9] = [
            (Some("height=\"16\""), true),
            (Some("height='16'"), true),
            (Some("height=\"0032\""), true),
            (None, false),
            (Some("height"), false),
            (Some("height=\"\""), false),
            (Some("height=\"invalid\""), false),
            (Some("height=\"16px\""), false),
            (Some("height=\"64\""), false),
        ];
        let extra = [(Some("height=\"-16\""), false), (Some("height=\"99999999999999999999\""), false)];
        let closings = ["/>", ">", "></img>", ">content</img>"];
        let prefixes = ["", "text before ", "<img data-mx-emoticon height=\"16\" src=\"mxc://a/b\"> "];
        let mut cases = 0;
        for emoticon in emoticons {
            for (height, height_ok) in heights.iter().chain(&extra) {
                for closing in closings {
                    for prefix in prefixes {
                        for upper in [false, true] {
                            for reversed in [false, true] {
                                let mut attrs: Vec<&str> = vec!["src=\"mxc://a/b\""];
                                attrs.extend(emoticon);
                                attrs.extend(height);
                                if reversed {
                                    attrs.reverse();
                                }
                                let mut tag = format!("<img {}{closing}", attrs.join(" "));
                                if upper {
                                    tag = tag.replace("img", "IMG").replace("height", "HeIgHt");
                                }
                                let body = format!("{prefix}{tag} after");
                                let want =
                                    if emoticon.is_some() && *height_ok { neutral() } else { spam.clone() };
                                assert_eq!(h.judge(FilterId::InlineEmojiSize, html(&body)), want, "{body}");
                                cases += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(cases > 1000);
        assert_eq!(h.judge(FilterId::InlineEmojiSize, html("<b>no images</b>")), neutral());
        assert_eq!(
            h.judge(FilterId::InlineEmojiSize, html("<img data-mx-emoticon height=1 height=2>")),
            spam
        );
        assert_eq!(h.judge(FilterId::InlineEmojiSize, html("<img data-mx-emoticon height=32>")), neutral());
        // HTML tokenisation: an unquoted value runs up to `>`, so `height=16/>` has the value `16/`.
        assert_eq!(h.judge(FilterId::InlineEmojiSize, html("<img data-mx-emoticon height=16/>")), spam);
        assert_eq!(h.judge(FilterId::InlineEmojiSize, html("<img data-mx-emoticon height=16 />")), neutral());
        assert_eq!(h.judge(FilterId::InlineEmojiSize, html("<img data-mx-emoticon height=33>")), spam);
    }
}
