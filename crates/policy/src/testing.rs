//! Test support: a harness holding every input of a decision, with in-memory state.

use serde_json::{Value, json};

use crate::block_on::block_on;
use crate::filter::{FilterContext, Outcome};
use crate::filters::registry;
use crate::handles::{
    FakeClassifier, FakeScanner, Handles, ManualClock, MemoryCounter, MemoryHellbans, SignatureVerifier,
};
use crate::trust::TrustData;
use crate::{
    CommunityConfig, ContentClass, EffectiveConfig, Event, FilterId, InstanceSettings, RoomSnapshot, Scope,
    Verdict, decide,
};

/// The harness's start time: 2026-01-01T00:00:00Z.
pub(crate) const T0: u64 = 1_767_225_600_000;

/// Every input of a decision.
#[derive(Debug)]
pub(crate) struct Harness {
    pub config: EffectiveConfig,
    pub room: RoomSnapshot,
    pub instance: InstanceSettings,
    pub community: String,
    pub clock: ManualClock,
    pub hellbans: MemoryHellbans,
    pub counters: MemoryCounter,
    pub trust: TrustData,
    pub scanner: Option<FakeScanner>,
    pub classifier: Option<FakeClassifier>,
    pub verifier: Option<Box<dyn SignatureVerifier>>,
}

impl Harness {
    /// Defaults with `layer` (community JSON) on top.
    pub(crate) fn new(layer: Value) -> Self {
        let layer = CommunityConfig::from_json(&layer).expect("test config");
        layer.validate().expect("valid test config");
        Self {
            config: layer.resolve(),
            room: RoomSnapshot::new("!room:example.org", "12"),
            instance: InstanceSettings::default(),
            community: "community".to_owned(),
            clock: ManualClock::new(T0),
            hellbans: MemoryHellbans::default(),
            counters: MemoryCounter::default(),
            trust: TrustData::default(),
            scanner: None,
            classifier: None,
            verifier: None,
        }
    }

    pub(crate) fn handles(&self) -> Handles<'_> {
        Handles {
            clock: &self.clock,
            hellbans: &self.hellbans,
            counters: &self.counters,
            trust: &self.trust,
            media_scanner: self.scanner.as_ref().map(|s| s as _),
            classifier: self.classifier.as_ref().map(|c| c as _),
            signatures: self.verifier.as_deref(),
            filter_timer: None,
        }
    }

    fn scope(&self) -> Scope<'_> {
        Scope { community_id: &self.community, instance: &self.instance }
    }

    /// Runs one filter; `None` if the configuration leaves it disabled.
    pub(crate) fn run(&self, id: FilterId, event: Value) -> Option<Outcome> {
        let event = Event::from_json(event).expect("test event");
        let cx = FilterContext {
            event: &event,
            room: &self.room,
            config: &self.config,
            scope: self.scope(),
            handles: self.handles(),
            now_ms: self.clock.now_ms_value(),
            mode: self.config.mode(id),
        };
        let filter = registry(id);
        filter.enabled(&cx).then(|| block_on(filter.check(&cx)).expect("filter error"))
    }

    /// Runs one filter and returns (class, sorted harms); disabled counts as neutral.
    pub(crate) fn judge(&self, id: FilterId, event: Value) -> (ContentClass, Vec<String>) {
        self.run(id, event).map_or((ContentClass::Neutral, Vec::new()), |o| {
            let mut harms = o.harms;
            harms.sort();
            harms.dedup();
            (o.class, harms)
        })
    }

    /// Runs the whole pipeline.
    pub(crate) fn decide(&self, event: Value) -> Verdict {
        let event = Event::from_json(event).expect("test event");
        block_on(decide(&event, &self.room, &self.config, self.scope(), self.handles()))
            .expect("decide error")
    }
}

impl ManualClock {
    /// The clock's reading (test helper avoiding the trait import).
    pub(crate) fn now_ms_value(&self) -> u64 {
        crate::handles::Clock::now_ms(self)
    }
}

/// An `m.room.message` with `m.text` body.
pub(crate) fn message(sender: &str, body: &str) -> Value {
    event("m.room.message", sender, json!({"msgtype": "m.text", "body": body}))
}

/// An event of any type.
pub(crate) fn event(event_type: &str, sender: &str, content: Value) -> Value {
    json!({
        "type": event_type, "sender": sender, "room_id": "!room:example.org", "content": content,
        "origin_server_ts": T0, "depth": 10, "prev_events": [], "auth_events": [],
        "hashes": {"sha256": "aGFzaA"}, "signatures": {},
    })
}

/// Prohibited with exactly `harms` (sorted in the result).
pub(crate) fn prohibited(harms: &[&str]) -> (ContentClass, Vec<String>) {
    let mut harms: Vec<String> = harms.iter().map(|h| (*h).to_owned()).collect();
    harms.sort();
    (ContentClass::Prohibited, harms)
}

/// Neutral.
pub(crate) fn neutral() -> (ContentClass, Vec<String>) {
    (ContentClass::Neutral, Vec::new())
}

/// Allowed.
pub(crate) fn allowed() -> (ContentClass, Vec<String>) {
    (ContentClass::Allowed, Vec::new())
}
