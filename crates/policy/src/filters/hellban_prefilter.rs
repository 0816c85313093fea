//! Senders under a hellban are refused until it ends.

use crate::filter::{Filter, FilterContext, FilterError, Outcome};
use crate::handles::BoxFuture;
use crate::{FilterId, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct HellbanPrefilter;

impl Filter for HellbanPrefilter {
    fn id(&self) -> FilterId {
        FilterId::HellbanPrefilter
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.hellban_postfilter_minutes > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        Box::pin(async move {
            let until =
                cx.handles.hellbans.active_until(cx.scope.community_id, cx.event.sender(), cx.now_ms).await?;
            Ok(match until {
                Some(until) => {
                    let minutes = until.saturating_sub(cx.now_ms).div_ceil(60_000);
                    Outcome::prohibited(
                        &[harms::SPAM_FLOODING],
                        format!("sender is hellbanned for {minutes} more min"),
                    )
                    .until(until)
                }
                None => Outcome::neutral("sender is not hellbanned"),
            })
        })
    }
}
