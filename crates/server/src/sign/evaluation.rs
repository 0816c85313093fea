//! Producing the verdict for an event: read it back if stored, otherwise run the community's filters once (even
//! when several servers ask at the same moment), store it, and only then answer.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use palisade_federation::InFlight;
use palisade_matrix::Pdu;
use palisade_policy::{
    CommunityConfig, ContentClass, EffectiveConfig, Event, FilterId, FilterMode, InstanceSettings,
    RoomSnapshot, Scope, decide,
    handles::{Clock, Handles, MediaScanner, TextClassifier},
    policy_list::{PolicyRuleSet, PolicyRuleSource},
};
use palisade_store::{GroupCommit, StoredVerdict, VerdictLookup, VerdictWriter, WriterStats};
use tracing::warn;

use super::{
    RoomContext, SignError,
    filter_state::{MatrixSignatures, StoreCounters, StoreHellbans, SystemClock},
    verdict_record,
};
use crate::http::AppState;
use crate::outside::{Budgeted, Deadline, OutsideServices};

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
    /// OpenAI, HMA and Muninn Hall data, and the time budget for them per request.
    outside: OutsideServices,
    in_flight: InFlight<Result<DecidedVerdict, String>>,
    /// Group commit of new verdicts; started on first use over the request's store unless given.
    writer: OnceLock<VerdictWriter>,
    /// Times this evaluator ran the filters (not counting verdicts read back).
    evaluations: AtomicU64,
    /// Queues community webhooks for new refusals.
    webhooks: Option<crate::notify::WebhookNotifier>,
}

impl Evaluator {
    /// An evaluator with the instance's defaults.
    pub fn new(
        instance: CommunityConfig,
        settings: InstanceSettings,
        instance_policy_lists: Vec<String>,
    ) -> Self {
        Self {
            instance,
            settings,
            instance_policy_lists,
            outside: OutsideServices::default(),
            in_flight: InFlight::default(),
            writer: OnceLock::new(),
            evaluations: AtomicU64::new(0),
            webhooks: None,
        }
    }

    /// Queues a community webhook (when the community has one) for every new refusal.
    #[must_use]
    pub fn with_webhooks(mut self, notifier: crate::notify::WebhookNotifier) -> Self {
        self.webhooks = Some(notifier);
        self
    }

    /// Writes new verdicts through `writer` (which must write to the store requests are served from).
    /// Without one, a writer with default limits is started on the first evaluation.
    #[must_use]
    pub fn with_verdict_writer(self, writer: VerdictWriter) -> Self {
        let _ = self.writer.set(writer);
        self
    }

    /// How many times the filters ran here (verdicts found stored do not count).
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Batches and verdicts written by the group commit so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.get().map(VerdictWriter::stats).unwrap_or_default()
    }

    fn writer(&self, state: &AppState) -> &VerdictWriter {
        self.writer.get_or_init(|| VerdictWriter::spawn(state.store.clone(), GroupCommit::default()))
    }

    /// The instance layer of community config (code defaults overlaid by the instance's settings).
    pub fn instance_config(&self) -> &CommunityConfig {
        &self.instance
    }

    /// The trust data (Muninn Hall servers) decisions read; the admin API replaces it.
    pub fn trust_cache(&self) -> &crate::outside::TrustCache {
        &self.outside.trust
    }

    /// The same evaluator consulting `outside` services.
    pub fn with_outside(mut self, outside: OutsideServices) -> Self {
        self.outside = outside;
        self
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
        if let Some(stored) = stored_verdict(state, room_id, event_id, reference_hash.as_deref()).await? {
            return Ok(stored);
        }
        let key = format!("{room_id}\u{0}{event_id}\u{0}{}", reference_hash.as_deref().unwrap_or_default());
        self.in_flight
            .run(&key, || async {
                self.decide_once(state, context, pdu, reference_hash.clone()).await.map_err(|e| e.to_string())
            })
            .await
            .map_err(SignError::Internal)
    }

    /// Decides unless another instance did while we waited for the event's evaluation lock.
    async fn decide_once(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        reference_hash: Option<String>,
    ) -> Result<DecidedVerdict, SignError> {
        let (room_id, event_id) = (context.room.room_id.as_str(), pdu.event_id().as_str());
        // Held until the verdict is stored. If the lock cannot be had (timeout, database trouble), deciding anyway
        // is safe: the first stored verdict still wins, only the filters' counters may see the event twice.
        let _lock = match state.store.lock_evaluation(room_id, event_id).await {
            Ok(lock) => Some(lock),
            Err(error) => {
                warn!(%error, room_id, event_id, "evaluation lock unavailable; deciding without it");
                None
            }
        };
        if let Some(stored) = stored_verdict(state, room_id, event_id, reference_hash.as_deref()).await? {
            return Ok(stored);
        }
        self.decide_and_store(state, context, pdu, reference_hash).await
    }

    async fn decide_and_store(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        reference_hash: Option<String>,
    ) -> Result<DecidedVerdict, SignError> {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let room = &context.room;
        let config = self.effective_config(state, context, pdu).await?;
        let mut snapshot = RoomSnapshot::from_state_events(&room.room_id, &context.state);
        snapshot.policy_rules = self.policy_rules(state, &config).await?;
        let event = Event::from_json(pdu.to_json_value()).map_err(|e| SignError::BadPdu(e.to_string()))?;

        let clock = SystemClock;
        let hellbans = StoreHellbans(state.store.clone());
        let counters = StoreCounters(state.store.clone());
        let trust = self.outside.trust.get();
        let signatures = MatrixSignatures;
        // One budget for every outside call of this request, so none holds the answer past it.
        let deadline = Deadline::after(self.outside.budget);
        let scanner = self.outside.scanner.as_deref().map(|s| Budgeted::new(s, deadline));
        let classifier = self.outside.classifier.as_deref().map(|c| Budgeted::new(c, deadline));
        let handles = Handles {
            clock: &clock,
            hellbans: &hellbans,
            counters: &counters,
            trust: &trust,
            media_scanner: scanner.as_ref().map(|s| s as &dyn MediaScanner),
            classifier: classifier.as_ref().map(|c| c as &dyn TextClassifier),
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
        // Another instance may have decided first; its verdict is the answer (a verdict never flips). The writer
        // answers only after the batch holding this verdict has committed.
        let ours = record.clone();
        let stored = self.writer(state).insert(record).await?;
        // Only the instance whose verdict was stored reports it, once.
        if stored == ours && verdict.is_prohibited() {
            if let Some(webhooks) = &self.webhooks {
                let event = pdu.to_json_value();
                webhooks
                    .refused(state.store.as_ref(), &config.webhook_url, &room.room_id, &event, &verdict, now)
                    .await;
            }
            if let Some(sender) = self.settings.local_user_id.as_deref() {
                crate::notify::to_device::queue_redact(
                    state.store.as_ref(),
                    state.server_name.as_str(),
                    &state.keys.policy,
                    sender,
                    &config.moderation_bot_user_id,
                    &room.room_id,
                    pdu.event_id().as_str(),
                    now,
                )
                .await;
            }
        }
        Ok(DecidedVerdict::from_stored(&stored))
    }

    /// The room's `refusal_message`, if its community or the room sets one.
    pub async fn refusal_message(
        &self,
        state: &AppState,
        context: &RoomContext,
    ) -> Result<Option<String>, SignError> {
        let message = self.layered_config(state, context).await?.refusal_message;
        Ok(Some(message).filter(|m| !m.trim().is_empty()))
    }

    /// The layered config; events from before we joined get only [`HISTORY_FILTERS`].
    async fn effective_config(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
    ) -> Result<EffectiveConfig, SignError> {
        let mut config = self.layered_config(state, context).await?;
        if self.predates_our_join(context, pdu) {
            for filter in FilterId::ALL {
                if !HISTORY_FILTERS.contains(&filter) {
                    config.filter_modes.insert(filter, FilterMode::Off);
                }
            }
        }
        Ok(config)
    }

    /// Instance → community → room layers.
    async fn layered_config(
        &self,
        state: &AppState,
        context: &RoomContext,
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
        Ok(EffectiveConfig::from_layers(&self.instance, &community, overrides.as_ref()))
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

/// The verdict stored for an event, if any; an event ID reused for other content is refused.
async fn stored_verdict(
    state: &AppState,
    room_id: &str,
    event_id: &str,
    reference_hash: Option<&str>,
) -> Result<Option<DecidedVerdict>, SignError> {
    match state.store.get_verdict(room_id, event_id, reference_hash).await? {
        VerdictLookup::Found(stored) => Ok(Some(DecidedVerdict::from_stored(&stored))),
        VerdictLookup::ReferenceMismatch(_) => {
            Err(SignError::BadPdu("this event ID was already used for different content".to_owned()))
        }
        VerdictLookup::Absent => Ok(None),
    }
}

/// v1/v2 event IDs are chosen by the sender, so the content's reference hash is part of the verdict's key there.
fn reference_hash(context: &RoomContext, pdu: &Pdu) -> Result<Option<String>, SignError> {
    if !context.version.event_id_in_event() {
        return Ok(None);
    }
    pdu.reference_hash().map(Some).map_err(|e| SignError::BadPdu(e.to_string()))
}
