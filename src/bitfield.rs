//! A fixed-length set of pieces in the BEP 3 `bitfield` layout: one bit per piece,
//! piece 0 in the high bit of the first byte.
//!
//! Depends only on `types`. Used for what a peer has, what we have and the resume
//! record. Invariants, checked by `check_invariants` in debug builds:
//! - `bytes.len() == ceil(len / 8)`;
//! - the spare bits after the last piece in the last byte are zero, so the bytes can be
//!   sent as they are and two equal sets compare equal;
//! - `ones` is the number of set bits, so counting and "is it complete?" are O(1).

use std::fmt;

use crate::types::PieceIndex;

/// A set of piece indexes below a fixed length.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

/// Why a bitfield was refused or an index did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitfieldError {
    /// Bytes from the wire that are not exactly `ceil(pieces / 8)` long.
    WrongLength {
        /// Pieces in the torrent.
        pieces: u32,
        /// Bytes a bitfield of that many pieces has.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// Bits set after the last piece; BEP 3 says a peer sending them should be dropped.
    SpareBitsSet {
        /// Pieces in the torrent.
        pieces: u32,
    },
    /// An index at or past the end of the set.
    OutOfRange {
        /// The index given.
        index: PieceIndex,
        /// The number of pieces in the set.
        len: u32,
    },
}

impl fmt::Display for BitfieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitfieldError::WrongLength {
                pieces,
                expected,
                got,
            } => write!(
                f,
                "bitfield of {got} bytes for {pieces} pieces (expected {expected})"
            ),
            BitfieldError::SpareBitsSet { pieces } => {
                write!(f, "bitfield has bits set past its last piece ({pieces})")
            }
            BitfieldError::OutOfRange { index, len } => {
                write!(f, "piece {} is out of range for {len} pieces", index.0)
            }
        }
    }
}

impl std::error::Error for BitfieldError {}

impl Bitfield {
    /// Bytes a bitfield of `pieces` pieces takes on the wire: `ceil(pieces / 8)`.
    pub fn wire_len(pieces: u32) -> usize {
        pieces.div_ceil(8) as usize
    }

    /// An empty set of `len` pieces.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; Self::wire_len(len)],
            len,
            ones: 0,
        }
    }

    /// A set holding every one of `len` pieces: what a seed has.
    pub fn full(len: u32) -> Bitfield {
        let mut bytes = vec![0xff; Self::wire_len(len)];
        if let Some(last) = bytes.last_mut() {
            *last &= Self::last_byte_mask(len);
        }
        Bitfield {
            bytes,
            len,
            ones: len,
        }
    }

    /// Takes a bitfield as a peer sent it for a torrent of `pieces` pieces. It must be
    /// exactly `ceil(pieces / 8)` bytes with every spare bit clear (BEP 3).
    pub fn from_wire(bytes: &[u8], pieces: u32) -> Result<Bitfield, BitfieldError> {
        let expected = Self::wire_len(pieces);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                pieces,
                expected,
                got: bytes.len(),
            });
        }
        if let Some(&last) = bytes.last() {
            if last & !Self::last_byte_mask(pieces) != 0 {
                return Err(BitfieldError::SpareBitsSet { pieces });
            }
        }
        let ones = bytes.iter().map(|b| b.count_ones()).sum();
        Ok(Bitfield {
            bytes: bytes.to_vec(),
            len: pieces,
            ones,
        })
    }

    /// The bytes to send in a `bitfield` message; spare bits are always clear.
    pub fn as_wire(&self) -> &[u8] {
        &self.bytes
    }

    /// The number of pieces the set ranges over.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the set ranges over no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `index` is in the set; an index out of range is not.
    pub fn get(&self, index: PieceIndex) -> bool {
        index.0 < self.len && self.bytes[Self::byte_of(index)] & Self::bit_of(index) != 0
    }

    /// Adds (`true`) or removes (`false`) `index`, returning whether it was in the set
    /// before, so a repeated `have` is not counted twice.
    pub fn set(&mut self, index: PieceIndex, value: bool) -> Result<bool, BitfieldError> {
        if index.0 >= self.len {
            return Err(BitfieldError::OutOfRange {
                index,
                len: self.len,
            });
        }
        let byte = &mut self.bytes[Self::byte_of(index)];
        let bit = Self::bit_of(index);
        let was = *byte & bit != 0;
        match (was, value) {
            (false, true) => {
                *byte |= bit;
                self.ones += 1;
            }
            (true, false) => {
                *byte &= !bit;
                self.ones -= 1;
            }
            _ => {}
        }
        Ok(was)
    }

    /// How many pieces are in the set.
    pub fn count_ones(&self) -> u32 {
        self.ones
    }

    /// Whether every piece is in the set (true for a set of no pieces).
    pub fn is_all_set(&self) -> bool {
        self.ones == self.len
    }

    /// The pieces in the set, lowest first.
    pub fn iter_ones(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.bytes.iter().enumerate().flat_map(|(i, &b)| {
            (0..8u32)
                .filter(move |bit| b & (0x80 >> bit) != 0)
                .map(move |bit| PieceIndex(i as u32 * 8 + bit))
        })
    }

    /// Checks the invariants in the module docs; free in release builds, O(len) in
    /// debug builds, so callers run it at checkpoints rather than on every change.
    pub fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            assert_eq!(self.bytes.len(), Self::wire_len(self.len));
            if let Some(&last) = self.bytes.last() {
                assert_eq!(last & !Self::last_byte_mask(self.len), 0, "spare bits set");
            }
            let ones: u32 = self.bytes.iter().map(|b| b.count_ones()).sum();
            assert_eq!(ones, self.ones);
        }
    }

    fn byte_of(index: PieceIndex) -> usize {
        (index.0 / 8) as usize
    }

    fn bit_of(index: PieceIndex) -> u8 {
        0x80 >> (index.0 % 8)
    }

    /// The bits of the last byte that stand for pieces: all of them when `len` is a
    /// multiple of 8, else the top `len % 8`.
    fn last_byte_mask(len: u32) -> u8 {
        match len % 8 {
            0 => 0xff,
            used => !(0xff >> used),
        }
    }
}

impl fmt::Debug for Bitfield {
    /// `Bitfield(3/10 "1010000100")`, the bits in piece order; long sets are cut short.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: u32 = 64;
        write!(f, "Bitfield({}/{} \"", self.ones, self.len)?;
        for i in 0..self.len.min(SHOWN) {
            f.write_str(if self.get(PieceIndex(i)) { "1" } else { "0" })?;
        }
        if self.len > SHOWN {
            f.write_str("...")?;
        }
        f.write_str("\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count() {
        let mut b = Bitfield::new(10);
        assert_eq!(b.as_wire(), [0, 0]);
        assert_eq!(b.set(PieceIndex(0), true), Ok(false));
        assert_eq!(b.set(PieceIndex(9), true), Ok(false));
        assert_eq!(b.set(PieceIndex(9), true), Ok(true));
        assert_eq!(b.as_wire(), [0x80, 0x40]);
        assert_eq!(b.count_ones(), 2);
        assert!(b.get(PieceIndex(9)));
        assert!(!b.get(PieceIndex(8)));
        assert!(!b.get(PieceIndex(10)));
        assert_eq!(
            b.iter_ones().collect::<Vec<_>>(),
            [PieceIndex(0), PieceIndex(9)]
        );
        assert_eq!(b.set(PieceIndex(0), false), Ok(true));
        assert_eq!(b.set(PieceIndex(0), false), Ok(false));
        assert_eq!(b.count_ones(), 1);
        assert_eq!(
            b.set(PieceIndex(10), true),
            Err(BitfieldError::OutOfRange {
                index: PieceIndex(10),
                len: 10
            })
        );
        assert_eq!(format!("{b:?}"), "Bitfield(1/10 \"0000000001\")");
    }

    #[test]
    fn full_and_all_set() {
        for len in [0, 1, 7, 8, 9, 16, 17] {
            let full = Bitfield::full(len);
            full.check_invariants();
            assert!(full.is_all_set(), "{len}");
            assert_eq!(full.count_ones(), len);
            let mut b = Bitfield::new(len);
            assert_eq!(b.is_all_set(), len == 0);
            for i in 0..len {
                b.set(PieceIndex(i), true).unwrap();
            }
            assert_eq!(b, full, "{len}");
        }
        assert_eq!(Bitfield::full(10).as_wire(), [0xff, 0xc0]);
        assert_eq!(Bitfield::full(16).as_wire(), [0xff, 0xff]);
        assert!(Bitfield::new(0).is_empty());
    }

    #[test]
    fn from_wire_round_trips() {
        let b = Bitfield::from_wire(&[0b1010_0000, 0b0100_0000], 10).unwrap();
        b.check_invariants();
        assert_eq!(b.count_ones(), 3);
        assert!(b.get(PieceIndex(0)) && b.get(PieceIndex(2)) && b.get(PieceIndex(9)));
        assert_eq!(b.as_wire(), [0b1010_0000, 0b0100_0000]);
        assert_eq!(Bitfield::from_wire(&[], 0).unwrap(), Bitfield::new(0));
        assert_eq!(Bitfield::from_wire(&[0xff], 8).unwrap(), Bitfield::full(8));
    }

    #[test]
    fn from_wire_rejects_wrong_length() {
        for (bytes, pieces, expected) in [
            (&[0u8; 1][..], 9u32, 2usize),
            (&[0u8; 3][..], 9, 2),
            (&[][..], 1, 1),
            (&[0u8; 1][..], 0, 0),
        ] {
            assert_eq!(
                Bitfield::from_wire(bytes, pieces),
                Err(BitfieldError::WrongLength {
                    pieces,
                    expected,
                    got: bytes.len()
                })
            );
        }
    }

    #[test]
    fn from_wire_rejects_spare_bits() {
        // 10 pieces: the last byte may only use its top two bits.
        for spare in 0..6 {
            let last = 0x20u8 >> spare;
            assert_eq!(
                Bitfield::from_wire(&[0, last], 10),
                Err(BitfieldError::SpareBitsSet { pieces: 10 }),
                "{last:#04x}"
            );
        }
        assert!(Bitfield::from_wire(&[0, 0xc0], 10).is_ok());
        assert_eq!(
            Bitfield::from_wire(&[0x01], 7),
            Err(BitfieldError::SpareBitsSet { pieces: 7 })
        );
        assert_eq!(
            BitfieldError::SpareBitsSet { pieces: 7 }.to_string(),
            "bitfield has bits set past its last piece (7)"
        );
    }
}
