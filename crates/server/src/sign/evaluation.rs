//! Producing the verdict for an event: read it back if stored, otherwise run the community's filters once (even
//! when several servers ask at the same moment), store it, and only then answer.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use palisade_federation::InFlight;
use palisade_matrix::{Pdu, signing::VerifyKeys};
use palisade_policy::{
    CommunityConfig, ContentClass, EffectiveConfig, Event, FilterId, FilterMode, InstanceSettings, Scope,
    decide, decision_is_repeatable,
    handles::{Clock, Handles, MediaScanner, TextClassifier},
};
use palisade_store::{
    EvaluationClaim, GroupCommit, StoredVerdict, VerdictLookup, VerdictWriter, WriterStats,
};
use tracing::warn;

use super::{
    RoomContext, SignError,
    filter_state::{MatrixSignatures, StoreCounters, StoreHellbans, SystemClock},
    recent_bodies::RecentBodies,
    recent_verdicts::RecentVerdicts,
    room_cache::RoomContextCache,
    room_context::InstanceLayer,
    verdict_record,
};
use crate::http::AppState;
use crate::metrics::StoreOperation;
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
    /// A verdict of `class`.
    #[cfg(test)]
    pub(super) fn new(class: ContentClass, harms: Vec<String>, expiry_ms: Option<i64>) -> Self {
        Self { class, harms, expiry_ms }
    }

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
    in_flight: InFlight<Result<DecidedVerdict, SignError>>,
    /// Joined rooms' contexts, kept until the store announces a change.
    contexts: RoomContextCache,
    /// Verdicts decided or read lately, so repeated asks skip the store.
    recent: RecentVerdicts,
    /// `/sign` bodies asked about lately, so repeated asks with the same bytes skip what those bytes decide.
    recent_bodies: RecentBodies,
    /// Group commit of new verdicts; started on first use over the request's store unless given.
    writer: OnceLock<VerdictWriter>,
    /// Times this evaluator ran the filters (not counting verdicts read back).
    evaluations: AtomicU64,
    /// Queues community webhooks for new refusals.
    webhooks: Option<crate::notify::WebhookNotifier>,
    /// Moderator access tokens for legacy redactions of refused events.
    moderators: Option<crate::notify::ModeratorRedactor>,
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
            contexts: RoomContextCache::default(),
            recent: RecentVerdicts::default(),
            recent_bodies: RecentBodies::default(),
            writer: OnceLock::new(),
            evaluations: AtomicU64::new(0),
            webhooks: None,
            moderators: None,
        }
    }

    /// Redacts refused events with the rooms' moderators' access tokens (legacy redaction).
    #[must_use]
    pub fn with_moderators(mut self, moderators: crate::notify::ModeratorRedactor) -> Self {
        self.moderators = Some(moderators);
        self
    }

    /// Asks the room's moderation tooling to redact a refused event (once per event; never when `origin` is the
    /// sender's own server), see [`crate::notify::redaction`].
    pub async fn request_redaction(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        origin: &str,
    ) -> crate::notify::RedactionRequest {
        use crate::notify::redaction::{Identity, Refusal, request};
        let bot = &context.config.moderation_bot_user_id;
        let us = Identity {
            server_name: state.server_name.as_str(),
            policy_key: &state.keys.policy,
            local_user_id: self.settings.local_user_id.as_deref(),
        };
        let refusal = Refusal {
            room: &context.room,
            event_id: pdu.event_id().as_str(),
            sender: pdu.sender().as_str(),
            origin,
            moderation_bot_user_id: bot,
        };
        let now = i64::try_from(SystemClock.now_ms()).unwrap_or(i64::MAX);
        request(state.store.as_ref(), us, self.moderators.as_ref(), refusal, now).await
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

    /// The `/sign` bodies asked about lately.
    pub fn recent_bodies(&self) -> &RecentBodies {
        &self.recent_bodies
    }

    /// The context of a room we are joined to, from memory unless something it was built from changed.
    pub async fn room_context(&self, state: &AppState, room_id: &str) -> Result<Arc<RoomContext>, SignError> {
        let instance = InstanceLayer {
            config: &self.instance,
            settings: &self.settings,
            policy_lists: &self.instance_policy_lists,
        };
        self.contexts
            .get_or_load(&state.store, room_id, || RoomContext::load(&state.store, room_id, instance))
            .await
    }

    /// The verdict for `pdu`: stored before this returns, identical for every later ask.
    /// `verified` holds the keys the event's signatures were checked with.
    pub async fn verdict(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        verified: &VerifyKeys,
    ) -> Result<DecidedVerdict, SignError> {
        let reference_hash = reference_hash(context, pdu)?;
        let room_id = context.room.room_id.as_str();
        let event_id = pdu.event_id().as_str();
        let key = format!("{room_id}\u{0}{event_id}\u{0}{}", reference_hash.as_deref().unwrap_or_default());
        if let Some(recent) = self.recent.get(&key) {
            return Ok(recent);
        }
        self.in_flight
            .run(&key, || self.claim_and_decide(state, context, pdu, verified, &key, reference_hash.clone()))
            .await
    }

    /// Reads the stored verdict while holding the event's evaluation claim, or decides if there is none.
    async fn claim_and_decide(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        verified: &VerifyKeys,
        key: &str,
        reference_hash: Option<String>,
    ) -> Result<DecidedVerdict, SignError> {
        // An evaluation that ended since our first look is among the recent verdicts.
        if let Some(recent) = self.recent.get(key) {
            return Ok(recent);
        }
        // When a second decision would go unnoticed, nothing is claimed or looked up: the insert keeps and returns
        // the first verdict stored, here or at another instance (a new event, nearly every ask, costs no read).
        if decision_is_repeatable(&context.config, &context.settings) {
            let verdict = self.decide_and_store(state, context, pdu, verified, reference_hash).await?;
            self.recent.insert(key, &verdict);
            return Ok(verdict);
        }
        let (room_id, event_id) = (context.room.room_id.as_str(), pdu.event_id().as_str());
        let started = std::time::Instant::now();
        let claim = state.store.claim_evaluation(room_id, event_id, reference_hash.as_deref()).await;
        crate::metrics::store_took(StoreOperation::Lookup, started);
        // Held until the verdict is stored. If the claim cannot be had (lock timeout, database trouble), deciding
        // without it after a plain lookup is safe: the first stored verdict still wins, only the filters'
        // counters may see the event twice.
        let EvaluationClaim { stored, lock } = match claim {
            Ok(claim) => claim,
            Err(error) => {
                warn!(%error, room_id, event_id, "evaluation claim unavailable; deciding without it");
                let stored = state.store.get_verdict(room_id, event_id, reference_hash.as_deref()).await?;
                EvaluationClaim { stored, lock: palisade_store::EvaluationLock::unneeded() }
            }
        };
        let verdict = match stored {
            VerdictLookup::Found(stored) => DecidedVerdict::from_stored(&stored),
            VerdictLookup::ReferenceMismatch(_) => return Err(reused_event_id()),
            VerdictLookup::Absent => {
                self.decide_and_store(state, context, pdu, verified, reference_hash).await?
            }
        };
        drop(lock);
        self.recent.insert(key, &verdict);
        Ok(verdict)
    }

    async fn decide_and_store(
        &self,
        state: &AppState,
        context: &RoomContext,
        pdu: &Pdu,
        verified: &VerifyKeys,
        reference_hash: Option<String>,
    ) -> Result<DecidedVerdict, SignError> {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let room = &context.room;
        let history_config = predates_our_join(context, pdu).then(|| history_config(&context.config));
        let config = history_config.as_ref().unwrap_or(&context.config);
        let event = Event::from_json(pdu.to_json_value())
            .map_err(|e| SignError::BadPdu(e.to_string()))?
            .with_full_json_len(pdu.canonical_len());

        let clock = SystemClock;
        let hellbans = StoreHellbans(state.store.clone());
        let counters = StoreCounters(state.store.clone());
        let trust = self.outside.trust.get();
        let signatures = MatrixSignatures { verified };
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
            filter_timer: crate::metrics::sign_internals()
                .map(|m| m as &dyn palisade_policy::handles::FilterTimer),
        };
        let scope = Scope { community_id: &room.community_id, instance: &context.settings };
        let verdict = decide(&event, &context.snapshot, config, scope, handles)
            .await
            .map_err(|e| SignError::Internal(format!("filters failed: {e}")))?;

        let now = i64::try_from(clock.now_ms()).unwrap_or(i64::MAX);
        let reference_hash_asked = reference_hash.clone();
        let record =
            verdict_record::to_stored(&verdict, &room.room_id, pdu.event_id().as_str(), reference_hash, now);
        // Another instance may have decided first; its verdict is the answer (a verdict never flips). The writer
        // answers only after the batch holding this verdict has committed.
        // Kept only where it is needed, to tell whether ours was stored (a copy of the trace per verdict is not free).
        let reported = (verdict.is_prohibited() && self.webhooks.is_some()).then(|| record.clone());
        let writer = self.writer(state);
        if let Some(internals) = crate::metrics::sign_internals() {
            internals.verdict_queue.set(i64::try_from(writer.queued()).unwrap_or(i64::MAX));
        }
        let committing = std::time::Instant::now();
        let stored = writer.insert(record).await?;
        crate::metrics::store_took(StoreOperation::Insert, committing);
        // Decided without a lookup, this may be an earlier verdict for other content under the same (v1/v2) ID.
        if !stored.matches_reference(reference_hash_asked.as_deref()) {
            return Err(reused_event_id());
        }
        // Only the instance whose verdict was stored reports it, once.
        if reported.is_some_and(|ours| ours == stored)
            && let Some(webhooks) = &self.webhooks
        {
            let event = pdu.to_json_value();
            webhooks
                .refused(state.store.as_ref(), &config.webhook_url, &room.room_id, &event, &verdict, now)
                .await;
        }
        Ok(DecidedVerdict::from_stored(&stored))
    }

    /// The room's `refusal_message`, if its community or the room sets one.
    pub fn refusal_message(context: &RoomContext) -> Option<String> {
        Some(context.config.refusal_message.clone()).filter(|m| !m.trim().is_empty())
    }
}

/// The answer for a v1/v2 event whose sender-chosen ID already names a verdict on other content.
fn reused_event_id() -> SignError {
    SignError::BadPdu("this event ID was already used for different content".to_owned())
}

/// Whether the event comes before our join in the room's DAG: its depth is below our join event's. Synapse asks
/// about such events during backfill; refusing them would soft-fail the room's history for joining servers.
fn predates_our_join(context: &RoomContext, pdu: &Pdu) -> bool {
    let depth = pdu.as_object().get("depth").and_then(|v| v.as_integer()).map(i64::from);
    matches!((depth, context.our_join_depth), (Some(depth), Some(join)) if depth < join)
}

/// The room's config for events from before we joined: only [`HISTORY_FILTERS`] run.
fn history_config(config: &EffectiveConfig) -> EffectiveConfig {
    let mut config = config.clone();
    for filter in FilterId::ALL {
        if !HISTORY_FILTERS.contains(&filter) {
            config.filter_modes.insert(filter, FilterMode::Off);
        }
    }
    config
}

/// v1/v2 event IDs are chosen by the sender, so the content's reference hash is part of the verdict's key there.
fn reference_hash(context: &RoomContext, pdu: &Pdu) -> Result<Option<String>, SignError> {
    if !context.version.event_id_in_event() {
        return Ok(None);
    }
    pdu.reference_hash().map(Some).map_err(|e| SignError::BadPdu(e.to_string()))
}
