//! BEP 11 peer exchange (`ut_pex`): the bencoded dictionary an extended message under
//! the peer's `ut_pex` id carries, listing the peers the sender connected to
//! (`added`, `added.f`) and those it lost (`dropped`) since its last message, with the
//! IPv6 lists beside (`added6`, `added6.f`, `dropped6`).
//!
//! Depends on `wire::{bencode, compact}`. Strict and bounded, because every connected
//! peer may send one: a payload past [`MAX_PAYLOAD`] bytes is refused before it is
//! parsed; it must be one bencoded dictionary; each known key must be a string of
//! whole compact entries, and a flags string must have one byte per added peer (a
//! missing one means no flags). Of each list only the first [`MAX_PEERS`] entries are
//! kept (libtorrent sends at most 100 added in all); the rest are counted in
//! [`Decoded::ignored`] and never allocated. Unknown keys are ignored (BEP 10).

use std::fmt;
use std::net::SocketAddr;

use crate::wire::bencode::{self, DictBuilder, Node};
use crate::wire::compact;

/// Most entries kept of each list of one message (`added`, `dropped`, per family).
pub const MAX_PEERS: usize = 50;

/// Largest payload accepted, in bytes. A full libtorrent message (100 added and as
/// many dropped, all IPv6) is under 6 KiB.
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// What the sender knows of an added peer (BEP 11 `added.f`, one byte per peer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// 0x01: it prefers encrypted connections (MSE).
    pub const ENCRYPTION: PexFlags = PexFlags(0x01);
    /// 0x02: it is a seed (or uploads only).
    pub const SEED: PexFlags = PexFlags(0x02);
    /// 0x04: it supports uTP.
    pub const UTP: PexFlags = PexFlags(0x04);
    /// 0x08: it supports the holepunch extension.
    pub const HOLEPUNCH: PexFlags = PexFlags(0x08);
    /// 0x10: it is reachable: the sender connected to it.
    pub const CONNECTABLE: PexFlags = PexFlags(0x10);

    /// Whether every bit of `other` is set.
    pub fn has(self, other: PexFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with `other`'s bits set too when `on`.
    pub fn with(self, other: PexFlags, on: bool) -> PexFlags {
        if on { PexFlags(self.0 | other.0) } else { self }
    }
}

/// One peer exchange message; each list holds both families, IPv4 first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers connected since the last message, with their flags.
    pub added: Vec<(SocketAddr, PexFlags)>,
    /// Peers disconnected since the last message.
    pub dropped: Vec<SocketAddr>,
}

/// A decoded message and how many entries past [`MAX_PEERS`] were left out of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The message, each list cut at [`MAX_PEERS`] per family.
    pub msg: PexMessage,
    /// Entries left out, over all lists.
    pub ignored: usize,
}

/// Why a peer exchange payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PexError {
    /// Longer than [`MAX_PAYLOAD`].
    TooLarge {
        /// The payload's length.
        len: usize,
    },
    /// Not valid bencode, or bytes after the value.
    Bencode(bencode::Error),
    /// Valid bencode but not a dictionary.
    NotADict {
        /// What it is instead.
        found: &'static str,
    },
    /// A known key whose value is not a byte string.
    NotAString {
        /// The key.
        key: &'static str,
        /// What it is instead.
        found: &'static str,
    },
    /// A peer list whose length is not a whole number of entries.
    PartialEntry {
        /// The key.
        key: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A flags string whose length is not the number of peers it goes with.
    FlagsMismatch {
        /// The flags key.
        key: &'static str,
        /// Peers in the list.
        peers: usize,
        /// Flag bytes.
        flags: usize,
    },
}

impl fmt::Display for PexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PexError::TooLarge { len } => {
                write!(f, "ut_pex message of {len} bytes (at most {MAX_PAYLOAD})")
            }
            PexError::Bencode(e) => write!(f, "ut_pex message: {e}"),
            PexError::NotADict { found } => {
                write!(f, "ut_pex message is a {found}, not a dictionary")
            }
            PexError::NotAString { key, found } => {
                write!(f, "ut_pex `{key}` is a {found}, not a string")
            }
            PexError::PartialEntry { key, len } => {
                write!(f, "ut_pex `{key}` of {len} bytes is not whole entries")
            }
            PexError::FlagsMismatch { key, peers, flags } => {
                write!(f, "ut_pex `{key}` has {flags} bytes for {peers} peers")
            }
        }
    }
}

impl std::error::Error for PexError {}

/// The keys of one family: added, its flags, dropped.
struct FamilyKeys {
    added: &'static str,
    flags: &'static str,
    dropped: &'static str,
    ipv6: bool,
}

const FAMILIES: [FamilyKeys; 2] = [
    FamilyKeys {
        added: "added",
        flags: "added.f",
        dropped: "dropped",
        ipv6: false,
    },
    FamilyKeys {
        added: "added6",
        flags: "added6.f",
        dropped: "dropped6",
        ipv6: true,
    },
];

impl PexMessage {
    /// Whether it lists no peer at all.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty()
    }

    /// The bencoded dictionary. Every key is written, empty lists too, as libtorrent
    /// does. The caller keeps each list within [`MAX_PEERS`] per family.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = DictBuilder::new();
        for fam in &FAMILIES {
            let (mut added, mut flags, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
            for (addr, f) in self.added.iter().filter(|(a, _)| a.is_ipv6() == fam.ipv6) {
                compact::encode_one(addr, &mut added);
                flags.push(f.0);
            }
            compact::encode(&self.dropped, fam.ipv6, &mut dropped);
            debug_assert!(flags.len() <= MAX_PEERS);
            debug_assert!(dropped.len() <= MAX_PEERS * compact::entry_len(fam.ipv6));
            d.bytes(fam.added.as_bytes(), &added);
            d.bytes(fam.flags.as_bytes(), &flags);
            d.bytes(fam.dropped.as_bytes(), &dropped);
        }
        d.finish()
    }

    /// Decodes the payload of an extended message under our `ut_pex` id (after the id
    /// byte). See the module docs for what is refused and what is cut.
    pub fn decode(payload: &[u8]) -> Result<Decoded, PexError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(PexError::TooLarge { len: payload.len() });
        }
        let (root, _warnings) = bencode::decode(payload).map_err(PexError::Bencode)?;
        if root.as_dict().is_none() {
            return Err(PexError::NotADict {
                found: root.type_name(),
            });
        }
        let mut out = Decoded::default();
        for fam in &FAMILIES {
            let entry = compact::entry_len(fam.ipv6);
            let added = list(&root, fam.added, entry)?;
            let peers = added.len() / entry;
            let flags = match string(&root, fam.flags)? {
                Some(f) if f.len() != peers => {
                    return Err(PexError::FlagsMismatch {
                        key: fam.flags,
                        peers,
                        flags: f.len(),
                    });
                }
                Some(f) => f,
                None => &[],
            };
            let kept = peers.min(MAX_PEERS);
            let addrs = compact::decode(&added[..kept * entry], fam.ipv6).unwrap_or_default();
            out.msg.added.extend(
                addrs
                    .into_iter()
                    .enumerate()
                    .map(|(i, a)| (a, PexFlags(flags.get(i).copied().unwrap_or(0)))),
            );
            let dropped = list(&root, fam.dropped, entry)?;
            let dropped_peers = dropped.len() / entry;
            let dropped_kept = dropped_peers.min(MAX_PEERS);
            out.msg.dropped.extend(
                compact::decode(&dropped[..dropped_kept * entry], fam.ipv6).unwrap_or_default(),
            );
            out.ignored += (peers - kept) + (dropped_peers - dropped_kept);
        }
        Ok(out)
    }
}

/// The string under `key`, if present; another type is refused.
fn string<'a>(root: &Node<'a>, key: &'static str) -> Result<Option<&'a [u8]>, PexError> {
    match root.get(key.as_bytes()) {
        None => Ok(None),
        Some(n) => n.as_bytes().map(Some).ok_or(PexError::NotAString {
            key,
            found: n.type_name(),
        }),
    }
}

/// The compact list under `key` (empty when absent), checked to be whole entries.
fn list<'a>(root: &Node<'a>, key: &'static str, entry: usize) -> Result<&'a [u8], PexError> {
    let l = string(root, key)?.unwrap_or_default();
    if l.len() % entry != 0 {
        return Err(PexError::PartialEntry { key, len: l.len() });
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bencode::ErrorKind;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn known_vector_round_trips() {
        let msg = PexMessage {
            added: vec![
                (a("192.168.24.52:2001"), PexFlags::SEED),
                (a("10.0.0.1:6881"), PexFlags(0x12)),
                (a("[2001:db8::1]:6881"), PexFlags::CONNECTABLE),
            ],
            dropped: vec![a("1.2.3.4:258"), a("[::2]:1")],
        };
        let bytes = msg.encode();
        let mut want = b"d5:added12:\xc0\xa8\x18\x34\x07\xd1\x0a\x00\x00\x01\x1a\xe1\
                         7:added.f2:\x02\x12\
                         6:added618:\x20\x01\x0d\xb8"
            .to_vec();
        want.extend([0; 11]);
        want.extend(b"\x01\x1a\xe18:added6.f1:\x107:dropped6:\x01\x02\x03\x04\x01\x02");
        want.extend(b"8:dropped618:");
        want.extend([0; 15]);
        want.extend(b"\x02\x00\x01e");
        assert_eq!(bytes, want);
        assert_eq!(
            PexMessage::decode(&bytes),
            Ok(Decoded {
                msg: msg.clone(),
                ignored: 0
            })
        );
        let empty = PexMessage::default();
        assert!(empty.is_empty());
        assert_eq!(
            empty.encode(),
            b"d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e"
        );
    }

    /// What libtorrent 2.0 and Transmission send: IPv4 only, with or without the
    /// IPv6 keys, unknown keys beside.
    #[test]
    fn client_shaped_payloads() {
        let lt = b"d5:added6:\x7f\x00\x00\x01\x1a\xe17:added.f1:\x106:added60:\
                   8:added6.f0:7:dropped0:8:dropped60:e";
        let d = PexMessage::decode(lt).unwrap();
        assert_eq!(d.msg.added, [(a("127.0.0.1:6881"), PexFlags::CONNECTABLE)]);
        assert!(d.msg.dropped.is_empty());
        // No flags at all, and a key this codec does not know.
        let bare = b"d5:added6:\x01\x02\x03\x04\x00\x501:xi7e7:dropped6:\x05\x06\x07\x08\x00\x51e";
        let d = PexMessage::decode(bare).unwrap();
        assert_eq!(d.msg.added, [(a("1.2.3.4:80"), PexFlags::default())]);
        assert_eq!(d.msg.dropped, [a("5.6.7.8:81")]);
        assert_eq!(PexMessage::decode(b"de").unwrap(), Decoded::default());
    }

    #[test]
    fn long_lists_are_cut_not_refused() {
        let many: Vec<(SocketAddr, PexFlags)> = (0..MAX_PEERS as u16 + 7)
            .map(|p| (SocketAddr::from(([10, 0, 0, 1], 1000 + p)), PexFlags::SEED))
            .collect();
        // Built by hand: the encoder refuses to write past the bound (debug).
        let mut added = Vec::new();
        for (addr, _) in &many {
            compact::encode_one(addr, &mut added);
        }
        let mut d = DictBuilder::new();
        d.bytes(b"added", &added)
            .bytes(b"added.f", &vec![2; many.len()])
            .bytes(b"dropped6", &vec![9; 18 * (MAX_PEERS + 3)]);
        let got = PexMessage::decode(&d.finish()).unwrap();
        assert_eq!(got.msg.added, many[..MAX_PEERS]);
        assert_eq!(got.msg.dropped.len(), MAX_PEERS);
        assert_eq!(got.ignored, 7 + 3);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let big = vec![b'x'; MAX_PAYLOAD + 1];
        assert_eq!(
            PexMessage::decode(&big),
            Err(PexError::TooLarge {
                len: MAX_PAYLOAD + 1
            })
        );
        assert!(matches!(
            PexMessage::decode(b"d5:added6:abcdef"),
            Err(PexError::Bencode(bencode::Error {
                kind: ErrorKind::UnexpectedEnd,
                ..
            }))
        ));
        for (payload, want) in [
            (&b"le"[..], PexError::NotADict { found: "list" }),
            (
                b"d5:addedi1ee",
                PexError::NotAString {
                    key: "added",
                    found: "integer",
                },
            ),
            (
                b"d8:added6.fle5:added0:e",
                PexError::NotAString {
                    key: "added6.f",
                    found: "list",
                },
            ),
            (
                b"d5:added5:abcdee",
                PexError::PartialEntry {
                    key: "added",
                    len: 5,
                },
            ),
            (
                b"d8:dropped66:abcdefe",
                PexError::PartialEntry {
                    key: "dropped6",
                    len: 6,
                },
            ),
            (
                b"d5:added6:abcdef7:added.f2:\x01\x02e",
                PexError::FlagsMismatch {
                    key: "added.f",
                    peers: 1,
                    flags: 2,
                },
            ),
        ] {
            assert_eq!(PexMessage::decode(payload), Err(want), "{payload:?}");
        }
        assert_eq!(
            PexError::FlagsMismatch {
                key: "added.f",
                peers: 1,
                flags: 2
            }
            .to_string(),
            "ut_pex `added.f` has 2 bytes for 1 peers"
        );
    }

    #[test]
    fn mutations_never_panic() {
        let base = PexMessage {
            added: vec![
                (a("1.2.3.4:5"), PexFlags::SEED),
                (a("[::1]:2"), PexFlags(0)),
            ],
            dropped: vec![a("9.9.9.9:9")],
        }
        .encode();
        let mut buf = base.clone();
        for i in 0..base.len() {
            for b in [b'0', b'6', b'9', b'e', b'i', b'l', b'd', b':', 0xff] {
                buf[i] = b;
                if let Ok(d) = PexMessage::decode(&buf) {
                    assert_eq!(PexMessage::decode(&d.msg.encode()).unwrap().msg, d.msg);
                }
                buf[i] = base[i];
            }
        }
    }
}
