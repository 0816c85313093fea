//! Offline checking (`palisade check --config FILE [--room-state FILE] EVENT.json`): one event, fresh in-memory
//! state, the clock set to the event's `origin_server_ts`, no media scanner, classifier or signature verifier.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::block_on::block_on;
use crate::handles::{Handles, ManualClock, MemoryCounter, MemoryHellbans};
use crate::trust::TrustData;
use crate::{
    CommunityConfig, CommunityConfigError, DecideError, EffectiveConfig, Event, EventError, InstanceSettings,
    RoomSnapshot, Scope, Verdict, decide,
};

/// A structured offline configuration. A file without any of these keys is read as a single community layer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineConfig {
    /// The instance layer (what `PS_*` variables would give).
    #[serde(default)]
    instance: CommunityConfig,
    /// The community layer.
    #[serde(default)]
    community: CommunityConfig,
    /// Room overrides by room ID.
    #[serde(default)]
    rooms: BTreeMap<String, CommunityConfig>,
    /// Instance settings (local user, classifier rooms, keyword templates).
    #[serde(default)]
    settings: InstanceSettings,
    /// The community's ID (scopes hellbans and counters; irrelevant offline but shown in traces).
    #[serde(default)]
    community_id: Option<String>,
}

/// Why an offline check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The configuration is malformed or invalid.
    #[error("config: {0}")]
    Config(#[from] CommunityConfigError),
    /// The room state is not a list of events.
    #[error("room state: {0}")]
    RoomState(String),
    /// The event cannot be judged.
    #[error("event: {0}")]
    Event(#[from] EventError),
    /// A filter failed.
    #[error(transparent)]
    Decide(#[from] DecideError),
}

/// Reads the configuration document.
fn read_config(config: &Value) -> Result<OfflineConfig, CommunityConfigError> {
    let structured = ["instance", "community", "rooms", "settings", "community_id"];
    let is_structured =
        config.as_object().is_some_and(|o| o.keys().any(|k| structured.contains(&k.as_str())));
    let parsed = if is_structured {
        serde_json::from_value(config.clone())
            .map_err(|e| CommunityConfigError::new("config", e.to_string()))?
    } else {
        OfflineConfig { community: CommunityConfig::from_json(config)?, ..OfflineConfig::default() }
    };
    parsed.instance.validate()?;
    parsed.community.validate()?;
    for (room, layer) in &parsed.rooms {
        layer
            .validate()
            .map_err(|e| CommunityConfigError::new(format!("rooms.{room}.{}", e.key), e.message))?;
    }
    Ok(parsed)
}

/// The state events of a dump: a bare array, or an object with `state` or `pdus`.
fn state_events(room_state: &Value) -> Result<&[Value], CheckError> {
    let list = room_state
        .as_array()
        .or_else(|| ["state", "pdus"].iter().find_map(|key| room_state.get(*key).and_then(Value::as_array)));
    list.map(Vec::as_slice).ok_or_else(|| CheckError::RoomState("expected an array of state events".into()))
}

/// Judges `event` offline.
pub fn check_offline(
    config: &Value,
    room_state: Option<&Value>,
    event: &Value,
) -> Result<Verdict, CheckError> {
    let config = read_config(config)?;
    let event = Event::from_json(event.clone())?;
    let room_id = event.room_id().unwrap_or("!offline:localhost").to_owned();
    let room = match room_state {
        Some(state) => RoomSnapshot::from_state_events(&room_id, state_events(state)?),
        None => RoomSnapshot::new(room_id.clone(), "12"),
    };
    let effective =
        EffectiveConfig::from_layers(&config.instance, &config.community, config.rooms.get(&room_id));
    let clock = ManualClock::new(event.origin_server_ts().and_then(|t| u64::try_from(t).ok()).unwrap_or(0));
    let (hellbans, counters, trust) =
        (MemoryHellbans::default(), MemoryCounter::default(), TrustData::default());
    let handles = Handles {
        clock: &clock,
        hellbans: &hellbans,
        counters: &counters,
        trust: &trust,
        media_scanner: None,
        classifier: None,
        signatures: None,
        filter_timer: None,
    };
    let community_id = config.community_id.as_deref().unwrap_or("default");
    let scope = Scope { community_id, instance: &config.settings };
    Ok(block_on(decide(&event, &room, &effective, scope, handles))?)
}

#[cfg(test)]
mod tests;
