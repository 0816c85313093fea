//! One-way import from a policyserv PostgreSQL database (catalogue §5.1 schema).

use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::types::Json;

use crate::{Community, JoinState, Room, Store, StoreResult};

/// How many rows of each kind were imported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Communities (with config and hashed token).
    pub communities: u64,
    /// Rooms.
    pub rooms: u64,
    /// Keyword templates.
    pub keyword_templates: u64,
    /// Trust-source records.
    pub trust_data: u64,
}

/// A policyserv `communities` row.
#[derive(Debug, sqlx::FromRow)]
struct PsCommunity {
    id: String,
    name: String,
    config: Json<Value>,
    api_access_token: Option<String>,
    can_self_join_rooms: bool,
}

/// A policyserv `rooms` row.
#[derive(Debug, sqlx::FromRow)]
struct PsRoom {
    room_id: String,
    room_version: String,
    moderator_user_id: Option<String>,
    community_id: Option<String>,
}

/// Copies communities, rooms, keyword templates and trust data from the policyserv database at
/// `source_url` into `target`. Idempotent: rows are upserted, so it can be re-run.
///
/// policyserv stored community API tokens in plaintext; they are hashed on the way in and the
/// plaintext is not kept. Verdicts (`events`) are not imported: policyserv keyed them by event
/// ID alone and read every one back as spam (catalogue §11.1), so they are not trustworthy.
pub async fn import_policyserv(source_url: &str, target: &dyn Store) -> StoreResult<ImportReport> {
    let source = PgPoolOptions::new().max_connections(1).connect(source_url).await?;
    let mut report = ImportReport::default();

    let communities: Vec<PsCommunity> = sqlx::query_as(
        "SELECT id, name, config, api_access_token, can_self_join_rooms FROM communities ORDER BY id",
    )
    .fetch_all(&source)
    .await?;
    for ps in communities {
        let community = Community {
            id: ps.id,
            name: ps.name,
            config: ps.config.0,
            permissions: Value::Object(Default::default()),
            can_self_join_rooms: ps.can_self_join_rooms,
        };
        target.put_community(&community).await?;
        let token = ps.api_access_token.filter(|t| !t.is_empty());
        target.set_community_access_token(&community.id, token.as_deref()).await?;
        report.communities += 1;
    }

    let rooms: Vec<PsRoom> = sqlx::query_as(
        "SELECT room_id, room_version, moderator_user_id, community_id FROM rooms ORDER BY room_id",
    )
    .fetch_all(&source)
    .await?;
    for ps in rooms {
        let room = Room {
            room_id: ps.room_id,
            room_version: ps.room_version,
            community_id: ps.community_id.unwrap_or_else(|| "default".to_owned()),
            // policyserv only records rooms it has joined.
            join_state: JoinState::Joined,
            // policyserv stores "no moderator" as the empty string (migration 06).
            moderator_user_id: ps.moderator_user_id.filter(|m| !m.is_empty()),
            overrides: None,
            last_state_update_ms: 0,
        };
        target.put_room(&room).await?;
        report.rooms += 1;
    }

    let templates: Vec<(String, String)> =
        sqlx::query_as("SELECT name, body FROM keyword_templates ORDER BY name").fetch_all(&source).await?;
    for (name, body) in templates {
        target.put_keyword_template(&name, &body).await?;
        report.keyword_templates += 1;
    }

    let trust: Vec<(String, String, Json<Value>)> =
        sqlx::query_as("SELECT source_name, key, data FROM trust_data ORDER BY source_name, key")
            .fetch_all(&source)
            .await?;
    for (source_name, key, data) in trust {
        target.put_trust_data(&source_name, &key, &data.0).await?;
        report.trust_data += 1;
    }

    source.close().await;
    Ok(report)
}
