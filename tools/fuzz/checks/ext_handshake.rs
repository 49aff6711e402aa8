//! BEP 10 extension handshakes never make the decoder panic, and what decodes survives
//! an encode/decode round trip.
use hivebt::wire::ext::ExtHandshake;

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok(h) = ExtHandshake::decode(data) {
        let again = ExtHandshake::decode(&h.encode()).expect("re-encoded handshake decodes");
        assert_eq!(again, h);
    }
}
