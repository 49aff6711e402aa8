//! Bencode decoding never panics, and every value it accepts spans exactly its bytes.
#![no_main]
use hivebt::wire::bencode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((node, used, _)) = bencode::decode_prefix(data) {
        assert_eq!(node.start, 0);
        assert_eq!(node.end, used);
        assert!(used <= data.len());
    }
    let _ = bencode::decode(data);
});
