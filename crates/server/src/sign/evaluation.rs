//! Producing the verdict for an event: read it back if stored, otherwise run the community's filters once (even
//! when several servers ask at the same moment), store it, and only then answer.

use palisade_federation::InFlight;
use palisade_matrix::Pdu;
use palisade_policy::{
    CommunityConfig, ContentClass, EffectiveConfig, Event, FilterId, FilterMode, InstanceSettings,
    RoomSnapshot, Scope, decide,
    handles::{Clock, Handles},
    policy_list::{PolicyRuleSet, PolicyRuleSource},
    trust::TrustData,
};
use palisade_store::{StoredVerdict, VerdictLookup};

use super::{
    RoomContext, SignError,
    filter_state::{MatrixSignatures, StoreCounters, StoreHellbans, SystemClock},
    verdict_record,
};
use crate::http::AppState;

/// Filters that still judge events from before we joined: a ban on a policy list or a known-bad media hash is
/// worth acting on whenever the event was sent; rate limits, mentions and the like are not.
const HISTORY_FILTERS: &[FilterId] = &[FilterId::PolicyList, FilterId::MediaScanning];

/// A stored verdict with the class it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct DecidedVerdict {
    class: ContentClass,
    /// Sorted harm IDs.
    pub harms: Vec<String>,
    /// When a time-bound refusal ends (ms).
    pub expiry_ms: Option<i64>,
}

impl DecidedVerdict {
    fn from_stored(stored: &StoredVerdict) -> Self {
        Self {
            class: verdict_record::class_of(stored),
            harms: stored.harms.clone(),
            expiry_ms: stored.expiry_ms,
        }
    }

    /// Neutral, allowed or prohibited.
    pub fn class(&self) -> ContentClass {
        self.class
    }
}

/// Instance-wide inputs of every decision, and the table of evaluations in progress.
#[derive(Debug, Default)]
pub struct Evaluator {
    /// The instance's community defaults (code defaults overlaid by the instance config).
    instance: CommunityConfig,
    /// Our own user, classifier rooms.
    settings: InstanceSettings,
    /// Policy-list rooms every community consults after its own (`PS_MJOLNIR_FILTER_ROOM_ID`).
    instance_policy_lists: Vec<String>,
    in_flight: InFlight<Result<DecidedVerdict, String>>,
}

impl Evaluator {
    /// An evaluator with the instance's defaults.
    pub fn new(
        instance: CommunityConfig,
        settings: InstanceSettings,
        instance_policy_lists: Vec<String>,
    ) -> Self {
        Self { instance, settings, instance_policy_lists, in_flight: InFlight::default() }
    }

    /// The verdict for `pdu`: stored before this returns, identical for every later ask.
    pub async fn verdict(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
    ) -> Result<DecidedVerdict, SignError> {
        let reference_hash = reference_hash(context, pdu)?;
        let room_id = context.room.room_id.as_str();
        let event_id = pdu.event_id().as_str();
        match state.store.get_verdict(room_id, event_id, reference_hash.as_deref()).await? {
            VerdictLookup::Found(stored) => return Ok(DecidedVerdict::from_stored(&stored)),
            VerdictLookup::ReferenceMismatch(_) => {
                return Err(SignError::BadPdu(
                    "this event ID was already used for different content".to_owned(),
                ));
            }
            VerdictLookup::Absent => {}
        }
        let key = format!("{room_id}\u{0}{event_id}\u{0}{}", reference_hash.as_deref().unwrap_or_default());
        self.in_flight
            .run(&key, || async {
                self.decide_and_store(state, context, pdu, reference_hash.clone())
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(SignError::Internal)
    }

    async fn decide_and_store(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        reference_hash: Option<String>,
    ) -> Result<DecidedVerdict, SignError> {
        let room = &context.room;
        let config = self.effective_config(state, context, pdu).await?;
        let mut snapshot = RoomSnapshot::from_state_events(&room.room_id, &context.state);
        snapshot.policy_rules = self.policy_rules(state, &config).await?;
        let event = Event::from_json(pdu.to_json_value()).map_err(|e| SignError::BadPdu(e.to_string()))?;

        let clock = SystemClock;
        let hellbans = StoreHellbans(state.store.clone());
        let counters = StoreCounters(state.store.clone());
        let trust = TrustData::default();
        let signatures = MatrixSignatures;
        let handles = Handles {
            clock: &clock,
            hellbans: &hellbans,
            counters: &counters,
            trust: &trust,
            media_scanner: None,
            classifier: None,
            signatures: Some(&signatures),
        };
        let mut settings = self.settings.clone();
        settings.keyword_templates = state.store.list_keyword_templates().await?.into_iter().collect();
        let scope = Scope { community_id: &room.community_id, instance: &settings };
        let verdict = decide(&event, &snapshot, &config, scope, handles)
            .await
            .map_err(|e| SignError::Internal(format!("filters failed: {e}")))?;

        let now = i64::try_from(clock.now_ms()).unwrap_or(i64::MAX);
        let record =
            verdict_record::to_stored(&verdict, &room.room_id, pdu.event_id().as_str(), reference_hash, now);
        // Another instance may have decided first; its verdict is the answer (a verdict never flips).
        let stored = state.store.insert_verdict_if_absent(&record).await?;
        Ok(DecidedVerdict::from_stored(&stored))
    }

    /// Instance → community → room layers; events from before we joined get only [`HISTORY_FILTERS`].
    async fn effective_config(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
    ) -> Result<EffectiveConfig, SignError> {
        let room = &context.room;
        let community = match state.store.get_community(&room.community_id).await? {
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
        let mut config = EffectiveConfig::from_layers(&self.instance, &community, overrides.as_ref());
        if self.predates_our_join(context, pdu) {
            for filter in FilterId::ALL {
                if !HISTORY_FILTERS.contains(&filter) {
                    config.filter_modes.insert(filter, FilterMode::Off);
                }
            }
        }
        Ok(config)
    }

    /// Whether the event comes before our join in the room's DAG: its depth is below our join event's. Synapse asks
    /// about such events during backfill; refusing them would soft-fail the room's history for joining servers.
    fn predates_our_join(&self, context: &RoomContext, pdu: &Pdu) -> bool {
        let Some(our_user) = self.settings.local_user_id.as_deref() else { return false };
        let our_join_depth = context.state.iter().find_map(|event| {
            let is_ours = event.get("type").and_then(|v| v.as_str()) == Some("m.room.member")
                && event.get("state_key").and_then(|v| v.as_str()) == Some(our_user);
            is_ours.then(|| event.get("depth").and_then(serde_json::Value::as_i64)).flatten()
        });
        let depth = pdu.as_object().get("depth").and_then(|v| v.as_integer()).map(i64::from);
        matches!((depth, our_join_depth), (Some(depth), Some(join)) if depth < join)
    }

    /// The rules of the community's policy lists (highest priority first), then the instance's.
    async fn policy_rules(
        &self,
        state: &AppState,
        config: &EffectiveConfig,
    ) -> Result<PolicyRuleSet, SignError> {
        let mut lists = Vec::new();
        for room_id in config.policy_list_room_ids.iter().chain(&self.instance_policy_lists) {
            let rules: Vec<PolicyRuleSource> = state
                .store
                .get_room_state(room_id)
                .await?
                .into_iter()
                .map(|event| PolicyRuleSource {
                    content: event.event.get("content").cloned().unwrap_or_default(),
                    event_type: event.event_type,
                    state_key: event.state_key,
                })
                .collect();
            lists.push(rules);
        }
        Ok(PolicyRuleSet::from_lists(&lists))
    }
}

/// v1/v2 event IDs are chosen by the sender, so the content's reference hash is part of the verdict's key there.
fn reference_hash(context: &RoomContext, pdu: &Pdu) -> Result<Option<String>, SignError> {
    if !context.version.event_id_in_event() {
        return Ok(None);
    }
    pdu.reference_hash().map(Some).map_err(|e| SignError::BadPdu(e.to_string()))
}
