//! The peer-wire decoders never panic on any stream, never consume more than they are
//! given, and every message they accept (bar unknown ids) re-encodes to the same bytes.
use hivebt::wire::peer::{self, Handshake, Message};

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    let _ = Handshake::decode(data);
    let max = peer::max_frame_for(1000);
    let mut rest = data;
    while let Ok(Some((msg, used))) = peer::decode(rest, max) {
        assert!(used >= 4 && used <= rest.len());
        if !matches!(msg, Message::Unknown { .. }) {
            let mut out = Vec::new();
            peer::encode(&msg, &mut out);
            assert_eq!(out, &rest[..used]);
        }
        rest = &rest[used..];
    }
}
