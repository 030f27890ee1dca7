//! lavaplayer track messages: whatever decodes must re-encode to the same bytes and decode again
//! to the same value, both as raw message bytes and as base64 text.

#![no_main]

use lavalink::codec::{decode_message, decode_track, encode_decoded, encode_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input as a raw message.
    if let Ok(track) = decode_message(data) {
        let bytes = encode_message(&track).expect("a decoded message re-encodes");
        assert_eq!(bytes, data, "decode then encode changed the bytes");
        assert_eq!(decode_message(&bytes).as_ref(), Ok(&track));
    }

    // The input as base64 text (what the `encoded` field of a track holds).
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(track) = decode_track(text)
    {
        let encoded = encode_decoded(&track).expect("a decoded track re-encodes");
        assert_eq!(
            encoded.trim_end_matches('='),
            text.trim_end_matches('='),
            "decode then encode changed the base64"
        );
        assert_eq!(decode_track(&encoded).as_ref(), Ok(&track));
    }
});
