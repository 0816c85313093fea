//! Every request of a run, signed before the clock starts.

use palisade_matrix::x_matrix::{RequestTarget, sign_request};
use serde_json::json;

use crate::{
    Mode, http1,
    seed::{Origin, SeededRoom, Target, signed_event},
};

/// The stable `/sign` path.
pub(crate) const SIGN_PATH: &str = "/_matrix/policy/v1/sign";

/// One ready-to-send request.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The whole HTTP/1.1 request.
    pub(crate) bytes: Vec<u8>,
    /// Whether the event was built to be refused.
    pub(crate) spam: bool,
}

/// `count` requests in `mode`; sets `room.events` to the number of distinct events.
pub(crate) fn build(
    target: &Target,
    authority: &str,
    room: &mut SeededRoom,
    origins: &[Origin],
    mode: Mode,
    count: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let askers = if mode == Mode::Dedup { origins.len() } else { 1 };
    let events = count.div_ceil(askers);
    room.events = events;
    let mut prepared = Vec::with_capacity(count);
    for i in 0..events {
        // Spam comes from its own senders: a refusal hellbans its sender, which would taint later neutral events.
        let spam = mode == Mode::Mix && i % 10 == 9;
        let (sender, body) = if spam {
            (format!("@spammer{i}:{}", origins[0].name), format!("buy spammy spam now, offer {i}"))
        } else {
            (format!("@user{}:{}", i % 500, origins[0].name), format!("message {i}: the quick brown fox"))
        };
        let event = signed_event(
            json!({"type": "m.room.message", "room_id": room.room_id, "sender": sender,
                   "origin_server_ts": 1_700_000_000_000_u64 + i as u64, "depth": 10 + i as u64,
                   "prev_events": ["$loadgen-prev"], "auth_events": ["$loadgen-m.room.create-"],
                   "content": {"msgtype": "m.text", "body": body}}),
            &origins[0],
        )?;
        let bytes = serde_json::to_vec(&event)?;
        let turn = if mode == Mode::Dedup { 0 } else { i % origins.len() };
        for asker in origins.iter().cycle().skip(turn).take(askers) {
            if prepared.len() == count {
                break;
            }
            let request = RequestTarget { method: "POST", uri: SIGN_PATH, body: &bytes };
            let auth = sign_request(
                request,
                asker.name.as_str().try_into()?,
                target.server_name.as_str().try_into()?,
                &asker.key,
            )?;
            let bytes = http1::post(authority, SIGN_PATH, &auth.to_header_value(), &bytes);
            prepared.push(Prepared { bytes, spam });
        }
    }
    // In dedup mode the servers' asks about one event arrive together, as they do when an event fans out.
    Ok(prepared)
}
