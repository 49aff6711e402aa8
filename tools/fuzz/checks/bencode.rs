//! Bencode decoding never panics, and every value it accepts spans exactly its bytes.
use hivebt::wire::bencode;

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok((node, used, _)) = bencode::decode_prefix(data) {
        assert_eq!(node.start, 0);
        assert_eq!(node.end, used);
        assert!(used <= data.len());
    }
    let _ = bencode::decode(data);
}
