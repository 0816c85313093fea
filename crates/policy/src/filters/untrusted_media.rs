//! Media from users no trust source vouches for.

use super::media::listed_media_kind;
use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::glob::{Glob, GlobSyntax};
use crate::handles::BoxFuture;
use crate::trust;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct UntrustedMedia;

/// Compiles validated user globs (invalid ones were rejected by config validation; skip defensively).
fn globs(patterns: &[String]) -> Vec<Glob> {
    patterns.iter().filter_map(|p| Glob::new(p, GlobSyntax::StarOnly).ok()).collect()
}

/// Consults the sources in policyserv's order: self-directed, Muninn, creators, power levels.
fn is_trusted(cx: &FilterContext<'_>, user: &str) -> Result<bool, FilterError> {
    let config = cx.config;
    let allow = globs(&config.untrusted_media_filter_allowed_user_globs);
    let deny = globs(&config.untrusted_media_filter_denied_user_globs);
    let mut opinions = vec![trust::self_directed(&allow, &deny, user)];
    if config.untrusted_media_filter_use_muninn {
        opinions.push(trust::muninn(cx.handles.trust, user).map_err(|e| FilterError(e.to_string()))?);
    }
    if config.untrusted_media_filter_use_power_levels {
        opinions.push(trust::creators(cx.room, user));
        opinions.push(trust::power_levels(cx.room, user));
    }
    // `combine` stops at the first `False`, so a deny glob beats every later source.
    Ok(trust::combine(opinions))
}

impl Filter for UntrustedMedia {
    fn id(&self) -> FilterId {
        FilterId::UntrustedMedia
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        !cx.config.untrusted_media_filter_media_types.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let Some(kind) = listed_media_kind(cx.event, &cx.config.untrusted_media_filter_media_types) else {
            return ready(Ok(Outcome::neutral("not a media type for untrusted users")));
        };
        ready(is_trusted(cx, cx.event.sender()).map(|trusted| {
            if trusted {
                Outcome::neutral(format!("{kind} from a trusted user"))
            } else {
                Outcome::prohibited(&[harms::SPAM, harms::PS_MEDIA], format!("{kind} from an untrusted user"))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::power_levels::PowerLevels;
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #41.
    #[test]
    fn vectors() {
        let mut h = Harness::new(json!({"untrusted_media_filter_media_types": ["m.sticker", "m.image"]}));
        h.trust.muninn_servers.insert("muninn.example.org".into());
        h.room.power_levels = Some(
            PowerLevels::from_event(&json!({"type": "m.room.power_levels", "state_key": "",
                "content": {"state_default": 50, "users": {"@user:powerlevels.example.org": 100}}}))
            .unwrap(),
        );
        h.room.creators.insert("@user:creator.example.org".into());
        h.room.creators.insert("@user:additionalcreator.example.org".into());
        let image = |s: &str| event("m.room.message", s, json!({"msgtype": "m.image", "body": "x"}));
        let media = prohibited(&[harms::SPAM, harms::PS_MEDIA]);
        let cases = [
            (event("m.sticker", "@user:untrusted.example.org", json!({})), media.clone()),
            (image("@user:untrusted.example.org"), media),
            (image("@user:muninn.example.org"), neutral()),
            (image("@user:powerlevels.example.org"), neutral()),
            (image("@user:creator.example.org"), neutral()),
            (image("@user:additionalcreator.example.org"), neutral()),
            (event("m.reaction", "@user:untrusted.example.org", json!({})), neutral()),
        ];
        for (e, want) in cases {
            assert_eq!(h.judge(FilterId::UntrustedMedia, e.clone()), want, "{e}");
        }
    }

    #[test]
    fn deny_glob_beats_every_other_source() {
        let mut h = Harness::new(json!({"untrusted_media_filter_denied_user_globs": ["@user:muninn*"]}));
        h.trust.muninn_servers.insert("muninn.example.org".into());
        let e = event("m.sticker", "@user:muninn.example.org", json!({}));
        assert_eq!(h.judge(FilterId::UntrustedMedia, e), prohibited(&[harms::SPAM, harms::PS_MEDIA]));
        let h = Harness::new(json!({"untrusted_media_filter_allowed_user_globs": ["@good:*"]}));
        assert_eq!(
            h.judge(FilterId::UntrustedMedia, event("m.sticker", "@good:x.org", json!({}))),
            neutral()
        );
        let h = Harness::new(json!({"untrusted_media_filter_use_power_levels": false}));
        let mut h2 = h;
        h2.room.creators.insert("@c:x.org".into());
        let media = prohibited(&[harms::SPAM, harms::PS_MEDIA]);
        assert_eq!(h2.judge(FilterId::UntrustedMedia, event("m.sticker", "@c:x.org", json!({}))), media);
    }
}
