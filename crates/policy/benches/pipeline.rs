//! The filter pipeline with the default community config on a realistic mix of events.
//!
//! `cargo bench -p palisade-policy` prints the time per decision; docs/performance.md records the latest numbers.

#![allow(clippy::unwrap_used, missing_docs)] // a benchmark panics on broken fixtures by design

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_policy::{
    CommunityConfig, Event, InstanceSettings, RoomSnapshot, Scope,
    block_on::block_on,
    decide,
    handles::{Handles, ManualClock, MemoryCounter, MemoryHellbans},
    trust::TrustData,
};
use serde_json::{Value, json};

/// What a busy public room sends: mostly short text, some replies with mentions and formatting, reactions,
/// edits, an image, a long message and a bit of keyword spam.
fn mix() -> Vec<Value> {
    let message = |i: usize, content: Value| {
        json!({"type": "m.room.message", "room_id": "!room:example.org", "sender": format!("@user{i}:example.org"),
               "origin_server_ts": 1_767_225_600_000_u64 + i as u64, "content": content,
               "event_id": format!("$event{i}")})
    };
    let mut events = Vec::new();
    for i in 0..100 {
        let event = match i % 10 {
            0..=4 => message(
                i,
                json!({"msgtype": "m.text", "body": format!("good morning everyone, message {i}")}),
            ),
            5 => message(
                i,
                json!({"msgtype": "m.text", "body": "@alice:example.org @bob:example.org thanks!",
                "format": "org.matrix.custom.html",
                "formatted_body": "<a href=\"https://matrix.to/#/@alice:example.org\">Alice</a> <b>thanks!</b>",
                "m.mentions": {"user_ids": ["@alice:example.org", "@bob:example.org"]}}),
            ),
            6 => {
                json!({"type": "m.reaction", "room_id": "!room:example.org", "sender": format!("@user{i}:example.org"),
                "origin_server_ts": 1, "event_id": format!("$r{i}"),
                "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$event0", "key": "👍"}}})
            }
            7 => message(i, json!({"msgtype": "m.image", "body": "cat.png", "url": "mxc://example.org/abc"})),
            8 => message(i, json!({"msgtype": "m.text", "body": "lorem ipsum dolor sit amet ".repeat(40)})),
            _ => message(i, json!({"msgtype": "m.text", "body": "buy spammy spam now"})),
        };
        events.push(event);
    }
    events
}

fn pipeline(c: &mut Criterion) {
    let config = CommunityConfig::default().resolve();
    let room = RoomSnapshot::new("!room:example.org", "12");
    let instance = InstanceSettings::default();
    let events: Vec<Event> = mix().into_iter().map(|e| Event::from_json(e).unwrap()).collect();
    let (clock, hellbans, counters, trust) = (
        ManualClock::new(1_767_225_600_000),
        MemoryHellbans::default(),
        MemoryCounter::default(),
        TrustData::default(),
    );
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("decide_default_config_100_event_mix", |b| {
        b.iter(|| {
            for event in &events {
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
                let scope = Scope { community_id: "community", instance: &instance };
                black_box(block_on(decide(event, &room, &config, scope, handles)).unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
