//! `palisade community ...` and `palisade verdict EVENT_ID`: the common admin tasks on the configured store, for
//! operators without HTTP tooling. Same rules as the admin API (`docs/api.md`): names are 4–254 bytes after
//! trimming, config changes are validated before they are stored, tokens are stored hashed and shown once.

use std::sync::Arc;

use palisade_policy::CommunityConfig;
use palisade_store::{Community, Store};
use serde_json::{Value, json};

use crate::config::Config;

async fn open(config: &Config) -> Result<Arc<dyn Store>, String> {
    palisade_store::open(config.database.url.expose()).await.map_err(|e| format!("database: {e}"))
}

fn community_json(community: &Community) -> Value {
    json!({
        "community_id": community.id,
        "name": community.name,
        "config": community.config,
        "can_self_join_rooms": community.can_self_join_rooms,
    })
}

async fn community(store: &dyn Store, community_id: &str) -> Result<Community, String> {
    store
        .get_community(community_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("community {community_id} not found"))
}

/// Creates a community and prints it.
pub async fn create(config: &Config, name: &str) -> Result<Value, String> {
    let name = name.trim();
    if name.len() <= 3 || name.len() >= 255 {
        return Err("the name must be 4 to 254 bytes long".to_owned());
    }
    let store = open(config).await?;
    let community = store.create_community(name).await.map_err(|e| e.to_string())?;
    Ok(community_json(&community))
}

/// Every community.
pub async fn list(config: &Config) -> Result<Value, String> {
    let store = open(config).await?;
    let communities = store.list_communities().await.map_err(|e| e.to_string())?;
    Ok(Value::Array(communities.iter().map(community_json).collect()))
}

/// One community with its rooms.
pub async fn show(config: &Config, community_id: &str) -> Result<Value, String> {
    let store = open(config).await?;
    let community = community(store.as_ref(), community_id).await?;
    let rooms = store.list_community_rooms(community_id).await.map_err(|e| e.to_string())?;
    let mut report = community_json(&community);
    report["rooms"] = rooms.iter().map(|r| Value::from(r.room_id.clone())).collect();
    Ok(report)
}

/// Sets one config key of a community (`value` is JSON, or else taken as a string; `null` removes the key so it
/// inherits again), after validating the resulting config.
pub async fn set_config(
    config: &Config,
    community_id: &str,
    key: &str,
    value: &str,
) -> Result<Value, String> {
    let store = open(config).await?;
    let community = community(store.as_ref(), community_id).await?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    let mut layer = community.config.as_object().cloned().unwrap_or_default();
    if value.is_null() {
        layer.remove(key);
    } else {
        layer.insert(key.to_owned(), value);
    }
    let layer = Value::Object(layer);
    let parsed = CommunityConfig::from_json(&layer).map_err(|e| e.to_string())?;
    parsed.validate().map_err(|e| e.to_string())?;
    store.set_community_config(community_id, &layer).await.map_err(|e| e.to_string())?;
    Ok(json!({"community_id": community_id, "config": layer}))
}

/// Issues a new community API token (the old one stops working) and prints it; it is not shown again.
pub async fn rotate_token(config: &Config, community_id: &str) -> Result<Value, String> {
    let store = open(config).await?;
    community(store.as_ref(), community_id).await?;
    let token = crate::http::admin::rotate_access_token::new_token();
    store.set_community_access_token(community_id, Some(&token)).await.map_err(|e| e.to_string())?;
    Ok(json!({"community_id": community_id, "new_access_token": token}))
}

/// The stored verdicts on an event, with their traces.
pub async fn verdict(config: &Config, event_id: &str) -> Result<Value, String> {
    let store = open(config).await?;
    let verdicts = store.verdicts_for_event(event_id).await.map_err(|e| e.to_string())?;
    if verdicts.is_empty() {
        return Err(format!("no verdict stored for {event_id}"));
    }
    let verdicts: Vec<Value> = verdicts.iter().map(crate::http::admin::verdict_get::verdict_json).collect();
    Ok(json!({"event_id": event_id, "verdicts": verdicts}))
}
