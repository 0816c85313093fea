//! Renders an event as text for a text classifier (policyserv's `event/renderer.go`), and extracts its HTML.

use crate::Event;

/// The texts to classify: `"<sender> says: <body>"` (+ a rendering of `formatted_body`) for text and notice
/// messages, `"<sender> says: /me <body>"` for emotes, `"<sender> reacted with <key>"` for reactions. Anything else
/// renders to nothing.
pub fn render_for_classifier(event: &Event) -> Vec<String> {
    let sender = event.sender();
    match event.event_type() {
        "m.room.message" => {
            let prefix = match event.msgtype() {
                Some("m.text" | "m.notice") => "",
                Some("m.emote") => "/me ",
                _ => return Vec::new(),
            };
            [event.body(), event.formatted_body()]
                .into_iter()
                .flatten()
                .map(|text| format!("{sender} says: {prefix}{text}"))
                .collect()
        }
        "m.reaction" => event
            .content()
            .get("m.relates_to")
            .and_then(|r| r.get("key"))
            .and_then(serde_json::Value::as_str)
            .filter(|key| !key.is_empty())
            .map(|key| vec![format!("{sender} reacted with {key}")])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `[formatted_body]` for messages with a non-empty one, else nothing.
pub fn html_of(event: &Event) -> Vec<&str> {
    event.formatted_body().filter(|f| event.is_message() && !f.is_empty()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::event;

    fn ev(t: &str, content: serde_json::Value) -> Event {
        Event::from_json(event(t, "@alice:example.org", content)).unwrap()
    }

    /// §8.5 #50–#51.
    #[test]
    fn vectors() {
        let says = "@alice:example.org says: hello world";
        let bold = "@alice:example.org says: <b>hello world</b>";
        let cases = [
            (ev("m.room.message", json!({"msgtype": "m.text", "body": "hello world"})), vec![says]),
            (
                ev(
                    "m.room.message",
                    json!({"msgtype": "m.text", "body": "hello world", "formatted_body": "<b>hello world</b>"}),
                ),
                vec![says, bold],
            ),
            (ev("m.room.message", json!({"msgtype": "m.notice", "body": "hello world"})), vec![says]),
            (
                ev("m.room.message", json!({"msgtype": "m.emote", "body": "waves hello"})),
                vec!["@alice:example.org says: /me waves hello"],
            ),
            (ev("m.room.message", json!({"msgtype": "m.image", "body": "x"})), vec![]),
            (ev("m.room.message", json!({"msgtype": "org.custom", "body": "x"})), vec![]),
            (ev("org.example.unknown", json!({"body": "x"})), vec![]),
            (
                ev("m.reaction", json!({"m.relates_to": {"rel_type": "m.annotation", "key": "💖"}})),
                vec!["@alice:example.org reacted with 💖"],
            ),
        ];
        for (event, want) in cases {
            assert_eq!(render_for_classifier(&event), want, "{:?}", event.json());
        }
        let formatted =
            ev("m.room.message", json!({"msgtype": "m.text", "body": "x", "formatted_body": "<b>x</b>"}));
        assert_eq!(html_of(&formatted), vec!["<b>x</b>"]);
        assert!(html_of(&ev("m.room.message", json!({"body": "x", "formatted_body": ""}))).is_empty());
        assert!(html_of(&ev("m.sticker", json!({"formatted_body": "<b>x</b>"}))).is_empty());
    }
}
