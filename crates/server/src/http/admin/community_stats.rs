//! `GET /api/v1/communities/{communityId}/stats[?since=&until=]` (Palisade): how many events of the community's
//! rooms were signed (neutral, allowed) and refused in `[since, until)` (ms since the epoch; default: the last 24
//! hours), and how many refusals carried each harm.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::StatusCode,
    response::Response,
};
use palisade_store::VerdictClass;
use serde::Deserialize;
use serde_json::json;

use super::{api_error, community_get::community, internal, now_ms, ok, path_param};
use crate::http::{AppState, MatrixError};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Deserialize)]
pub(super) struct StatsQuery {
    #[serde(default)]
    since: Option<i64>,
    #[serde(default)]
    until: Option<i64>,
}

pub(super) async fn get(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Response, MatrixError> {
    let community_id = path_param(community_id)?;
    let invalid = |m: String| api_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", m);
    let query = query.map_err(|e| invalid(e.body_text()))?.0;
    let until = query.until.unwrap_or_else(now_ms);
    let since = query.since.unwrap_or_else(|| until.saturating_sub(DAY_MS));
    if since > until {
        return Err(invalid("since must not be after until".to_owned()));
    }
    community(&state, &community_id).await?;
    let counts = state.store.count_verdicts(&community_id, since, until).await.map_err(internal)?;
    let (mut neutral, mut allowed, mut refused) = (0u64, 0u64, 0u64);
    let mut harms: BTreeMap<String, u64> = BTreeMap::new();
    for count in counts {
        match count.class {
            VerdictClass::Neutral => neutral += count.count,
            VerdictClass::Allowed => allowed += count.count,
            VerdictClass::Prohibited => {
                refused += count.count;
                for harm in count.harms {
                    *harms.entry(harm).or_default() += count.count;
                }
            }
        }
    }
    Ok(ok(&json!({
        "community_id": community_id,
        "since": since,
        "until": until,
        "neutral": neutral,
        "allowed": allowed,
        "refused": refused,
        "harms": harms,
    })))
}
