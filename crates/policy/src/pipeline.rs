//! The pipeline as data: phases, the classes that let each phase run, and the filters in each (catalogue §3.1),
//! plus [`decide`], which walks that table.

use serde::Serialize;

use crate::filter::{FilterContext, Outcome};
use crate::filters::registry;
use crate::handles::Handles;
use crate::verdict::TraceEntry;
use crate::{
    ContentClass, EffectiveConfig, Event, FilterId, FilterMode, InstanceSettings, RoomSnapshot, Scope,
    Verdict, harms,
};

/// One phase of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// A name for errors and documentation.
    pub name: &'static str,
    /// The phase runs only if the class accumulated so far is one of these.
    pub runs_when: &'static [ContentClass],
    /// Its filters, in order.
    pub filters: &'static [FilterId],
}

/// policyserv's pipeline: prefilters always run; the hellban prefilter and content filters only on events nothing
/// has judged yet; the hellban postfilter only on refused events.
pub const PHASES: [Phase; 4] = [
    Phase {
        name: "prefilters",
        runs_when: &[ContentClass::Neutral, ContentClass::Allowed, ContentClass::Prohibited],
        filters: &[
            FilterId::ProtectLocalUser,
            FilterId::EventType,
            FilterId::Sender,
            FilterId::UnsafeSigningKey,
        ],
    },
    Phase {
        name: "hellban prefilter",
        runs_when: &[ContentClass::Neutral],
        filters: &[FilterId::HellbanPrefilter],
    },
    Phase {
        name: "content filters",
        runs_when: &[ContentClass::Neutral],
        filters: &[
            FilterId::Keyword,
            FilterId::KeywordTemplate,
            FilterId::Density,
            FilterId::Length,
            FilterId::ManyAts,
            FilterId::Media,
            FilterId::UntrustedMedia,
            FilterId::InlineEmojiSize,
            FilterId::Mentions,
            FilterId::PolicyList,
            FilterId::TrimLength,
            FilterId::Openai,
            FilterId::StickyEvents,
            FilterId::Links,
            FilterId::MentionFrequency,
            FilterId::Frequency,
            FilterId::UserIdWords,
            FilterId::UserIdLength,
            FilterId::MediaScanning,
        ],
    },
    Phase {
        name: "postfilters",
        runs_when: &[ContentClass::Prohibited],
        filters: &[FilterId::HellbanPostfilter],
    },
];

/// The check could not be completed; the server must not sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("error at phase {phase_index} ({phase}): filter {filter}: {message}")]
pub struct DecideError {
    /// 1-based phase number (policyserv says "error at group N").
    pub phase_index: usize,
    /// The phase's name.
    pub phase: &'static str,
    /// The failing filter.
    pub filter: FilterId,
    /// What went wrong.
    pub message: String,
}

/// The accumulated state of a decision.
#[derive(Debug, Default)]
struct Accumulator {
    class: ContentClass,
    harms: Vec<String>,
    /// Latest end of a time-bound prohibition.
    expiry: Option<u64>,
    /// Whether some prohibition has no end.
    permanent: bool,
    /// Whether an enforced filter asked for redaction.
    redact: bool,
    trace: Vec<TraceEntry>,
}

impl Accumulator {
    /// Records a filter's outcome in the trace and, when enforced, in the phase's class and the harms.
    fn record(&mut self, id: FilterId, mode: FilterMode, outcome: Outcome, phase_class: &mut ContentClass) {
        let mut entry_harms = outcome.harms.clone();
        entry_harms.sort();
        entry_harms.dedup();
        self.trace.push(TraceEntry {
            filter: id.as_str().to_owned(),
            outcome: outcome.class,
            harms: entry_harms,
            mode,
            reason: outcome.reason,
        });
        if mode != FilterMode::Enforce {
            return;
        }
        *phase_class = (*phase_class).max(outcome.class);
        if outcome.class == ContentClass::Prohibited {
            match outcome.expiry {
                Some(expiry) => self.expiry = self.expiry.max(Some(expiry)),
                None => self.permanent = true,
            }
        }
        self.redact |= outcome.redact;
        self.harms.extend(outcome.harms);
    }

    /// The final verdict: harms normalised, expiry only if every prohibition is time-bound.
    fn finish(self) -> Verdict {
        let mut verdict = Verdict::new(self.class, &self.harms);
        verdict.expiry = if verdict.is_prohibited() && !self.permanent { self.expiry } else { None };
        verdict.redact = verdict.is_prohibited() && self.redact;
        verdict.trace = self.trace;
        verdict
    }
}

/// Decides on `event`. A pure function of its inputs: all state is read and written through `handles`, and the
/// time is read once from its clock.
pub async fn decide(
    event: &Event,
    room: &RoomSnapshot,
    config: &EffectiveConfig,
    scope: Scope<'_>,
    handles: Handles<'_>,
) -> Result<Verdict, DecideError> {
    let mut acc = Accumulator::default();
    if event.sender_id().is_none() {
        let harm_ids = [harms::SPAM, harms::PS_SPEC_NON_COMPLIANCE];
        acc.trace.push(TraceEntry {
            filter: "sender_is_user_id".to_owned(),
            outcome: ContentClass::Prohibited,
            harms: harm_ids.iter().map(|h| (*h).to_owned()).collect(),
            mode: FilterMode::Enforce,
            reason: format!("sender {:?} is not a user ID", event.sender()),
        });
        acc.class = ContentClass::Prohibited;
        acc.permanent = true;
        acc.harms.extend(harm_ids.iter().map(|h| (*h).to_owned()));
        return Ok(acc.finish());
    }
    let now_ms = handles.clock.now_ms();
    for (index, phase) in PHASES.iter().enumerate() {
        if !phase.runs_when.contains(&acc.class) {
            continue;
        }
        let mut phase_class = ContentClass::Neutral;
        for &id in phase.filters {
            let mode = config.mode(id);
            if mode == FilterMode::Off {
                continue;
            }
            let cx = FilterContext { event, room, config, scope, handles, now_ms, mode };
            let filter = registry(id);
            if !filter.enabled(&cx) {
                continue;
            }
            let started = handles.filter_timer.map(|_| std::time::Instant::now());
            let outcome = filter.check(&cx).await.map_err(|err| DecideError {
                phase_index: index + 1,
                phase: phase.name,
                filter: id,
                message: err.0,
            })?;
            if let (Some(timer), Some(started)) = (handles.filter_timer, started) {
                timer.filter_ran(id, started.elapsed());
            }
            acc.record(id, mode, outcome, &mut phase_class);
        }
        acc.class = acc.class.max(phase_class);
    }
    Ok(acc.finish())
}

/// Filters whose every run changes shared state or costs money: rate counters count each decision, and outside
/// classifiers and scanners are asked (and paid) per call. Not among them: the hellban postfilter, since starting the
/// same hellban twice leaves the sender hellbanned once.
const REPEAT_SENSITIVE: [FilterId; 4] =
    [FilterId::Frequency, FilterId::MentionFrequency, FilterId::Openai, FilterId::MediaScanning];

/// Whether deciding the same event twice would go unnoticed under `config`: none of [`REPEAT_SENSITIVE`] can run.
/// Only when it would not must concurrent asks at several instances wait for one decision; otherwise a second
/// decision is harmless, since the first verdict stored is the answer either way.
pub fn decision_is_repeatable(config: &EffectiveConfig, instance: &InstanceSettings) -> bool {
    REPEAT_SENSITIVE.iter().all(|&id| config.mode(id) == FilterMode::Off || !configured(id, config, instance))
}

/// Whether a repeat-sensitive filter is set up to run at all (what its `enabled` checks that needs no event).
fn configured(id: FilterId, config: &EffectiveConfig, instance: &InstanceSettings) -> bool {
    match id {
        FilterId::Frequency => {
            !config.frequency_filter_event_types.is_empty() && config.frequency_filter_rate_limit > 0.0
        }
        FilterId::MentionFrequency => config.mention_frequency_filter_rate_limit > 0.0,
        FilterId::Openai => !instance.classifier_room_ids.is_empty(),
        FilterId::MediaScanning => !config.hma_filter_enabled_banks.is_empty(),
        _ => true,
    }
}

/// Judges free text (the server-centric text API, policyserv's `CheckText`) with the filters that understand text:
/// the same phases, gating and modes, no state and no side effects.
pub fn decide_text(text: &str, config: &EffectiveConfig) -> Verdict {
    let mut acc = Accumulator::default();
    for phase in &PHASES {
        if !phase.runs_when.contains(&acc.class) {
            continue;
        }
        let mut phase_class = ContentClass::Neutral;
        for &id in phase.filters {
            let mode = config.mode(id);
            if mode == FilterMode::Off {
                continue;
            }
            if let Some(outcome) = registry(id).check_text(text, config) {
                acc.record(id, mode, outcome, &mut phase_class);
            }
        }
        acc.class = acc.class.max(phase_class);
    }
    acc.finish()
}

#[cfg(test)]
mod tests;
