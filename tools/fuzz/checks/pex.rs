//! BEP 11 peer exchange messages never make the decoder panic, what decodes is
//! bounded, and it survives an encode/decode round trip.
use hivebt::wire::pex::{MAX_PEERS, PexMessage};

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok(d) = PexMessage::decode(data) {
        let v6 = |a: &std::net::SocketAddr| a.is_ipv6();
        assert!(d.msg.added.iter().filter(|(a, _)| v6(a)).count() <= MAX_PEERS);
        assert!(d.msg.added.iter().filter(|(a, _)| !v6(a)).count() <= MAX_PEERS);
        assert!(d.msg.dropped.iter().filter(|a| v6(a)).count() <= MAX_PEERS);
        assert!(d.msg.dropped.iter().filter(|a| !v6(a)).count() <= MAX_PEERS);
        let again = PexMessage::decode(&d.msg.encode()).expect("re-encoded message decodes");
        assert_eq!(again.msg, d.msg);
        assert_eq!(again.ignored, 0);
    }
}
