//! Setting the stage in Palisade's store: the origin servers' keys and a protected v12 room.

use anyhow::{Context, bail};
use palisade_matrix::{
    CanonicalObject, RoomPolicy, RoomVersion, ServerName, SigningKey, canonical_json,
    event_id::room_id_from_create_event, signing::hash_and_sign_event,
};
use palisade_store::{Room, ServerKey, StateEvent, Store, StoredVerdict, VerdictClass};
use serde_json::{Value, json};

/// The running Palisade, as its public endpoints describe it.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) server_name: String,
    pub(crate) policy_key: [u8; 32],
}

/// One fake origin server.
#[derive(Debug)]
pub(crate) struct Origin {
    pub(crate) name: String,
    pub(crate) key: SigningKey,
}

/// The room the requests are about.
#[derive(Debug)]
pub(crate) struct SeededRoom {
    pub(crate) room_id: String,
    /// How many distinct events the prepared requests cover (set by the request builder).
    pub(crate) events: usize,
}

/// Reads Palisade's server name from its key document and its policy key from the well-known document.
pub(crate) async fn discover(http: &reqwest::Client, base: &str) -> anyhow::Result<Target> {
    let keys: Value = get_json(http, &format!("{base}/_matrix/key/v2/server")).await?;
    let server_name = keys["server_name"].as_str().context("no server_name in the key document")?.to_owned();
    let well_known: Value = get_json(http, &format!("{base}/.well-known/matrix/policy_server")).await?;
    let encoded = well_known["public_keys"]["ed25519"].as_str().context("no policy key in the well-known")?;
    let decoded =
        palisade_matrix::keys::lenient_base64::decode(encoded).context("policy key is not base64")?;
    let Ok(policy_key) = <[u8; 32]>::try_from(decoded.as_slice()) else {
        bail!("policy key is not 32 bytes")
    };
    Ok(Target { server_name, policy_key })
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await.with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    let body = response.bytes().await.with_context(|| format!("GET {url}"))?;
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
}

/// `count` origin servers with fixed keys (the same every run, so their rows are simply rewritten).
pub(crate) fn origins(count: usize) -> Vec<Origin> {
    (0..count)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let key = SigningKey::from_seed(&seed, "loadgen")
                .unwrap_or_else(|_| unreachable!("a fixed valid seed"));
            Origin { name: format!("origin{i}.loadgen.test"), key }
        })
        .collect()
}

/// Writes the origins' keys and a fresh protected room (named after the run's start time) into the store.
pub(crate) async fn protected_room(
    database: &str,
    target: &Target,
    origins: &[Origin],
    preload_verdicts: usize,
) -> anyhow::Result<SeededRoom> {
    let store = palisade_store::open(database).await.with_context(|| format!("opening {database}"))?;
    for origin in origins {
        let row = ServerKey {
            server_name: origin.name.clone(),
            key_id: origin.key.key_id(),
            public_key: origin.key.public_key_base64(),
            valid_until_ts: i64::MAX / 2,
            expired_ts: None,
        };
        store.put_server_key(&row).await?;
    }
    let creator = format!("@creator:{}", origins[0].name);
    let nonce =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let create = signed_event(
        json!({"type": "m.room.create", "state_key": "", "sender": creator, "origin_server_ts": nonce as u64,
               "depth": 1, "prev_events": [], "auth_events": [],
               "content": {"room_version": "12", "loadgen_run": nonce.to_string()}}),
        &origins[0],
    )?;
    let room_id =
        room_id_from_create_event(&create, &v12()).context("room ID of the create event")?.to_string();
    store.put_room(&Room::joined(room_id.clone(), "12", "default")).await?;
    let via = <&ServerName>::try_from(target.server_name.as_str()).context("Palisade's server name")?;
    let policy = RoomPolicy::new(via, target.policy_key);
    let our_user = format!("@policyserv:{}", target.server_name);
    let state = [
        state_row(
            &room_id,
            "m.room.create",
            "",
            &creator,
            canonical_json::to_json_value(&create)["content"].clone(),
            1,
        ),
        state_row(&room_id, "m.room.policy", "", &creator, policy.stable_content(), 3),
        state_row(&room_id, "m.room.member", &our_user, &our_user, json!({"membership": "join"}), 4),
    ];
    store.put_state_events(&room_id, &state).await?;
    preload(store.as_ref(), &room_id, preload_verdicts).await?;
    Ok(SeededRoom { room_id, events: 0 })
}

/// Adds `count` neutral verdicts for made-up events, in batches.
async fn preload(store: &dyn Store, room_id: &str, count: usize) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < count {
        let batch: Vec<_> = (done..count.min(done + 5_000))
            .map(|i| StoredVerdict {
                room_id: room_id.to_owned(),
                event_id: format!("$preloaded{i:012}"),
                reference_hash: None,
                class: VerdictClass::Neutral,
                harms: Vec::new(),
                expiry_ms: None,
                trace: json!([]).into(),
                decided_at_ms: 0,
            })
            .collect();
        done += batch.len();
        store.insert_verdicts_if_absent(&batch).await?;
    }
    if count > 0 {
        eprintln!("preloaded {count} verdicts in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn state_row(
    room_id: &str,
    event_type: &str,
    state_key: &str,
    sender: &str,
    content: Value,
    depth: i64,
) -> StateEvent {
    let event_id = format!("$loadgen-{event_type}-{state_key}");
    StateEvent {
        event_type: event_type.to_owned(),
        state_key: state_key.to_owned(),
        event_id: event_id.clone(),
        event: json!({"type": event_type, "state_key": state_key, "room_id": room_id, "sender": sender,
                      "content": content, "depth": depth, "origin_server_ts": 1, "event_id": event_id}),
    }
}

pub(crate) fn v12() -> RoomVersion {
    RoomVersion::parse("12").unwrap_or_else(|_| unreachable!("12 is a known room version"))
}

/// Hashes and signs `event` as `origin` would before sending it.
pub(crate) fn signed_event(event: Value, origin: &Origin) -> anyhow::Result<CanonicalObject> {
    let mut object = canonical_json::from_value(event)?;
    hash_and_sign_event(&mut object, &origin.name, &origin.key, &v12())?;
    Ok(object)
}
