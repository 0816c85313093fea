//! What `/sign` needs to know about a room, read from the store: its version, policy server, ACL, and everything
//! its decisions read (the filters' room snapshot with its policy-list rules, the layered config, keyword
//! templates). Built once per room and kept by [`super::room_cache::RoomContextCache`] until the store announces
//! a change to something it was built from ([`RoomContext::built_from`]).

use std::sync::Arc;

use palisade_matrix::{RoomPolicy, RoomVersion, ServerName, room_policy::ROOM_POLICY_EVENT_TYPE, unstable};
use palisade_policy::{
    CommunityConfig, EffectiveConfig, InstanceSettings, RoomSnapshot,
    policy_list::{PolicyRuleSet, PolicyRuleSource},
};
use palisade_store::{ConfigChange, JoinState, Room, StateEvent, Store};
use serde_json::Value;

use super::SignError;

/// Instance-wide inputs a room's context is layered on.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLayer<'a> {
    /// Code defaults overlaid by the instance config.
    pub config: &'a CommunityConfig,
    /// Our own user, classifier rooms (keyword templates are read from the store).
    pub settings: &'a InstanceSettings,
    /// Policy-list rooms every community consults after its own.
    pub policy_lists: &'a [String],
}

/// A protected room as of its latest known state.
#[derive(Debug, Clone)]
pub struct RoomContext {
    /// The stored room (community, overrides).
    pub room: Room,
    /// Its version's rules.
    pub version: RoomVersion,
    /// The policy server the room names; `None` when it names none or `m.room.policy` is `{}`.
    pub policy: Option<RoomPolicy>,
    /// The `m.room.server_acl` content, if any.
    pub server_acl: Option<Value>,
    /// The room as the filters see it, with the rules of the policy lists its config names.
    pub snapshot: RoomSnapshot,
    /// Instance → community → room config.
    pub config: EffectiveConfig,
    /// Instance settings with the stored keyword templates.
    pub settings: InstanceSettings,
    /// The depth of our own join event, if we know it.
    pub our_join_depth: Option<i64>,
    /// The rooms whose state this was built from: the room itself, then its policy lists.
    sources: Vec<String>,
}

impl RoomContext {
    /// Loads a room we are joined to; anything else is [`SignError::UnknownRoom`].
    pub async fn load(
        store: &Arc<dyn Store>,
        room_id: &str,
        instance: InstanceLayer<'_>,
    ) -> Result<Self, SignError> {
        let unknown = || SignError::UnknownRoom(room_id.to_owned());
        let room = store.get_room(room_id).await?.ok_or_else(unknown)?;
        if room.join_state != JoinState::Joined {
            return Err(unknown());
        }
        let version =
            RoomVersion::parse(&room.room_version).map_err(|e| SignError::Internal(e.to_string()))?;
        let state = store.get_room_state(room_id).await?;
        let config = layered_config(store, &room, instance.config).await?;

        let policy = room_policy(&state);
        let server_acl = content_of(&state, palisade_matrix::server_acl::SERVER_ACL_EVENT_TYPE).cloned();
        let events: Vec<Value> = state.into_iter().map(|event| event.event).collect();
        let our_join_depth =
            instance.settings.local_user_id.as_deref().and_then(|us| join_depth(&events, us));
        let mut snapshot = RoomSnapshot::from_state_events(room_id, &events);

        let mut sources = vec![room_id.to_owned()];
        let mut lists = Vec::new();
        for list_room_id in config.policy_list_room_ids.iter().chain(instance.policy_lists) {
            lists.push(policy_rules(store, list_room_id).await?);
            sources.push(list_room_id.clone());
        }
        snapshot.policy_rules = PolicyRuleSet::from_lists(&lists);

        let mut settings = instance.settings.clone();
        settings.keyword_templates = store.list_keyword_templates().await?.into_iter().collect();
        Ok(Self { room, version, policy, server_acl, snapshot, config, settings, our_join_depth, sources })
    }

    /// Whether the room's policy server is us, with the key we sign with now.
    pub fn names_us(&self, server_name: &ServerName, policy_key: &[u8; 32]) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|policy| policy.via == server_name && &policy.ed25519_key == policy_key)
    }

    /// Whether `change` touches anything this context was built from.
    pub(super) fn built_from(&self, change: &ConfigChange) -> bool {
        match change {
            ConfigChange::Room(room_id) => *room_id == self.room.room_id,
            ConfigChange::RoomState(room_id) => self.sources.contains(room_id),
            ConfigChange::Community(community_id) => *community_id == self.room.community_id,
            ConfigChange::KeywordTemplate(_) | ConfigChange::Resync => true,
        }
    }
}

/// Instance → community → room layers.
async fn layered_config(
    store: &Arc<dyn Store>,
    room: &Room,
    instance: &CommunityConfig,
) -> Result<EffectiveConfig, SignError> {
    let community = match store.get_community(&room.community_id).await? {
        Some(community) => CommunityConfig::from_json(&community.config)
            .map_err(|e| SignError::Internal(format!("community {}: {e}", room.community_id)))?,
        None => CommunityConfig::default(),
    };
    let overrides = room
        .overrides
        .as_ref()
        .map(CommunityConfig::from_json)
        .transpose()
        .map_err(|e| SignError::Internal(format!("room {} overrides: {e}", room.room_id)))?;
    Ok(EffectiveConfig::from_layers(instance, &community, overrides.as_ref()))
}

/// The rule events of one policy-list room.
async fn policy_rules(store: &Arc<dyn Store>, room_id: &str) -> Result<Vec<PolicyRuleSource>, SignError> {
    Ok(store
        .get_room_state(room_id)
        .await?
        .into_iter()
        .map(|event| PolicyRuleSource {
            content: event.event.get("content").cloned().unwrap_or_default(),
            event_type: event.event_type,
            state_key: event.state_key,
        })
        .collect())
}

/// The depth of `user_id`'s membership event among `events`.
fn join_depth(events: &[Value], user_id: &str) -> Option<i64> {
    events.iter().find_map(|event| {
        let is_theirs = event.get("type").and_then(Value::as_str) == Some("m.room.member")
            && event.get("state_key").and_then(Value::as_str) == Some(user_id);
        is_theirs.then(|| event.get("depth").and_then(Value::as_i64)).flatten()
    })
}

/// The stable `m.room.policy` decides when present (even `{}`, which switches the policy server off); the unstable
/// event counts only in rooms that never set the stable one.
fn room_policy(state: &[StateEvent]) -> Option<RoomPolicy> {
    match content_of(state, ROOM_POLICY_EVENT_TYPE) {
        Some(content) => RoomPolicy::from_content(ROOM_POLICY_EVENT_TYPE, content),
        None => RoomPolicy::from_content(
            unstable::ROOM_POLICY_EVENT_TYPE,
            content_of(state, unstable::ROOM_POLICY_EVENT_TYPE)?,
        ),
    }
}

fn content_of<'a>(state: &'a [StateEvent], event_type: &str) -> Option<&'a Value> {
    state
        .iter()
        .find(|event| event.event_type == event_type && event.state_key.is_empty())
        .and_then(|event| event.event.get("content"))
}
