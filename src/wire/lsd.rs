//! Local service discovery (BEP 14): the `BT-SEARCH` announce multicast on a LAN.
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: 239.192.152.143:6771\r\n
//! Port: 6881\r\n
//! Infohash: 0123456789abcdef0123456789abcdef01234567\r\n
//! cookie: 5f3a9c01\r\n
//! \r\n
//! \r\n
//! ```
//!
//! Several `Infohash` lines may share one message. The cookie lets a client ignore its
//! own announces, which multicast loops back to it. The decoder is strict and bounded:
//! at most [`MAX_DATAGRAM`] bytes and [`MAX_INFOHASHES`] info-hashes, header names
//! matched without regard to case (clients differ), a `Port` of 1..=65535, hex
//! info-hashes of exactly 40 digits; anything else is an error naming what was wrong.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::types::InfoHash;

/// The BEP 14 IPv4 multicast group and port.
pub const GROUP_V4: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771);

/// Longest announce accepted (a datagram on an Ethernet LAN).
pub const MAX_DATAGRAM: usize = 1400;

/// Most info-hashes one announce may carry (in both directions).
pub const MAX_INFOHASHES: usize = 16;

/// A decoded announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The sender's peer port.
    pub port: u16,
    /// The torrents it has (at least one).
    pub info_hashes: Vec<InfoHash>,
    /// Its cookie, if it sent one.
    pub cookie: Option<String>,
}

/// Why an announce was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed LSD announce: {}", self.0)
    }
}

/// Encodes an announce of `info_hashes` (at most [`MAX_INFOHASHES`]; the rest are
/// left out) for peer port `port`, with `cookie`.
pub fn encode(port: u16, info_hashes: &[InfoHash], cookie: &str) -> Vec<u8> {
    let mut out = format!("BT-SEARCH * HTTP/1.1\r\nHost: {GROUP_V4}\r\nPort: {port}\r\n");
    for h in info_hashes.iter().take(MAX_INFOHASHES) {
        out.push_str("Infohash: ");
        out.push_str(&h.to_hex());
        out.push_str("\r\n");
    }
    out.push_str("cookie: ");
    out.push_str(cookie);
    out.push_str("\r\n\r\n\r\n");
    out.into_bytes()
}

/// Decodes one announce datagram.
pub fn decode(datagram: &[u8]) -> Result<Announce, Malformed> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Malformed("longer than 1400 bytes"));
    }
    let text = std::str::from_utf8(datagram).map_err(|_| Malformed("not text"))?;
    let mut lines = text.split("\r\n");
    if lines.next() != Some("BT-SEARCH * HTTP/1.1") {
        return Err(Malformed("not a BT-SEARCH request line"));
    }
    let (mut port, mut info_hashes, mut cookie) = (None, Vec::new(), None);
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(Malformed("a header line without ':'"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("port") {
            let p: u16 = value
                .parse()
                .map_err(|_| Malformed("a Port that is no port number"))?;
            if p == 0 || port.replace(p).is_some() {
                return Err(Malformed("Port 0 or more than one Port"));
            }
        } else if name.eq_ignore_ascii_case("infohash") {
            if value.len() != 40 {
                return Err(Malformed("an Infohash that is not 40 hex digits"));
            }
            let h = InfoHash::from_hex(value).ok_or(Malformed("an Infohash that is not hex"))?;
            if info_hashes.len() == MAX_INFOHASHES {
                return Err(Malformed("more than 16 Infohash lines"));
            }
            if !info_hashes.contains(&h) {
                info_hashes.push(h);
            }
        } else if name.eq_ignore_ascii_case("cookie") {
            cookie = Some(value.chars().take(64).collect());
        }
        // Host and anything else: ignored, as HTTP headers are.
    }
    let port = port.ok_or(Malformed("no Port"))?;
    if info_hashes.is_empty() {
        return Err(Malformed("no Infohash"));
    }
    Ok(Announce {
        port,
        info_hashes,
        cookie,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> InfoHash {
        InfoHash([b; 20])
    }

    #[test]
    fn an_announce_round_trips_and_matches_the_bep() {
        let bytes = encode(6881, &[hash(0x01), hash(0xab)], "c00k1e");
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n\
             Infohash: 0101010101010101010101010101010101010101\r\n\
             Infohash: abababababababababababababababababababab\r\n\
             cookie: c00k1e\r\n\r\n\r\n"
        );
        assert_eq!(
            decode(&bytes),
            Ok(Announce {
                port: 6881,
                info_hashes: vec![hash(0x01), hash(0xab)],
                cookie: Some("c00k1e".into()),
            })
        );
    }

    #[test]
    fn libtorrents_form_is_read_header_names_in_any_case_and_no_cookie() {
        let lt = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\n\
                   Infohash: ABABABABABABABABABABABABABABABABABABABAB\r\n\r\n\r\n";
        let a = decode(lt).unwrap();
        assert_eq!(
            (a.port, a.info_hashes, a.cookie),
            (51413, vec![hash(0xab)], None)
        );
        let lower = b"BT-SEARCH * HTTP/1.1\r\nport: 1\r\ninfohash: 0101010101010101010101010101010101010101\r\n\r\n";
        assert_eq!(decode(lower).unwrap().port, 1);
    }

    #[test]
    fn at_most_sixteen_hashes_go_out() {
        let many: Vec<InfoHash> = (0..40).map(hash).collect();
        let a = decode(&encode(1, &many, "x")).unwrap();
        assert_eq!(a.info_hashes.len(), MAX_INFOHASHES);
    }

    #[test]
    fn malformed_announces_are_rejected_with_the_reason() {
        let ok_hash = "Infohash: 0101010101010101010101010101010101010101\r\n";
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "request line"),
            (vec![0xff, 0xfe], "not text"),
            (format!("BT-SEARCH * HTTP/1.1\r\n{ok_hash}\r\n").into(), "no Port"),
            (b"BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n\r\n".to_vec(), "no Infohash"),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n{ok_hash}").into(), "Port 0"),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\n{ok_hash}").into(), "no port"),
            (format!("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nPort: 2\r\n{ok_hash}").into(), "more than one"),
            (b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: 0101\r\n".to_vec(), "40 hex"),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: zz01010101010101010101010101010101010101\r\n"
                    .to_vec(),
                "not hex",
            ),
            (b"BT-SEARCH * HTTP/1.1\r\nPort 1\r\n".to_vec(), "without ':'"),
            (vec![b'a'; MAX_DATAGRAM + 1], "1400"),
        ];
        for (bytes, why) in cases {
            let e = decode(&bytes).expect_err(why);
            assert!(e.to_string().contains(why), "{e} for {why}");
        }
        let mut seventeen = String::from("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n");
        for i in 0..17u8 {
            seventeen.push_str(&format!("Infohash: {}\r\n", hash(i).to_hex()));
        }
        assert!(decode(seventeen.as_bytes()).is_err());
    }
}
