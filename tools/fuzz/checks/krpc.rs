//! KRPC decoding never panics, and a message it accepts encodes to bytes that decode
//! to the same message.
use hivebt::wire::krpc;

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok(m) = krpc::decode(data) {
        assert_eq!(krpc::decode(&m.encode()).as_ref(), Ok(&m));
    }
}
