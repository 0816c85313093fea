//! Row shapes as selected from either backend, and their conversion into records.
//!
//! JSON columns decode through `sqlx::types::Json`, which reads PostgreSQL `JSONB` and SQLite
//! `TEXT` alike, so one row type serves both backends.

use serde_json::{Value, value::RawValue};
use sqlx::types::Json;

use crate::{
    Community, JoinState, MediaScan, QueuedEdu, Room, ServerKey, StateEvent, StoreResult, StoredVerdict,
    VerdictClass, VerdictTrace,
};

/// Columns of `communities` (without the token hash).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CommunityRow {
    community_id: String,
    name: String,
    config: Json<Value>,
    permissions: Json<Value>,
    can_self_join_rooms: bool,
}

impl From<CommunityRow> for Community {
    fn from(row: CommunityRow) -> Self {
        Self {
            id: row.community_id,
            name: row.name,
            config: row.config.0,
            permissions: row.permissions.0,
            can_self_join_rooms: row.can_self_join_rooms,
        }
    }
}

/// Columns of `rooms`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RoomRow {
    room_id: String,
    room_version: String,
    community_id: String,
    join_state: String,
    moderator_user_id: Option<String>,
    overrides: Option<Json<Value>>,
    last_state_update_ms: i64,
}

impl TryFrom<RoomRow> for Room {
    type Error = crate::StoreError;

    fn try_from(row: RoomRow) -> StoreResult<Self> {
        Ok(Self {
            room_id: row.room_id,
            room_version: row.room_version,
            community_id: row.community_id,
            join_state: JoinState::parse(&row.join_state)?,
            moderator_user_id: row.moderator_user_id,
            overrides: row.overrides.map(|json| json.0),
            last_state_update_ms: row.last_state_update_ms,
        })
    }
}

/// Columns of `room_state` (without the room ID).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StateRow {
    event_type: String,
    state_key: String,
    event_id: String,
    event: Json<Value>,
}

impl From<StateRow> for StateEvent {
    fn from(row: StateRow) -> Self {
        Self {
            event_type: row.event_type,
            state_key: row.state_key,
            event_id: row.event_id,
            event: row.event.0,
        }
    }
}

/// Columns of `verdicts`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct VerdictRow {
    room_id: String,
    event_id: String,
    reference_hash: Option<String>,
    class: String,
    harms: Json<Vec<String>>,
    expiry_ms: Option<i64>,
    trace: Json<Box<RawValue>>,
    decided_at_ms: i64,
}

impl TryFrom<VerdictRow> for StoredVerdict {
    type Error = crate::StoreError;

    fn try_from(row: VerdictRow) -> StoreResult<Self> {
        Ok(Self {
            room_id: row.room_id,
            event_id: row.event_id,
            reference_hash: row.reference_hash,
            class: VerdictClass::parse(&row.class, "verdicts")?,
            harms: row.harms.0,
            expiry_ms: row.expiry_ms,
            trace: VerdictTrace::from_raw(row.trace.0),
            decided_at_ms: row.decided_at_ms,
        })
    }
}

/// Columns of `server_keys`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ServerKeyRow {
    server_name: String,
    key_id: String,
    public_key: String,
    valid_until_ts: i64,
    expired_ts: Option<i64>,
}

impl From<ServerKeyRow> for ServerKey {
    fn from(row: ServerKeyRow) -> Self {
        Self {
            server_name: row.server_name,
            key_id: row.key_id,
            public_key: row.public_key,
            valid_until_ts: row.valid_until_ts,
            expired_ts: row.expired_ts,
        }
    }
}

/// Columns of `media_scans`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MediaScanRow {
    mxc_uri: String,
    community_id: String,
    class: String,
    harms: Json<Vec<String>>,
    scanned_at_ms: i64,
}

impl TryFrom<MediaScanRow> for MediaScan {
    type Error = crate::StoreError;

    fn try_from(row: MediaScanRow) -> StoreResult<Self> {
        Ok(Self {
            mxc_uri: row.mxc_uri,
            community_id: row.community_id,
            class: VerdictClass::parse(&row.class, "media_scans")?,
            harms: row.harms.0,
            scanned_at_ms: row.scanned_at_ms,
        })
    }
}

/// Columns of `edu_queue` returned in a batch.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EduRow {
    id: i64,
    edu: Json<Value>,
}

impl From<EduRow> for QueuedEdu {
    fn from(row: EduRow) -> Self {
        Self { id: row.id, edu: row.edu.0 }
    }
}
