//! Hash matching of the event's media against the community's enabled banks (HMA).

use crate::filter::{Filter, FilterContext, FilterError, Outcome};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct MediaScanning;

impl Filter for MediaScanning {
    fn id(&self) -> FilterId {
        FilterId::MediaScanning
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.handles.media_scanner.is_some() && !cx.config.hma_filter_enabled_banks.is_empty()
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        Box::pin(async move {
            let Some(scanner) = cx.handles.media_scanner else {
                return Ok(Outcome::neutral("no media scanner"));
            };
            let media = cx.event.media();
            if media.is_empty() {
                return Ok(Outcome::neutral("no media"));
            }
            for item in &media {
                let uri = match item {
                    Ok(uri) => uri,
                    // policyserv crashed here (catalogue §11.6); a malformed media URI is a spec violation.
                    Err(err) => {
                        return Ok(Outcome::prohibited(
                            &[harms::PS_SPEC_NON_COMPLIANCE],
                            format!("bad media URI: {err}"),
                        ));
                    }
                };
                let result = match scanner.scan(cx.scope.community_id, uri).await {
                    Ok(result) => result,
                    Err(err) => {
                        return Ok(Outcome::prohibited(
                            &[harms::OTHER],
                            format!("could not scan {uri}: {err}"),
                        ));
                    }
                };
                let enabled = &cx.config.hma_filter_enabled_banks;
                if let Some(bank) = result.matched_banks.iter().find(|b| enabled.contains(b)) {
                    return Ok(Outcome::prohibited(
                        &[harms::SPAM, harms::CHILD_SAFETY_CSAM, harms::PS_MEDIA],
                        format!("{uri} matched bank {bank}"),
                    ));
                }
            }
            Ok(Outcome::neutral(format!("{} media item(s) scanned clean", media.len())))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::handles::{FakeScanner, ScanResult, StateError};
    use crate::testing::*;
    use crate::{FilterId, harms};

    /// §8.4 #40 (the cache and time limit belong to the scanner implementation) and §11.6.
    #[test]
    fn vectors() {
        let mut h = Harness::new(json!({"hma_filter_enabled_banks": ["csam_bank"]}));
        let mut scanner = FakeScanner::default();
        let hit = ScanResult { matched_banks: ["csam_bank".to_owned()].into() };
        let other_bank = ScanResult { matched_banks: ["disabled_bank".to_owned()].into() };
        scanner.results.insert("mxc://a.org/bad".into(), Ok(hit));
        scanner.results.insert("mxc://a.org/meh".into(), Ok(other_bank));
        scanner.results.insert("mxc://a.org/err".into(), Err(StateError("download failed".into())));
        h.scanner = Some(scanner);
        let image = |url: serde_json::Value| {
            event("m.room.message", "@a:example.org", json!({"msgtype": "m.image", "body": "x", "url": url}))
        };
        let csam = prohibited(&[harms::SPAM, harms::CHILD_SAFETY_CSAM, harms::PS_MEDIA]);
        assert_eq!(h.judge(FilterId::MediaScanning, image(json!("mxc://a.org/bad"))), csam);
        assert_eq!(h.judge(FilterId::MediaScanning, image(json!("mxc://a.org/meh"))), neutral());
        assert_eq!(
            h.judge(FilterId::MediaScanning, image(json!("mxc://a.org/err"))),
            prohibited(&[harms::OTHER])
        );
        let thumb = event(
            "m.room.message",
            "@a:example.org",
            json!({"msgtype": "m.image", "body": "x",
            "url": "mxc://a.org/fine", "info": {"thumbnail_url": "mxc://a.org/bad"}}),
        );
        assert_eq!(h.judge(FilterId::MediaScanning, thumb), csam);
        for bad in [json!("mxc://host"), json!("https://a.org/x"), json!(5)] {
            assert_eq!(
                h.judge(FilterId::MediaScanning, image(bad.clone())),
                prohibited(&[harms::PS_SPEC_NON_COMPLIANCE]),
                "{bad}"
            );
        }
        assert_eq!(h.judge(FilterId::MediaScanning, message("@a:example.org", "no media")), neutral());
        assert_eq!(h.scanner.as_ref().unwrap().calls(), 5);
    }
}
