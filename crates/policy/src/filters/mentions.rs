//! Mass mentions: members named in one message via `m.mentions`, their IDs, or their display names.

use std::collections::BTreeSet;

use crate::filter::{Filter, FilterContext, FilterError, Outcome, ready};
use crate::handles::BoxFuture;
use crate::{Event, FilterId, RoomSnapshot, harms};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Mentions;

/// Counts mentions of room members in a message (0 for other events), policyserv's way: distinct
/// `m.mentions.user_ids` that are members, plus members whose ID appears in `body` or `formatted_body`, plus
/// distinct display names of at least `min_name_len` bytes that appear there. One user can count up to three times.
pub(crate) fn count_mentions(event: &Event, room: &RoomSnapshot, min_name_len: i64) -> usize {
    if !event.is_message() {
        return 0;
    }
    let (body, formatted) = (event.body().unwrap_or(""), event.formatted_body().unwrap_or(""));
    let in_text = |needle: &str| body.contains(needle) || formatted.contains(needle);
    let explicit: BTreeSet<&str> =
        event.mentioned_user_ids().into_iter().filter(|id| room.members.contains_key(*id)).collect();
    let by_id = room.members.keys().filter(|id| in_text(id)).count();
    let names: BTreeSet<&str> = room
        .display_names()
        .map(|(_, name)| name)
        .filter(|name| i64::try_from(name.len()).unwrap_or(i64::MAX) >= min_name_len && in_text(name))
        .collect();
    explicit.len() + by_id + names.len()
}

impl Filter for Mentions {
    fn id(&self) -> FilterId {
        FilterId::Mentions
    }

    fn enabled(&self, cx: &FilterContext<'_>) -> bool {
        cx.config.mention_filter_max_mentions > 0
    }

    fn check<'a>(&'a self, cx: &'a FilterContext<'a>) -> BoxFuture<'a, Result<Outcome, FilterError>> {
        let max = cx.config.mention_filter_max_mentions;
        let count = count_mentions(cx.event, cx.room, cx.config.mention_filter_min_plaintext_length);
        ready(Ok(if count as i64 >= max {
            Outcome::prohibited(&[harms::SPAM_FLOODING], format!("{count} mentions >= limit {max}"))
        } else {
            Outcome::neutral(format!("{count} mentions < limit {max}"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::count_mentions;
    use crate::room::Member;
    use crate::testing::*;
    use crate::{Event, FilterId, RoomSnapshot, harms};

    fn room(members: &[(&str, &str)]) -> RoomSnapshot {
        let mut room = RoomSnapshot::new("!room:example.org", "12");
        for (id, name) in members {
            room.members.insert((*id).to_owned(), Member { display_name: Some((*name).to_owned()) });
        }
        room
    }

    fn msg(room: &RoomSnapshot, body: &str, formatted: Option<&str>) -> Event {
        let ids: Vec<&String> = room.members.keys().collect();
        let mut content = json!({"msgtype": "m.text", "body": body, "m.mentions": {"user_ids": ids}});
        if let Some(f) = formatted {
            content["formatted_body"] = json!(f);
        }
        Event::from_json(event("m.room.message", "@sender:example.com", content)).unwrap()
    }

    /// §8.4 #24 (counts), with `m.mentions` naming every member as in policyserv's test.
    #[test]
    fn counting_vectors() {
        let bob = room(&[("@b:example.com", "bob")]);
        let abc =
            room(&[("@a:example.com", "alice"), ("@b:example.com", "bob"), ("@c:example.com", "charlie")]);
        let cases: &[(&RoomSnapshot, &str, Option<&str>, usize)] = &[
            (&bob, "Hi bob", None, 1),
            (&bob, "Hi @b:example.com", Some("Hi @b:example.com"), 2),
            (&abc, "Hi alice bob charlie", None, 5),
            (&abc, "Hi alice", Some("Hi bob"), 4),
            (&abc, "Hi @a:example.com @b:example.com @c:example.com ", None, 6),
        ];
        for (room, body, formatted, want) in cases {
            assert_eq!(count_mentions(&msg(room, body, *formatted), room, 5), *want, "{body}");
        }
        let non_message = Event::from_json(event("m.reaction", "@s:example.com", json!({}))).unwrap();
        assert_eq!(count_mentions(&non_message, &abc, 5), 0);
        // Short display names never count as plain-text mentions.
        let letters: Vec<(String, String)> =
            ('a'..='z').map(|c| (format!("@{c}:example.com"), c.to_string())).collect();
        let letters: Vec<(&str, &str)> = letters.iter().map(|(i, n)| (i.as_str(), n.as_str())).collect();
        let many = room(&letters);
        let plain = Event::from_json(message(
            "@s:example.com",
            "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        ))
        .unwrap();
        assert_eq!(count_mentions(&plain, &many, 5), 0);
        // Long names count once each.
        let long = room(&[
            ("@1:example.com", "abcdef"),
            ("@2:example.com", "ghijkl"),
            ("@3:example.com", "mnopqr"),
            ("@4:example.com", "stuvwx"),
            ("@5:example.com", "yz"),
        ]);
        let plain = Event::from_json(message("@s:example.com", "abcdef ghijkl mnopqr stuvwx yz")).unwrap();
        assert_eq!(count_mentions(&plain, &long, 5), 4);
    }

    /// §8.4 #24 (verdicts at max 3).
    #[test]
    fn verdict_vectors() {
        let mut h =
            Harness::new(json!({"mention_filter_max_mentions": 3, "mention_filter_min_plaintext_length": 5}));
        h.room =
            room(&[("@a:example.com", "alice"), ("@b:example.com", "bob"), ("@c:example.com", "charlie")]);
        let spam =
            h.run(FilterId::Mentions, msg(&h.room, "Hi alice bob charlie", None).json().clone()).unwrap();
        assert_eq!(spam.harms, vec![harms::SPAM_FLOODING]);
        assert_eq!(spam.reason, "5 mentions >= limit 3");
        h.room = room(&[("@b:example.com", "bob")]);
        assert_eq!(h.judge(FilterId::Mentions, msg(&h.room, "Hi bob", None).json().clone()), neutral());
    }
}
