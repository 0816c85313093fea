//! The subset of the Matrix authorization rules the tracker enforces before a state event changes the snapshot.
//!
//! Enforced (spec "Authorization rules", all room versions, simplified where noted):
//! * `m.room.create`: accepted only while the room has none.
//! * Nothing else is accepted before the create event.
//! * `m.room.member`: join (self only; the creator's first join; not when banned; `public` rooms, or an earlier
//!   invite/join for `invite`/`knock`, or additionally an authorising joined member for `restricted` rooms),
//!   invite (joined sender with invite power; target neither joined nor banned), leave (self from
//!   join/invite/knock; a kick needs kick power above the target's, and unbanning needs ban power), ban (ban power
//!   above the target's), knock (self, knock join rules, not joined or banned).
//! * Other state: the sender is joined, has the power `events[type]`/`state_default` asks, and does not set a
//!   state key naming another user (`@…`).
//! * `m.room.power_levels`: no level above the sender's own may be set or changed, nor another user's level equal
//!   to the sender's; v12 creators may not be listed in `users`.
//! * `m.room.redaction` (applied to the snapshot by `super::redaction`): the sender is joined and has the power
//!   `events["m.room.redaction"]`/`events_default` asks; redacting an event of another origin (another server's
//!   event ID in v1/v2, another server's sender from v3 on) also needs the `redact` level.
//!
//! Not enforced (see the module report): `auth_events` selection and checking against them (we judge against our
//! current state instead), third-party invites, the restricted-join signature of the authorising server,
//! `m.room.create` content validation, `notifications` levels, and state resolution between forks.

use serde_json::Value;

use super::{
    current::CurrentState,
    power::{self, Action, Power},
};

/// Why a state event was not applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthRejection {
    /// The room already has a create event.
    #[error("the room already has a create event")]
    CreateExists,
    /// No create event is known, so nothing can be authorised.
    #[error("the room has no create event")]
    NoCreate,
    /// The sender is not joined.
    #[error("{0} is not joined")]
    SenderNotJoined(String),
    /// The sender's power is below what the event needs.
    #[error("{sender} has power {has}, {needed} needed")]
    NotEnoughPower {
        /// The sender.
        sender: String,
        /// The sender's power.
        has: Power,
        /// The level required.
        needed: i64,
    },
    /// The sender tried to act on a user whose power is not below their own.
    #[error("{sender} (power {has}) cannot act on {target} (power {target_power})")]
    TargetOutranks {
        /// The sender.
        sender: String,
        /// The sender's power.
        has: Power,
        /// The target user.
        target: String,
        /// The target's power.
        target_power: Power,
    },
    /// A state key naming a user other than the sender.
    #[error("state key {0} names another user")]
    StateKeyNotSender(String),
    /// A membership change the rules do not allow.
    #[error("membership change refused: {0}")]
    Membership(String),
    /// A power-levels change beyond the sender's own power.
    #[error("power levels change refused: {0}")]
    PowerLevels(String),
}

/// An event being judged: what the rules read from it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The event type.
    pub event_type: &'a str,
    /// The state key.
    pub state_key: &'a str,
    /// The sender.
    pub sender: &'a str,
    /// The content.
    pub content: &'a Value,
    /// Whether the room version gives creators infinite power (v12).
    pub privileged_creators: bool,
}

/// Whether `event` may change `state`.
pub(crate) fn authorise(state: &CurrentState, event: &Candidate<'_>) -> Result<(), AuthRejection> {
    if event.event_type == "m.room.create" {
        return match state.event("m.room.create", "") {
            Some(_) => Err(AuthRejection::CreateExists),
            None => Ok(()),
        };
    }
    if state.event("m.room.create", "").is_none() {
        return Err(AuthRejection::NoCreate);
    }
    if event.event_type == "m.room.member" {
        return authorise_membership(state, event);
    }
    if !state.is_joined(event.sender) {
        return Err(AuthRejection::SenderNotJoined(event.sender.to_owned()));
    }
    if event.state_key.starts_with('@') && event.state_key != event.sender {
        return Err(AuthRejection::StateKeyNotSender(event.state_key.to_owned()));
    }
    let has = power::user_power(state, event.sender, event.privileged_creators);
    require(event.sender, has, power::state_event_level(state, event.event_type))?;
    if event.event_type == "m.room.power_levels" {
        authorise_power_levels_change(state, event, has)?;
    }
    Ok(())
}

/// Whether `sender` may redact an event. `same_origin` says whether the redaction comes from the target's origin
/// as the room version defines it ([`palisade_matrix::redaction::same_origin`]); otherwise the `redact` level is
/// needed.
pub(crate) fn authorise_redaction(
    state: &CurrentState,
    sender: &str,
    privileged_creators: bool,
    same_origin: bool,
) -> Result<(), AuthRejection> {
    if state.event("m.room.create", "").is_none() {
        return Err(AuthRejection::NoCreate);
    }
    if !state.is_joined(sender) {
        return Err(AuthRejection::SenderNotJoined(sender.to_owned()));
    }
    let has = power::user_power(state, sender, privileged_creators);
    require(
        sender,
        has,
        power::message_event_level(state, palisade_matrix::redaction::REDACTION_EVENT_TYPE),
    )?;
    if same_origin {
        return Ok(());
    }
    require(sender, has, power::action_level(state, Action::Redact))
}

/// Fails unless `has` reaches `needed`.
fn require(sender: &str, has: Power, needed: i64) -> Result<(), AuthRejection> {
    if has >= Power::Level(needed) {
        Ok(())
    } else {
        Err(AuthRejection::NotEnoughPower { sender: sender.to_owned(), has, needed })
    }
}

/// The membership rules, by the membership the event sets.
fn authorise_membership(state: &CurrentState, event: &Candidate<'_>) -> Result<(), AuthRejection> {
    let membership = event.content.get("membership").and_then(Value::as_str).unwrap_or_default();
    let target = event.state_key;
    let current = state.membership(target);
    let refuse = |why: &str| Err(AuthRejection::Membership(format!("{membership} of {target}: {why}")));
    match membership {
        "join" => authorise_join(state, event, current).or_else(refuse),
        "invite" => {
            joined_sender(state, event)?;
            if matches!(current, Some("join" | "ban")) {
                return refuse("target is joined or banned");
            }
            let has = power::user_power(state, event.sender, event.privileged_creators);
            require(event.sender, has, power::action_level(state, Action::Invite))
        }
        "leave" if event.sender == target => match current {
            Some("join" | "invite" | "knock") => Ok(()),
            _ => refuse("not joined, invited or knocking"),
        },
        "leave" => {
            joined_sender(state, event)?;
            if current == Some("ban") {
                let has = power::user_power(state, event.sender, event.privileged_creators);
                require(event.sender, has, power::action_level(state, Action::Ban))?;
            }
            act_on_user(state, event, Action::Kick)
        }
        "ban" => {
            joined_sender(state, event)?;
            act_on_user(state, event, Action::Ban)
        }
        "knock" => {
            let knockable = matches!(state.join_rule(), "knock" | "knock_restricted");
            if event.sender != target || !knockable || matches!(current, Some("join" | "ban")) {
                return refuse("not allowed by the join rule or current membership");
            }
            Ok(())
        }
        _ => refuse("unknown membership"),
    }
}

/// A join: by the user themselves, allowed by the join rule or their current membership.
fn authorise_join(
    state: &CurrentState,
    event: &Candidate<'_>,
    current: Option<&str>,
) -> Result<(), &'static str> {
    if event.sender != event.state_key {
        return Err("only the user can join");
    }
    if !state.has_members() && is_creator(state, event.sender) {
        return Ok(());
    }
    if current == Some("ban") {
        return Err("the user is banned");
    }
    match state.join_rule() {
        "public" => Ok(()),
        _ if matches!(current, Some("join" | "invite")) => Ok(()),
        "restricted" | "knock_restricted" if restricted_join_authorised(state, event) => Ok(()),
        _ => Err("the join rule requires an invite"),
    }
}

/// The creator (create event sender) may make the room's first join.
fn is_creator(state: &CurrentState, user: &str) -> bool {
    state.event("m.room.create", "").and_then(|c| c.get("sender")).and_then(Value::as_str) == Some(user)
}

/// A restricted join names a joined member able to invite as `join_authorised_via_users_server`. The resident
/// server's signature on it is checked by the signature layer, not here.
fn restricted_join_authorised(state: &CurrentState, event: &Candidate<'_>) -> bool {
    let Some(via) = event.content.get("join_authorised_via_users_server").and_then(Value::as_str) else {
        return false;
    };
    state.is_joined(via)
        && power::user_power(state, via, event.privileged_creators)
            >= Power::Level(power::action_level(state, Action::Invite))
}

fn joined_sender(state: &CurrentState, event: &Candidate<'_>) -> Result<(), AuthRejection> {
    if state.is_joined(event.sender) {
        Ok(())
    } else {
        Err(AuthRejection::SenderNotJoined(event.sender.to_owned()))
    }
}

/// Kick or ban: the sender needs the action's level and must outrank the target.
fn act_on_user(state: &CurrentState, event: &Candidate<'_>, action: Action) -> Result<(), AuthRejection> {
    let has = power::user_power(state, event.sender, event.privileged_creators);
    require(event.sender, has, power::action_level(state, action))?;
    let target_power = power::user_power(state, event.state_key, event.privileged_creators);
    if target_power >= has {
        return Err(AuthRejection::TargetOutranks {
            sender: event.sender.to_owned(),
            has,
            target: event.state_key.to_owned(),
            target_power,
        });
    }
    Ok(())
}

/// Top-level levels a power-levels change may not move beyond the sender's power.
const TOP_LEVEL_KEYS: &[&str] =
    &["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"];

/// The power-levels rules: every changed level, old and new, must be within the sender's power; another user
/// already at the sender's level cannot be changed.
fn authorise_power_levels_change(
    state: &CurrentState,
    event: &Candidate<'_>,
    has: Power,
) -> Result<(), AuthRejection> {
    let new = event.content;
    if event.privileged_creators {
        let creators = power::creators(state, true);
        let listed = new.get("users").and_then(Value::as_object);
        if let Some(creator) = listed.and_then(|users| creators.iter().find(|c| users.contains_key(*c))) {
            return Err(AuthRejection::PowerLevels(format!("creator {creator} may not be listed in users")));
        }
    }
    // The first power-levels event of a room is not compared with anything.
    let Some(old) = state.content("m.room.power_levels", "") else { return Ok(()) };
    let beyond = |level: Option<i64>| level.is_some_and(|level| Power::Level(level) > has);
    for key in TOP_LEVEL_KEYS {
        check_change(key, old.get(*key), new.get(*key), beyond, |_| false)?;
    }
    for (map, is_users) in [("events", false), ("users", true)] {
        let old_map = old.get(map).and_then(Value::as_object);
        let new_map = new.get(map).and_then(Value::as_object);
        let keys: std::collections::BTreeSet<&String> =
            old_map.into_iter().chain(new_map).flat_map(|m| m.keys()).collect();
        for key in keys {
            let same_level_other_user = |old: Option<i64>| {
                is_users && key != event.sender && old.is_some_and(|old| Power::Level(old) == has)
            };
            let label = format!("{map}.{key}");
            check_change(
                &label,
                old_map.and_then(|m| m.get(key)),
                new_map.and_then(|m| m.get(key)),
                beyond,
                same_level_other_user,
            )?;
        }
    }
    Ok(())
}

/// Checks one level: unchanged levels pass; changed ones must not exceed the sender's power before or after.
fn check_change(
    label: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    beyond: impl Fn(Option<i64>) -> bool,
    forbidden_old: impl Fn(Option<i64>) -> bool,
) -> Result<(), AuthRejection> {
    let (old, new) = (old.and_then(power::as_level), new.and_then(power::as_level));
    if old == new {
        return Ok(());
    }
    if beyond(old) || beyond(new) || forbidden_old(old) {
        return Err(AuthRejection::PowerLevels(format!(
            "{label}: {old:?} → {new:?} is beyond the sender's power"
        )));
    }
    Ok(())
}
