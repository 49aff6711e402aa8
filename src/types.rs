//! Newtypes shared by every layer: info-hashes, peer ids, piece indexes and block
//! references, the block size every request uses, and the generation-checked ids of
//! torrents and connections.
//!
//! Depends on `rng` only (fresh peer ids). Every id and index that crosses a module boundary is a newtype
//! here, never a bare integer or byte array.

use std::fmt;

use crate::rng::Rng;

/// A torrent in the engine: the slot it occupies and the generation that slot was
/// filled in. A worker completion or a command for a removed torrent names an old
/// generation and is ignored, never applied to the torrent that reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId {
    /// Slot in the engine's torrent slab.
    pub slot: u32,
    /// Generation of that slot.
    pub generation: u32,
}

/// A peer connection: its slot and the generation that slot was filled in, so a list
/// that still names a closed connection never reaches the one that reuses its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// Slot in the connection slab.
    pub slot: u32,
    /// Generation of that slot.
    pub generation: u32,
}

/// The SHA-1 of the bencoded `info` dictionary exactly as it stands in a .torrent file
/// (BEP 3). It names the torrent on the wire, at trackers and in magnet links.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// Lower-case hex, the form used by `inspect`, magnet links and JSON output.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(InfoHash(out))
    }

    /// Parses 32 RFC 4648 base32 characters (either case), the older magnet form.
    pub fn from_base32(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let mut out = [0u8; 20];
        let mut acc: u64 = 0;
        let mut bits = 0;
        let mut n = 0;
        for &c in b {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a',
                b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            acc = (acc << 5) | u64::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out[n] = (acc >> bits) as u8;
                n += 1;
            }
        }
        Some(InfoHash(out))
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The index of a piece within its torrent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PieceIndex(pub u32);

/// The size of every block hivebt requests (BEP 3: "16 KiB ... is the common size").
/// Only the last block of the last piece may be shorter.
pub const BLOCK_SIZE: u32 = 16384;

/// A block of a piece: what a `request`, `cancel` or `reject` names.
///
/// The wire codec only carries it; whether `offset + len` lies inside the piece, and
/// whether `len` is acceptable, is for the session to check against the torrent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BlockRef {
    /// The piece the block belongs to.
    pub piece: PieceIndex,
    /// Byte offset of the block within the piece.
    pub offset: u32,
    /// Length of the block in bytes.
    pub len: u32,
}

/// The 20-byte id a peer sends in its handshake (BEP 3), identifying one client
/// instance rather than one connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// hivebt's client prefix in the Azureus style of BEP 20: `-`, two letters, four
    /// version digits, `-`.
    pub const PREFIX: &'static [u8; 8] = b"-HB0001-";

    /// A fresh id: [`PeerId::PREFIX`] followed by 12 random bytes, from a generator
    /// seeded by the operating system ([`Rng::from_os`]). A peer id needs to be unique,
    /// not secret.
    pub fn generate() -> PeerId {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(Self::PREFIX);
        let mut rng = Rng::from_os();
        for chunk in id[8..].chunks_mut(8) {
            let word = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        PeerId(id)
    }
}

impl fmt::Debug for PeerId {
    /// Printable ASCII as is, anything else as `\xNN`: client prefixes stay readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerId(\"")?;
        for &b in &self.0 {
            if b.is_ascii_graphic() && b != b'\\' && b != b'"' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\")")
    }
}

/// Lower-case hex of any byte string.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The value of one hex digit (either case).
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(h.to_hex(), "ab".repeat(20));
        assert_eq!(InfoHash::from_hex(&"AB".repeat(20)), Some(h));
        assert_eq!(InfoHash::from_hex("abc"), None);
        assert_eq!(InfoHash::from_hex(&"zz".repeat(20)), None);
    }

    #[test]
    fn base32_known_vector() {
        // RFC 4648 test vector "foobar" -> "MZXW6YTBOI", extended to 20 bytes: encode
        // 20 bytes of 0xff, whose base32 is 32 '7's.
        assert_eq!(
            InfoHash::from_base32(&"7".repeat(32)),
            Some(InfoHash([0xff; 20]))
        );
        assert_eq!(
            InfoHash::from_base32(&"A".repeat(32)),
            Some(InfoHash([0; 20]))
        );
        // Same hash in hex and base32 (computed with Python's base64.b32encode).
        let hex = InfoHash::from_hex("c12fe1c06bba254a9dc9f519b335aa7c1367a88a").unwrap();
        let b32 = InfoHash::from_base32("YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK").unwrap();
        assert_eq!(hex, b32);
        assert_eq!(
            InfoHash::from_base32("YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1"),
            None
        );
    }

    #[test]
    fn generated_peer_ids_have_the_prefix_and_differ() {
        let a = PeerId::generate();
        let b = PeerId::generate();
        assert_eq!(&a.0[..8], PeerId::PREFIX);
        assert_eq!(&b.0[..8], PeerId::PREFIX);
        assert_ne!(a, b);
    }

    #[test]
    fn peer_id_debug_escapes_binary() {
        let mut raw = *b"-HB0001-............";
        raw[8] = 0;
        raw[9] = b'"';
        assert_eq!(
            format!("{:?}", PeerId(raw)),
            r#"PeerId("-HB0001-\x00\x22..........")"#
        );
    }
}
