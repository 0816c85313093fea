//! `GET /api/v1/communities/{communityId}/verdicts` (Palisade): the community's recent decisions, newest first.
//!
//! Query: `refused_only` (bool), `room_id`, `harm` (verdicts carrying this harm ID), `limit` (1–500, default 50),
//! `from` (the `next_batch` of the previous page). The answer is `{"verdicts": [...], "next_batch"?}`;
//! `next_batch` is absent on the last page.

use axum::{
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::StatusCode,
    response::Response,
};
use palisade_store::{VerdictCursor, VerdictQuery};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{api_error, community_get::community, internal, ok, path_param, verdict_get::verdict_json};
use crate::http::{AppState, MatrixError};

/// Rows read from the store per request at most when filtering by harm.
const MAX_SCANNED: usize = 5_000;

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    refused_only: bool,
    #[serde(default)]
    room_id: Option<String>,
    #[serde(default)]
    harm: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    from: Option<String>,
}

fn invalid(message: impl Into<String>) -> MatrixError {
    api_error(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", message)
}

pub(super) async fn get(
    State(state): State<AppState>,
    community_id: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, MatrixError> {
    let community_id = path_param(community_id)?;
    let query = query.map_err(|e| invalid(e.body_text()))?.0;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit must be between 1 and 500"));
    }
    community(&state, &community_id).await?;
    let before = query.from.as_deref().map(parse_cursor).transpose()?;
    let mut store_query = VerdictQuery {
        community_id,
        room_id: query.room_id.filter(|r| !r.is_empty()),
        prohibited_only: query.refused_only,
        before,
        limit,
    };
    let mut page = Vec::new();
    let mut scanned = 0;
    let mut next = None;
    loop {
        let batch = state.store.list_verdicts(&store_query).await.map_err(internal)?;
        let exhausted = batch.len() < store_query.limit as usize;
        for verdict in batch {
            scanned += 1;
            next = Some(VerdictCursor {
                decided_at_ms: verdict.decided_at_ms,
                room_id: verdict.room_id.clone(),
                event_id: verdict.event_id.clone(),
            });
            if query.harm.as_ref().is_none_or(|harm| verdict.harms.contains(harm)) {
                page.push(verdict);
                if page.len() == limit as usize {
                    break;
                }
            }
        }
        if exhausted && page.len() < limit as usize {
            next = None;
            break;
        }
        if page.len() == limit as usize || scanned >= MAX_SCANNED {
            break;
        }
        store_query.before.clone_from(&next);
    }
    let mut body = Map::new();
    body.insert("verdicts".to_owned(), Value::Array(page.iter().map(verdict_json).collect()));
    if let Some(cursor) = next {
        body.insert("next_batch".to_owned(), Value::String(format_cursor(&cursor)));
    }
    Ok(ok(&Value::Object(body)))
}

/// `<decided_at_ms>.<room ID length>.<room ID><event ID>`: opaque to clients, unambiguous for us.
fn format_cursor(cursor: &VerdictCursor) -> String {
    format!("{}.{}.{}{}", cursor.decided_at_ms, cursor.room_id.len(), cursor.room_id, cursor.event_id)
}

fn parse_cursor(text: &str) -> Result<VerdictCursor, MatrixError> {
    let bad = || invalid("from: not a next_batch token");
    let (ms, rest) = text.split_once('.').ok_or_else(bad)?;
    let (len, rest) = rest.split_once('.').ok_or_else(bad)?;
    let decided_at_ms = ms.parse().map_err(|_| bad())?;
    let len: usize = len.parse().map_err(|_| bad())?;
    if !rest.is_char_boundary(len.min(rest.len())) || len > rest.len() {
        return Err(bad());
    }
    let (room_id, event_id) = rest.split_at(len);
    Ok(VerdictCursor { decided_at_ms, room_id: room_id.to_owned(), event_id: event_id.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor =
            VerdictCursor { decided_at_ms: 12, room_id: "!a.b:c".to_owned(), event_id: "$x.y".to_owned() };
        assert_eq!(parse_cursor(&format_cursor(&cursor)).unwrap(), cursor);
        for bad in ["", "1", "1.2", "x.1.a", "1.9.ab", "1.-1.a"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
