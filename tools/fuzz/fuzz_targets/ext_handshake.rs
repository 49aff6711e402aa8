//! BEP 10 extension handshakes never make the decoder panic, and what decodes survives
//! an encode/decode round trip.
#![no_main]
use hivebt::wire::ext::ExtHandshake;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ExtHandshake::decode(data) {
        let again = ExtHandshake::decode(&h.encode()).expect("re-encoded handshake decodes");
        assert_eq!(again, h);
    }
});
