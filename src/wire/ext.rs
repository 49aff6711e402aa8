//! The BEP 10 extension handshake: the bencoded dictionary carried by the `extended`
//! message with extended id 0, which names the extensions a peer supports and the ids
//! it wants them sent under, plus a few facts about the peer.
//!
//! Depends on `wire::bencode`. The payload must be exactly one bencoded dictionary;
//! anything else is refused. Inside it, decoding is lenient the way BEP 10 asks
//! ("unknown keys should be ignored"): unknown keys, optional fields of the wrong type
//! or out of range, and `m` entries that are not a string naming an id in 0..=255 are
//! all skipped rather than refused, because real clients add keys freely and a peer
//! should not be dropped over a field hivebt does not need.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::bencode::{self, DictBuilder, Node};

/// The extended message id of the extension handshake itself (BEP 10).
pub const HANDSHAKE_ID: u8 = 0;

/// An extension handshake, with the fields hivebt uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// `m`: extension name to the extended message id the sender wants it sent
    /// under. An id of 0 means the sender has turned that extension off (it only
    /// matters in a repeated handshake); see [`ExtHandshake::extension_id`].
    pub m: BTreeMap<String, u8>,
    /// `v`: the client's name and version, for display only; bytes that are not
    /// UTF-8 are replaced.
    pub v: Option<String>,
    /// `reqq`: how many outstanding requests the sender queues before dropping them.
    pub reqq: Option<u32>,
    /// `p`: the sender's listen port, so that an incoming connection's peer can be
    /// dialled back later. A port of 0 is dropped.
    pub p: Option<u16>,
    /// `yourip`: the address the sender sees us at, 4 or 16 bytes on the wire. An
    /// IPv4-mapped IPv6 address is kept as IPv6, as sent.
    pub yourip: Option<IpAddr>,
    /// `metadata_size`: the size of the info dictionary in bytes (BEP 9). Whether it
    /// is plausible is for the metadata exchange to judge.
    pub metadata_size: Option<u64>,
}

/// Why an extension handshake payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtError {
    /// The payload is not valid bencode, or has bytes after its value.
    Bencode(bencode::Error),
    /// The payload is valid bencode but not a dictionary.
    NotADict {
        /// What it is instead: "integer", "string" or "list".
        found: &'static str,
    },
}

impl fmt::Display for ExtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtError::Bencode(e) => write!(f, "extension handshake: {e}"),
            ExtError::NotADict { found } => {
                write!(f, "extension handshake is a {found}, not a dictionary")
            }
        }
    }
}

impl std::error::Error for ExtError {}

impl ExtHandshake {
    /// The id to send extension `name` under, if the peer supports it and has not
    /// turned it off (an id of 0).
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.m.get(name).copied().filter(|&id| id != 0)
    }

    /// The bencoded dictionary, keys in order. `m` is always written, empty or not,
    /// since it is the point of the message; absent fields are left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = DictBuilder::new();
        for (name, &id) in &self.m {
            m.int(name.as_bytes(), i64::from(id));
        }
        let mut d = DictBuilder::new();
        d.raw(b"m", m.finish());
        if let Some(v) = &self.v {
            d.bytes(b"v", v.as_bytes());
        }
        if let Some(reqq) = self.reqq {
            d.int(b"reqq", i64::from(reqq));
        }
        if let Some(p) = self.p {
            d.int(b"p", i64::from(p));
        }
        match self.yourip {
            Some(IpAddr::V4(ip)) => d.bytes(b"yourip", &ip.octets()),
            Some(IpAddr::V6(ip)) => d.bytes(b"yourip", &ip.octets()),
            None => &mut d,
        };
        if let Some(size) = self.metadata_size {
            // Sizes past i64::MAX cannot be bencoded; no real info dictionary is near.
            d.int(b"metadata_size", i64::try_from(size).unwrap_or(i64::MAX));
        }
        d.finish()
    }

    /// Decodes the payload of an `extended` message with id 0 (after that id byte).
    pub fn decode(payload: &[u8]) -> Result<ExtHandshake, ExtError> {
        // Unsorted keys are harmless here: the dictionary is read, never hashed.
        let (root, _warnings) = bencode::decode(payload).map_err(ExtError::Bencode)?;
        if root.as_dict().is_none() {
            return Err(ExtError::NotADict {
                found: root.type_name(),
            });
        }
        let int_in = |key: &[u8]| root.get(key).and_then(Node::as_int);
        Ok(ExtHandshake {
            m: root.get(b"m").map(decode_m).unwrap_or_default(),
            v: root
                .get(b"v")
                .and_then(Node::as_bytes)
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            reqq: int_in(b"reqq").and_then(|n| u32::try_from(n).ok()),
            p: int_in(b"p")
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&p| p != 0),
            yourip: root
                .get(b"yourip")
                .and_then(Node::as_bytes)
                .and_then(ip_from_bytes),
            metadata_size: int_in(b"metadata_size").and_then(|n| u64::try_from(n).ok()),
        })
    }
}

/// The `m` dictionary's usable entries; a non-dictionary `m` counts as empty.
fn decode_m(node: &Node<'_>) -> BTreeMap<String, u8> {
    node.as_dict()
        .unwrap_or_default()
        .iter()
        .filter_map(|(name, id)| {
            let name = std::str::from_utf8(name).ok()?;
            let id = u8::try_from(id.as_int()?).ok()?;
            Some((name.to_owned(), id))
        })
        .collect()
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(b)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bencode::ErrorKind;

    fn m(entries: &[(&str, u8)]) -> BTreeMap<String, u8> {
        entries.iter().map(|&(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn round_trips() {
        let full = ExtHandshake {
            m: m(&[("ut_metadata", 2), ("ut_pex", 1), ("lt_donthave", 0)]),
            v: Some("hivebt 0.1.0".into()),
            reqq: Some(500),
            p: Some(6881),
            yourip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            metadata_size: Some(31_337),
        };
        let bytes = full.encode();
        assert_eq!(ExtHandshake::decode(&bytes), Ok(full.clone()));
        let v6 = ExtHandshake {
            yourip: Some("2001:db8::1".parse().unwrap()),
            ..full
        };
        assert_eq!(ExtHandshake::decode(&v6.encode()), Ok(v6));
        let empty = ExtHandshake::default();
        assert_eq!(empty.encode(), b"d1:mdee");
        assert_eq!(ExtHandshake::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn encodes_sorted_known_bytes() {
        let hs = ExtHandshake {
            m: m(&[("ut_pex", 1), ("ut_metadata", 2)]),
            v: Some("libtorrent 2.0.8".into()),
            reqq: Some(500),
            p: Some(6881),
            yourip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            metadata_size: Some(88),
        };
        assert_eq!(
            hs.encode(),
            b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei88e1:pi6881e\
              4:reqqi500e1:v16:libtorrent 2.0.86:yourip4:\x7f\x00\x00\x01e"
        );
    }

    #[test]
    fn libtorrent_like_payload() {
        let payload =
            b"d1:md11:ut_metadatai2e6:ut_pexi1ee1:pi6881e4:reqqi500e1:v16:libtorrent 2.0.8e";
        let hs = ExtHandshake::decode(payload).unwrap();
        assert_eq!(hs.m, m(&[("ut_metadata", 2), ("ut_pex", 1)]));
        assert_eq!(hs.extension_id("ut_metadata"), Some(2));
        assert_eq!(hs.extension_id("lt_donthave"), None);
        assert_eq!(hs.p, Some(6881));
        assert_eq!(hs.reqq, Some(500));
        assert_eq!(hs.v.as_deref(), Some("libtorrent 2.0.8"));
        assert_eq!((hs.yourip, hs.metadata_size), (None, None));
        // "libtorrent 2.0.8" is 16 bytes: with a length of 17 the string swallows the
        // dictionary's closing `e`, and the payload is refused, not guessed at.
        let miscounted =
            b"d1:md11:ut_metadatai2e6:ut_pexi1ee1:pi6881e4:reqqi500e1:v17:libtorrent 2.0.8e";
        assert!(matches!(
            ExtHandshake::decode(miscounted),
            Err(ExtError::Bencode(bencode::Error {
                kind: ErrorKind::UnexpectedEnd,
                ..
            }))
        ));
    }

    /// Payloads captured from real clients seeding a 100,000-byte torrent on loopback
    /// (see the peer codec's tests for the whole byte streams).
    #[test]
    fn real_client_payloads() {
        let aria2 = b"d1:md11:ut_metadatai9e6:ut_pexi8ee13:metadata_sizei88e\
                      1:pi51799e1:v12:aria2/1.36.0e";
        let hs = ExtHandshake::decode(aria2).unwrap();
        assert_eq!(hs.m, m(&[("ut_metadata", 9), ("ut_pex", 8)]));
        assert_eq!(
            (hs.metadata_size, hs.p, hs.reqq),
            (Some(88), Some(51799), None)
        );
        assert_eq!(hs.v.as_deref(), Some("aria2/1.36.0"));

        let transmission = b"d1:ei0e1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei88e\
                             1:pi51801e4:reqqi512e11:upload_onlyi1e1:v17:Transmission 3.00e";
        let hs = ExtHandshake::decode(transmission).unwrap();
        assert_eq!(hs.m, m(&[("ut_metadata", 3), ("ut_pex", 1)]));
        assert_eq!(
            (hs.metadata_size, hs.p, hs.reqq),
            (Some(88), Some(51801), Some(512))
        );
        assert_eq!(hs.v.as_deref(), Some("Transmission 3.00"));
    }

    #[test]
    fn wrong_typed_and_out_of_range_fields_are_ignored() {
        let payload = b"d1:mi5e13:metadata_sizei-1e1:pi70000e4:reqq3:abc\
                        1:vi1e6:yourip3:abce";
        assert_eq!(ExtHandshake::decode(payload), Ok(ExtHandshake::default()));
        let payload = b"d1:md1:ai300e1:bi-1e1:c3:xyz1:di0e1:ei7e2:\xff\xfei4ee1:pi0e\
                        4:reqqi4294967296e1:v2:\xff\xfee";
        let hs = ExtHandshake::decode(payload).unwrap();
        assert_eq!(hs.m, m(&[("d", 0), ("e", 7)]));
        assert_eq!(hs.extension_id("d"), None);
        assert_eq!(hs.extension_id("e"), Some(7));
        assert_eq!((hs.p, hs.reqq), (None, None));
        assert_eq!(hs.v.as_deref(), Some("\u{fffd}\u{fffd}"));
        // Unknown keys of any type, in any order, change nothing.
        let payload = b"d1:zli1ee1:md1:xi1ee1:ad1:bi2eee";
        assert_eq!(ExtHandshake::decode(payload).unwrap().m, m(&[("x", 1)]));
    }

    #[test]
    fn non_dictionaries_are_refused() {
        for (payload, found) in [
            (&b"li1ee"[..], "list"),
            (b"i1e", "integer"),
            (b"3:abc", "string"),
        ] {
            assert_eq!(
                ExtHandshake::decode(payload),
                Err(ExtError::NotADict { found }),
                "{payload:?}"
            );
        }
        for bad in [&b""[..], b"d", b"d1:mdee_", b"x", b"d1:mi1e1:mi2ee"] {
            assert!(
                matches!(ExtHandshake::decode(bad), Err(ExtError::Bencode(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            ExtError::NotADict { found: "list" }.to_string(),
            "extension handshake is a list, not a dictionary"
        );
    }

    #[test]
    fn mutations_never_panic() {
        let base = ExtHandshake {
            m: m(&[("ut_metadata", 2), ("ut_pex", 1)]),
            v: Some("x".into()),
            reqq: Some(250),
            p: Some(1),
            yourip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            metadata_size: Some(1),
        }
        .encode();
        bencode::for_each_mutation(&base, |buf| {
            let _ = ExtHandshake::decode(buf);
        });
    }
}
