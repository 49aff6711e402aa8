//! Newtypes shared by every layer: info-hashes, piece indexes and block references.
//!
//! Depends on nothing. Every id and index that crosses a module boundary is a newtype
//! here, never a bare integer or byte array.

use std::fmt;

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
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
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

/// The size of a block, the unit of `request` and `piece` messages (BEP 3). Every
/// block of a piece is this long except the piece's last, which holds the remainder.
pub const BLOCK_SIZE: u32 = 16384;

/// One block of a piece: what a `request`, `cancel` or `piece` message names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BlockRef {
    /// The piece the block belongs to.
    pub piece: PieceIndex,
    /// Byte offset of the block within its piece.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
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

fn hex_val(c: u8) -> Option<u8> {
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
}
