//! BEP 9 `ut_metadata` messages: the metadata exchange that turns a magnet link into a
//! torrent by fetching the info dictionary from peers in 16 KiB pieces.
//!
//! Depends on `wire::bencode`. Each message is the payload of an `extended` message
//! under the id the receiver gave `ut_metadata`: a bencoded dictionary with `msg_type`
//! (0 request, 1 data, 2 reject) and `piece`, and for data also `total_size`, followed
//! (data only) by the raw bytes of the piece.
//!
//! Decoding is strict and bounded, because what it reads decides how much we buffer:
//! - `total_size` must be in `1..=`[`MAX_METADATA_SIZE`];
//! - `piece` must be below the piece count of [`MAX_METADATA_SIZE`] (and, for data,
//!   of `total_size`);
//! - a data message must carry exactly the piece's length: 16 KiB, less for the last;
//! - a request or reject carries nothing after its dictionary;
//! - unknown keys are ignored (BEP 9 lets clients add them; libtorrent does).
//!
//! An unknown `msg_type` is its own error, [`MetadataError::UnknownType`], so the
//! caller can ignore it as BEP 9 asks instead of dropping the peer.

use std::fmt;
use std::ops::Range;

use crate::wire::bencode::{self, DictBuilder, Node};

/// The size of a metadata piece (BEP 9): every piece but the last is this long.
pub const METADATA_PIECE_LEN: usize = 16 * 1024;

/// The largest info dictionary hivebt fetches or serves: 8 MiB, 512 pieces. An info
/// dictionary holds 20 bytes per piece plus file names, so this covers torrents of
/// about 400,000 pieces; libtorrent stops at a few MiB. A peer that announces more is
/// not asked for metadata.
pub const MAX_METADATA_SIZE: u64 = 8 * 1024 * 1024;

/// The most metadata pieces any torrent within [`MAX_METADATA_SIZE`] has.
pub const MAX_METADATA_PIECES: u32 = (MAX_METADATA_SIZE / METADATA_PIECE_LEN as u64) as u32;

/// One `ut_metadata` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMsg<'a> {
    /// `msg_type` 0: send me piece `piece`.
    Request {
        /// The piece index.
        piece: u32,
    },
    /// `msg_type` 1: piece `piece` of metadata `total_size` bytes long.
    Data {
        /// The piece index.
        piece: u32,
        /// The size of the whole info dictionary.
        total_size: u32,
        /// The piece's bytes, exactly [`piece_range`]`(total_size, piece)` long.
        data: &'a [u8],
    },
    /// `msg_type` 2: I will not send piece `piece` (BEP 9: for example because I do
    /// not have the metadata).
    Reject {
        /// The piece index.
        piece: u32,
    },
}

/// Why a `ut_metadata` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// The payload does not start with a valid bencoded value.
    Bencode(bencode::Error),
    /// The leading value is not a dictionary.
    NotADict {
        /// What it is instead.
        found: &'static str,
    },
    /// A required key is missing or not an integer.
    MissingKey(&'static str),
    /// A `msg_type` other than 0, 1 and 2: BEP 9 says to ignore such messages.
    UnknownType(i64),
    /// A `piece` index out of range.
    BadPiece {
        /// The index sent.
        piece: i64,
        /// How many pieces there can be.
        pieces: u32,
    },
    /// A `total_size` of zero or past [`MAX_METADATA_SIZE`].
    BadTotalSize(i64),
    /// A data message whose bytes are not the piece's length.
    BadPieceLength {
        /// The piece index.
        piece: u32,
        /// Its length given `total_size`.
        expected: usize,
        /// The bytes after the dictionary.
        got: usize,
    },
    /// Bytes after the dictionary of a request or reject.
    TrailingBytes(usize),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Bencode(e) => write!(f, "ut_metadata: {e}"),
            MetadataError::NotADict { found } => {
                write!(f, "ut_metadata message is a {found}, not a dictionary")
            }
            MetadataError::MissingKey(k) => write!(f, "ut_metadata message has no integer '{k}'"),
            MetadataError::UnknownType(t) => write!(f, "ut_metadata msg_type {t} is unknown"),
            MetadataError::BadPiece { piece, pieces } => {
                write!(f, "ut_metadata piece {piece} is out of range (0..{pieces})")
            }
            MetadataError::BadTotalSize(n) => write!(
                f,
                "ut_metadata total_size {n} is not in 1..={MAX_METADATA_SIZE}"
            ),
            MetadataError::BadPieceLength {
                piece,
                expected,
                got,
            } => write!(
                f,
                "ut_metadata piece {piece} has {got} bytes, expected {expected}"
            ),
            MetadataError::TrailingBytes(n) => {
                write!(f, "ut_metadata request or reject has {n} bytes after it")
            }
        }
    }
}

impl std::error::Error for MetadataError {}

/// How many 16 KiB pieces metadata of `total_size` bytes has.
pub fn piece_count(total_size: u64) -> u32 {
    total_size.div_ceil(METADATA_PIECE_LEN as u64) as u32
}

/// The byte range of piece `piece` in metadata of `total_size` bytes; `None` when the
/// piece is past the end.
pub fn piece_range(total_size: usize, piece: u32) -> Option<Range<usize>> {
    let start = (piece as usize).checked_mul(METADATA_PIECE_LEN)?;
    (start < total_size).then(|| start..total_size.min(start + METADATA_PIECE_LEN))
}

impl MetadataMsg<'_> {
    /// The piece the message is about.
    pub fn piece(&self) -> u32 {
        match *self {
            MetadataMsg::Request { piece }
            | MetadataMsg::Data { piece, .. }
            | MetadataMsg::Reject { piece } => piece,
        }
    }

    /// The payload to send under the peer's `ut_metadata` id: the dictionary, then the
    /// piece's bytes for data.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = DictBuilder::new();
        let (msg_type, data) = match *self {
            MetadataMsg::Request { .. } => (0, &[][..]),
            MetadataMsg::Data {
                total_size, data, ..
            } => {
                d.int(b"total_size", i64::from(total_size));
                (1, data)
            }
            MetadataMsg::Reject { .. } => (2, &[][..]),
        };
        d.int(b"msg_type", msg_type);
        d.int(b"piece", i64::from(self.piece()));
        let mut out = d.finish();
        out.extend_from_slice(data);
        out
    }

    /// Decodes the payload of an `extended` message received under our `ut_metadata`
    /// id (after that id byte).
    pub fn decode(payload: &[u8]) -> Result<MetadataMsg<'_>, MetadataError> {
        let (root, used, _warnings) =
            bencode::decode_prefix(payload).map_err(MetadataError::Bencode)?;
        if root.as_dict().is_none() {
            return Err(MetadataError::NotADict {
                found: root.type_name(),
            });
        }
        let int = |key: &'static str| {
            root.get(key.as_bytes())
                .and_then(Node::as_int)
                .ok_or(MetadataError::MissingKey(key))
        };
        let msg_type = int("msg_type")?;
        if !(0..=2).contains(&msg_type) {
            return Err(MetadataError::UnknownType(msg_type));
        }
        let piece = int("piece")?;
        let check_piece = |pieces: u32| {
            u32::try_from(piece)
                .ok()
                .filter(|&p| p < pieces)
                .ok_or(MetadataError::BadPiece { piece, pieces })
        };
        let rest = &payload[used..];
        if msg_type != 1 {
            let piece = check_piece(MAX_METADATA_PIECES)?;
            if !rest.is_empty() {
                return Err(MetadataError::TrailingBytes(rest.len()));
            }
            return Ok(if msg_type == 0 {
                MetadataMsg::Request { piece }
            } else {
                MetadataMsg::Reject { piece }
            });
        }
        let total = int("total_size")?;
        let total_size = u32::try_from(total)
            .ok()
            .filter(|&n| n > 0 && u64::from(n) <= MAX_METADATA_SIZE)
            .ok_or(MetadataError::BadTotalSize(total))?;
        let piece = check_piece(piece_count(u64::from(total_size)))?;
        let expected = piece_range(total_size as usize, piece).map_or(0, |r| r.len());
        if rest.len() != expected {
            return Err(MetadataError::BadPieceLength {
                piece,
                expected,
                got: rest.len(),
            });
        }
        Ok(MetadataMsg::Data {
            piece,
            total_size,
            data: rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_from_bep_9() {
        // The examples of BEP 9, byte for byte.
        let request = b"d8:msg_typei0e5:piecei0ee";
        assert_eq!(
            MetadataMsg::decode(request),
            Ok(MetadataMsg::Request { piece: 0 })
        );
        assert_eq!(MetadataMsg::Request { piece: 0 }.encode(), request);
        let reject = b"d8:msg_typei2e5:piecei0ee";
        assert_eq!(
            MetadataMsg::decode(reject),
            Ok(MetadataMsg::Reject { piece: 0 })
        );
        assert_eq!(MetadataMsg::Reject { piece: 0 }.encode(), reject);
        // BEP 9's data example announces total_size 34256: piece 0 is 16 KiB.
        let mut data = b"d8:msg_typei1e5:piecei0e10:total_sizei34256ee".to_vec();
        data.extend(std::iter::repeat_n(7u8, METADATA_PIECE_LEN));
        let msg = MetadataMsg::decode(&data).unwrap();
        assert_eq!(
            msg,
            MetadataMsg::Data {
                piece: 0,
                total_size: 34256,
                data: &[7; METADATA_PIECE_LEN][..],
            }
        );
        assert_eq!(msg.encode(), data);
    }

    #[test]
    fn libtorrent_style_unknown_keys_and_last_piece() {
        // libtorrent adds nothing to requests but other clients do; the last piece of
        // 34256 bytes is 34256 - 2 * 16384 = 1488 bytes.
        let mut data = b"d3:fooi1e8:msg_typei1e5:piecei2e10:total_sizei34256ee".to_vec();
        data.extend([1u8; 1488]);
        match MetadataMsg::decode(&data) {
            Ok(MetadataMsg::Data {
                piece: 2,
                total_size: 34256,
                data,
            }) => assert_eq!(data.len(), 1488),
            other => panic!("{other:?}"),
        }
        assert_eq!(piece_count(34256), 3);
        assert_eq!(piece_range(34256, 2), Some(32768..34256));
        assert_eq!(piece_range(34256, 3), None);
        assert_eq!(piece_range(16384, 0), Some(0..16384));
        assert_eq!(piece_range(16384, 1), None);
        assert_eq!(piece_count(16384), 1);
        assert_eq!(piece_count(16385), 2);
        assert_eq!(piece_range(1, u32::MAX), None);
    }

    #[test]
    fn round_trips() {
        let blob = vec![9u8; 100];
        for msg in [
            MetadataMsg::Request { piece: 5 },
            MetadataMsg::Reject {
                piece: MAX_METADATA_PIECES - 1,
            },
            MetadataMsg::Data {
                piece: 0,
                total_size: 100,
                data: &blob,
            },
        ] {
            assert_eq!(MetadataMsg::decode(&msg.encode()), Ok(msg));
        }
    }

    #[test]
    fn malformed_input_is_refused() {
        use MetadataError as E;
        let cases: &[(&[u8], MetadataError)] = &[
            (b"li1ee", E::NotADict { found: "list" }),
            (b"d5:piecei0ee", E::MissingKey("msg_type")),
            (b"d8:msg_type1:05:piecei0ee", E::MissingKey("msg_type")),
            (b"d8:msg_typei0ee", E::MissingKey("piece")),
            (b"d8:msg_typei3e5:piecei0ee", E::UnknownType(3)),
            (b"d8:msg_typei-1e5:piecei0ee", E::UnknownType(-1)),
            (
                b"d8:msg_typei0e5:piecei-1ee",
                E::BadPiece {
                    piece: -1,
                    pieces: MAX_METADATA_PIECES,
                },
            ),
            (
                b"d8:msg_typei0e5:piecei512ee",
                E::BadPiece {
                    piece: 512,
                    pieces: MAX_METADATA_PIECES,
                },
            ),
            (b"d8:msg_typei0e5:piecei0eex", E::TrailingBytes(1)),
            (b"d8:msg_typei1e5:piecei0ee", E::MissingKey("total_size")),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei0ee",
                E::BadTotalSize(0),
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei8388609ee",
                E::BadTotalSize(8_388_609),
            ),
            (
                b"d8:msg_typei1e5:piecei1e10:total_sizei10eeabcdefghij",
                E::BadPiece {
                    piece: 1,
                    pieces: 1,
                },
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei10eeabc",
                E::BadPieceLength {
                    piece: 0,
                    expected: 10,
                    got: 3,
                },
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei10eeabcdefghijk",
                E::BadPieceLength {
                    piece: 0,
                    expected: 10,
                    got: 11,
                },
            ),
        ];
        for (payload, err) in cases {
            assert_eq!(
                MetadataMsg::decode(payload).as_ref(),
                Err(err),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        for bad in [
            &b""[..],
            b"d",
            b"d8:msg_typei0e",
            b"x",
            b"i99999999999999999999e",
        ] {
            assert!(
                matches!(MetadataMsg::decode(bad), Err(E::Bencode(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            E::BadTotalSize(0).to_string(),
            "ut_metadata total_size 0 is not in 1..=8388608"
        );
    }

    #[test]
    fn every_prefix_of_a_data_message_is_refused_not_misread() {
        let blob = [3u8; 40];
        let full = MetadataMsg::Data {
            piece: 0,
            total_size: 40,
            data: &blob,
        }
        .encode();
        for cut in 0..full.len() {
            assert!(MetadataMsg::decode(&full[..cut]).is_err(), "prefix {cut}");
        }
    }

    #[test]
    fn mutations_never_panic() {
        let base = MetadataMsg::Data {
            piece: 1,
            total_size: 16390,
            data: &[0; 6],
        }
        .encode();
        bencode::for_each_mutation(&base, |buf| {
            let _ = MetadataMsg::decode(buf);
        });
    }
}
