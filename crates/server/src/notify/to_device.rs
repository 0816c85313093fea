//! The signed `redact` command to a community's moderation bot (catalogue §1.8, policyserv's `docs/to_device.md`):
//! an `m.direct_to_device` EDU of type `org.matrix.policyserv.command` queued in the store's EDU queue for the bot's
//! server. The queue keeps it across restarts; the federation sender delivers it with retries and backoff.

use palisade_matrix::{OwnedUserId, SigningKey, policy_command};
use palisade_store::Store;
use serde_json::{Value, json};
use tracing::warn;

/// Queues the redact command for `event_id` in `room_id` to `bot_user_id` (a no-op when it is empty or not a
/// user ID). `sender` is our own user.
#[allow(clippy::too_many_arguments)]
pub async fn queue_redact(
    store: &dyn Store,
    server_name: &str,
    policy_key: &SigningKey,
    sender: &str,
    bot_user_id: &str,
    room_id: &str,
    event_id: &str,
    now_ms: i64,
) {
    if bot_user_id.is_empty() {
        return;
    }
    let Ok(bot) = OwnedUserId::try_from(bot_user_id) else {
        warn!(room_id, bot_user_id, "moderation_bot_user_id is not a user ID; no redact command sent");
        return;
    };
    let edu = match redact_edu(server_name, policy_key, sender, bot.as_str(), room_id, event_id) {
        Ok(edu) => edu,
        Err(error) => {
            warn!(room_id, %error, "could not sign the redact command");
            return;
        }
    };
    if let Err(error) = store.enqueue_edu(bot.server_name().as_str(), &edu, now_ms).await {
        warn!(room_id, %error, "could not queue the redact command");
    }
}

/// The EDU carrying the signed command.
pub fn redact_edu(
    server_name: &str,
    policy_key: &SigningKey,
    sender: &str,
    bot_user_id: &str,
    room_id: &str,
    event_id: &str,
) -> Result<Value, policy_command::CommandError> {
    let command = policy_command::signed_redact_command(server_name, policy_key, room_id, event_id)?;
    Ok(json!({
        "edu_type": "m.direct_to_device",
        "content": {
            "sender": sender,
            "type": policy_command::COMMAND_EVENT_TYPE,
            "message_id": palisade_store::new_id(),
            "messages": {bot_user_id: {"*": command}},
        },
    }))
}
