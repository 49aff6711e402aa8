//! BEP 15 packets never make the decoders panic; errors split into "answer" and
//! "drop" consistently with the header; and every packet that decodes, request or
//! response of either address family, survives an encode/decode round trip.
use hivebt::wire::udp_tracker::{UdpRequest, UdpResponse};

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    match UdpRequest::decode(data) {
        Ok(req) => {
            let mut out = Vec::new();
            req.encode(&mut out);
            assert!(out.len() <= data.len());
            assert_eq!(UdpRequest::decode(&out), Ok(req));
        }
        Err(e) => {
            // Only a header that could not be read, or a connect without the
            // protocol id, is dropped.
            if !e.is_answerable() {
                assert!(data.len() < 16 || data[8..12] == [0, 0, 0, 0]);
            }
        }
    }
    for ipv6 in [false, true] {
        match UdpResponse::decode(data, ipv6) {
            Ok(resp) => {
                let mut out = Vec::new();
                resp.encode(&mut out, ipv6);
                assert_eq!(UdpResponse::decode(&out, ipv6), Ok(resp));
            }
            Err(e) => assert_eq!(e.transaction_id.is_some(), data.len() >= 8),
        }
    }
}
