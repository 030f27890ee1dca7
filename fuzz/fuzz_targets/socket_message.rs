//! Lavalink socket messages: whatever `IncomingMessage::from_json` accepts must serialize with
//! `to_json` into text that parses again to the same op (and, where no floats are involved, to
//! the same value).

#![no_main]

use lavalink::model::{Event, IncomingMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = IncomingMessage::from_json(text) else {
        return;
    };
    let json = message.to_json();
    let again = IncomingMessage::from_json(&json)
        .unwrap_or_else(|error| panic!("to_json wrote {json:?}, which does not parse: {error}"));
    assert_eq!(again.op(), message.op(), "op changed through {json:?}");
    match (&message, &again) {
        (IncomingMessage::Ready(a), IncomingMessage::Ready(b)) => assert_eq!(a, b),
        (IncomingMessage::PlayerUpdate(a), IncomingMessage::PlayerUpdate(b)) => assert_eq!(a, b),
        (IncomingMessage::Event(a), IncomingMessage::Event(b)) => {
            assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "event type changed through {json:?}"
            );
            if let (Event::WebSocketClosed(a), Event::WebSocketClosed(b)) = (a, b) {
                assert_eq!(a, b);
            }
        }
        _ => {}
    }
});
