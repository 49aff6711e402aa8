//! The peer wire protocol's framing: the BEP 3 handshake and messages, the BEP 6 fast
//! extension messages, the BEP 5 `port` message and the BEP 10 `extended` envelope.
//!
//! Depends on `types`, `config` and `bitfield`. Pure: it takes byte slices and returns
//! values, with no buffers of its own, no I/O and no clock. It owns the byte layout
//! only; what a message means in a given state (a `have` past the last piece, a
//! `request` while choked, a fast-extension message from a peer that never announced
//! the fast extension) is for the peer session to judge.
//!
//! Invariants the decoders keep, for any input:
//! - they never panic and never read past the slice;
//! - `Ok(None)` means "a prefix of something acceptable; read more", and the consumed
//!   count in `Ok(Some(..))` is at least 4 and at most `buf.len()`;
//! - a frame is refused as soon as the bytes that condemn it are readable: a length
//!   over the cap after the 4-byte prefix, a length wrong for its id after the id byte,
//!   a bad protocol string at the first byte that differs. No caller ever has to wait
//!   for, or buffer, a frame that is going to be refused;
//! - every known id has an exact length (or a minimum, for the variable-length ones);
//!   unknown ids are returned as [`Message::Unknown`] for the caller to skip, as BEP 3
//!   asks so that later extensions do not break older clients;
//! - decoding then encoding any message other than `Unknown` gives back the same bytes.

use std::fmt;

use crate::bitfield::BitfieldError;
use crate::config::{MAX_PEER_FRAME, MAX_TORRENT_FILE_BYTES};
use crate::types::{BLOCK_SIZE, BlockRef, InfoHash, PeerId, PieceIndex};

/// The protocol string a BEP 3 handshake starts with, after its length byte (19).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Length of a handshake: 1 + 19 + 8 reserved + 20 info-hash + 20 peer id.
pub const HANDSHAKE_LEN: usize = 68;

/// Bytes of a handshake up to and including the info-hash: what an accepting side
/// needs to find the torrent before the peer id arrives.
const HANDSHAKE_INFO_HASH_END: usize = 48;

/// Room for the bencoded dictionary in front of a BEP 9 metadata block. The longest
/// real one, `d8:msg_typei1e5:piecei<n>e10:total_sizei<n>ee`, is under 80 bytes; the
/// allowance leaves space for clients that add keys.
pub const METADATA_DICT_ALLOWANCE: u32 = 1024;

/// Message ids (BEP 3, BEP 5 for `port`, BEP 6 for the fast extension, BEP 10 for
/// `extended`).
pub mod id {
    /// `choke`.
    pub const CHOKE: u8 = 0;
    /// `unchoke`.
    pub const UNCHOKE: u8 = 1;
    /// `interested`.
    pub const INTERESTED: u8 = 2;
    /// `not interested`.
    pub const NOT_INTERESTED: u8 = 3;
    /// `have`.
    pub const HAVE: u8 = 4;
    /// `bitfield`.
    pub const BITFIELD: u8 = 5;
    /// `request`.
    pub const REQUEST: u8 = 6;
    /// `piece`.
    pub const PIECE: u8 = 7;
    /// `cancel`.
    pub const CANCEL: u8 = 8;
    /// `port` (BEP 5).
    pub const PORT: u8 = 9;
    /// `suggest piece` (BEP 6).
    pub const SUGGEST: u8 = 13;
    /// `have all` (BEP 6).
    pub const HAVE_ALL: u8 = 14;
    /// `have none` (BEP 6).
    pub const HAVE_NONE: u8 = 15;
    /// `reject request` (BEP 6).
    pub const REJECT: u8 = 16;
    /// `allowed fast` (BEP 6).
    pub const ALLOWED_FAST: u8 = 17;
    /// `extended` (BEP 10).
    pub const EXTENDED: u8 = 20;
}

/// Why bytes from a peer could not be framed. Each one is that peer's misbehaviour
/// (the session closes it), never a top-level error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The handshake does not start with `\x13BitTorrent protocol`.
    BadHandshake(HandshakeError),
    /// A length prefix over the cap in force for this connection.
    FrameTooLong {
        /// The length the prefix announced (id and payload).
        len: u32,
        /// The cap.
        max: u32,
    },
    /// A fixed-size message whose length is not its size.
    BadLength {
        /// The message id.
        id: u8,
        /// The only valid length (id and payload).
        expected: u32,
        /// The length the prefix announced.
        got: u32,
    },
    /// A variable-size message shorter than its fixed part.
    TooShort {
        /// The message id.
        id: u8,
        /// The smallest valid length (id and payload).
        min: u32,
        /// The length the prefix announced.
        got: u32,
    },
    /// A `bitfield` payload that does not fit the torrent (see [`crate::bitfield`]).
    Bitfield(BitfieldError),
}

/// What was wrong with the first 20 bytes of a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The first byte, the protocol string's length, is not 19. An encrypted (BEP 8
    /// style MSE) or non-BitTorrent connection lands here.
    ProtocolLength {
        /// The byte received.
        got: u8,
    },
    /// The protocol string is not `BitTorrent protocol`.
    ProtocolString {
        /// Offset in the handshake of the first byte that differs (1..=19).
        offset: usize,
        /// The byte received there.
        got: u8,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadHandshake(HandshakeError::ProtocolLength { got }) => write!(
                f,
                "handshake protocol string length is {got}, not {}",
                PROTOCOL.len()
            ),
            WireError::BadHandshake(HandshakeError::ProtocolString { offset, got }) => write!(
                f,
                "handshake protocol string differs at byte {offset} (0x{got:02x})"
            ),
            WireError::FrameTooLong { len, max } => {
                write!(f, "frame of {len} bytes is over the {max}-byte limit")
            }
            WireError::BadLength { id, expected, got } => write!(
                f,
                "message id {id} has length {got}, expected exactly {expected}"
            ),
            WireError::TooShort { id, min, got } => write!(
                f,
                "message id {id} has length {got}, expected at least {min}"
            ),
            WireError::Bitfield(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WireError {}

impl From<BitfieldError> for WireError {
    fn from(e: BitfieldError) -> WireError {
        WireError::Bitfield(e)
    }
}

/// One of the reserved handshake bits that announce optional protocol support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedBit {
    byte: usize,
    mask: u8,
}

impl ReservedBit {
    /// BEP 10 extension protocol: reserved byte 5, bit 0x10.
    pub const EXTENSION_PROTOCOL: ReservedBit = ReservedBit {
        byte: 5,
        mask: 0x10,
    };
    /// BEP 6 fast extension: reserved byte 7, bit 0x04.
    pub const FAST_EXTENSION: ReservedBit = ReservedBit {
        byte: 7,
        mask: 0x04,
    };
    /// BEP 5 DHT (the peer accepts `port` messages): reserved byte 7, bit 0x01.
    pub const DHT: ReservedBit = ReservedBit {
        byte: 7,
        mask: 0x01,
    };
}

/// The 68-byte handshake that opens every peer connection (BEP 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Eight bytes of capability bits; see [`ReservedBit`].
    pub reserved: [u8; 8],
    /// The torrent the connection is for.
    pub info_hash: InfoHash,
    /// The sender's id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// A handshake with no reserved bits set.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id,
        }
    }

    /// Whether the reserved bit is set.
    pub fn has(&self, bit: ReservedBit) -> bool {
        self.reserved[bit.byte] & bit.mask != 0
    }

    /// Sets or clears the reserved bit.
    pub fn set(&mut self, bit: ReservedBit, on: bool) {
        if on {
            self.reserved[bit.byte] |= bit.mask;
        } else {
            self.reserved[bit.byte] &= !bit.mask;
        }
    }

    /// The handshake's bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Decodes a handshake from the start of `buf`, returning it with the bytes used
    /// (always 68); `Ok(None)` while fewer than 68 bytes are there. The protocol
    /// string is checked byte by byte as it arrives.
    pub fn decode(buf: &[u8]) -> Result<Option<(Handshake, usize)>, WireError> {
        check_protocol(buf)?;
        let Some(hs) = buf.first_chunk::<HANDSHAKE_LEN>() else {
            return Ok(None);
        };
        let (_, rest) = hs.split_at(20);
        let (reserved, rest) = rest.split_at(8);
        let (info_hash, peer_id) = rest.split_at(20);
        let handshake = Handshake {
            reserved: to_array(reserved),
            info_hash: InfoHash(to_array(info_hash)),
            peer_id: PeerId(to_array(peer_id)),
        };
        Ok(Some((handshake, HANDSHAKE_LEN)))
    }

    /// The info-hash of a handshake still arriving, once its first 48 bytes are
    /// there. An accepting side needs it to pick the torrent (and to answer before
    /// the peer id arrives, as some clients wait for that); the protocol string is
    /// checked as in [`Handshake::decode`].
    pub fn peek_info_hash(buf: &[u8]) -> Result<Option<InfoHash>, WireError> {
        check_protocol(buf)?;
        Ok(buf
            .get(28..HANDSHAKE_INFO_HASH_END)
            .map(|b| InfoHash(to_array(b))))
    }
}

/// Checks the length byte and as much of the protocol string as `buf` holds.
fn check_protocol(buf: &[u8]) -> Result<(), WireError> {
    if let Some(&got) = buf.first() {
        if usize::from(got) != PROTOCOL.len() {
            return Err(WireError::BadHandshake(HandshakeError::ProtocolLength {
                got,
            }));
        }
    }
    let have = buf.get(1..).unwrap_or(&[]);
    for (i, (&got, &want)) in have.iter().zip(PROTOCOL.iter()).enumerate() {
        if got != want {
            return Err(WireError::BadHandshake(HandshakeError::ProtocolString {
                offset: i + 1,
                got,
            }));
        }
    }
    Ok(())
}

/// Copies a slice whose length the caller has fixed into an array.
fn to_array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(b);
    out
}

/// One peer-wire message, borrowing any payload from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A zero-length frame: keeps an idle connection from timing out.
    KeepAlive,
    /// The sender will not answer our requests.
    Choke,
    /// The sender will answer our requests.
    Unchoke,
    /// The sender wants pieces we have.
    Interested,
    /// The sender wants nothing we have.
    NotInterested,
    /// The sender has completed and verified this piece.
    Have(PieceIndex),
    /// The sender's pieces, one bit each; checked against the torrent with
    /// [`crate::bitfield::Bitfield::from_wire`], since only the session knows the
    /// piece count.
    Bitfield(&'a [u8]),
    /// The sender asks for a block.
    Request(BlockRef),
    /// A block of data.
    Piece {
        /// The piece the data belongs to.
        piece: PieceIndex,
        /// Byte offset of the data within the piece.
        offset: u32,
        /// The data, possibly empty.
        data: &'a [u8],
    },
    /// The sender withdraws a request.
    Cancel(BlockRef),
    /// The sender's DHT port (BEP 5).
    Port(u16),
    /// The sender suggests we download this piece (BEP 6).
    Suggest(PieceIndex),
    /// The sender has every piece; replaces `bitfield` (BEP 6).
    HaveAll,
    /// The sender has no pieces; replaces `bitfield` (BEP 6).
    HaveNone,
    /// The sender will not answer this request (BEP 6).
    Reject(BlockRef),
    /// We may request this piece even while choked (BEP 6).
    AllowedFast(PieceIndex),
    /// An extension message (BEP 10): `id` 0 is the extension handshake, any other is
    /// the id *we* assigned to an extension in our handshake's `m` dictionary.
    Extended {
        /// The extended message id.
        id: u8,
        /// Everything after the extended id.
        payload: &'a [u8],
    },
    /// A message id this codec does not know; the caller skips the frame. Encoding one
    /// writes a zero-filled payload, so it exists for skipping, not for sending.
    Unknown {
        /// The message id.
        id: u8,
        /// The frame length from the prefix (id and payload).
        len: u32,
    },
}

impl Message<'_> {
    /// The message id, or `None` for a keep-alive, which has none.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have(_) => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::Suggest(_) => id::SUGGEST,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::Reject(_) => id::REJECT,
            Message::AllowedFast(_) => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
            Message::Unknown { id, .. } => *id,
        })
    }

    /// The frame length the prefix announces: id and payload, 0 for a keep-alive.
    ///
    /// # Panics
    ///
    /// If a payload is 4 GiB or longer, which no frame can carry.
    pub fn frame_len(&self) -> u32 {
        let payload = |fixed: usize, var: usize| {
            u32::try_from(1 + fixed + var).expect("peer message payload of 4 GiB or more")
        };
        match self {
            Message::KeepAlive => 0,
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 1,
            Message::Have(_) | Message::Suggest(_) | Message::AllowedFast(_) => 5,
            Message::Request(_) | Message::Cancel(_) | Message::Reject(_) => 13,
            Message::Port(_) => 3,
            Message::Bitfield(b) => payload(0, b.len()),
            Message::Piece { data, .. } => payload(8, data.len()),
            Message::Extended { payload: p, .. } => payload(1, p.len()),
            Message::Unknown { len, .. } => (*len).max(1),
        }
    }
}

/// The length rule for one message id.
enum LengthRule {
    /// Exactly this frame length.
    Exact(u32),
    /// At least this frame length.
    AtLeast(u32),
    /// An unknown id: any length.
    Any,
}

fn length_rule(message_id: u8) -> LengthRule {
    match message_id {
        id::CHOKE | id::UNCHOKE | id::INTERESTED | id::NOT_INTERESTED => LengthRule::Exact(1),
        id::HAVE_ALL | id::HAVE_NONE => LengthRule::Exact(1),
        id::HAVE | id::SUGGEST | id::ALLOWED_FAST => LengthRule::Exact(5),
        id::REQUEST | id::CANCEL | id::REJECT => LengthRule::Exact(13),
        id::PORT => LengthRule::Exact(3),
        id::BITFIELD => LengthRule::AtLeast(1),
        id::PIECE => LengthRule::AtLeast(9),
        id::EXTENDED => LengthRule::AtLeast(2),
        _ => LengthRule::Any,
    }
}

fn check_length(message_id: u8, len: u32) -> Result<(), WireError> {
    match length_rule(message_id) {
        LengthRule::Exact(expected) if len != expected => Err(WireError::BadLength {
            id: message_id,
            expected,
            got: len,
        }),
        LengthRule::AtLeast(min) if len < min => Err(WireError::TooShort {
            id: message_id,
            min,
            got: len,
        }),
        _ => Ok(()),
    }
}

/// The frame cap for a torrent of `piece_count` pieces, in length-prefix units (id
/// and payload, without the 4-byte prefix):
///
/// `min(MAX_PEER_FRAME, max(2 + BLOCK_SIZE + METADATA_DICT_ALLOWANCE, 1 + ceil(piece_count / 8)))`
///
/// The first term is the largest block-carrying message: a BEP 9 metadata block
/// (`extended` id, extension id, a short dictionary, 16 KiB), which also covers a
/// `piece` message (9 + 16 KiB, as hivebt only ever requests 16 KiB blocks). The
/// second is the `bitfield` message. The 1 MiB [`MAX_PEER_FRAME`] cap only binds past
/// 8,388,600 pieces, and no torrent file small enough to load has that many (checked
/// at compile time below). Before the piece count is known (a magnet link still
/// fetching its metadata) peers already send their bitfield: use [`MAX_PEER_FRAME`].
pub fn max_frame_for(piece_count: u32) -> u32 {
    let block = 2 + BLOCK_SIZE + METADATA_DICT_ALLOWANCE;
    let bitfield = 1 + piece_count.div_ceil(8);
    block.max(bitfield).min(MAX_PEER_FRAME)
}

// The bitfield of the largest torrent file we load (20 bytes of hash per piece) fits
// under the frame cap, so `max_frame_for` never cuts a real bitfield off.
const LARGEST_LOADABLE_BITFIELD_FRAME: u64 = 1 + (MAX_TORRENT_FILE_BYTES / 20).div_ceil(8);
const _: () = assert!(LARGEST_LOADABLE_BITFIELD_FRAME <= MAX_PEER_FRAME as u64);

/// Decodes one message from the start of `buf`, returning it with the bytes it used
/// (prefix included); `Ok(None)` while the frame is incomplete. `max_frame` is the
/// cap on the length prefix, normally [`max_frame_for`] the torrent.
pub fn decode(buf: &[u8], max_frame: u32) -> Result<Option<(Message<'_>, usize)>, WireError> {
    let Some((prefix, rest)) = buf.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix);
    if len > max_frame {
        return Err(WireError::FrameTooLong {
            len,
            max: max_frame,
        });
    }
    if len == 0 {
        return Ok(Some((Message::KeepAlive, 4)));
    }
    let Some(&message_id) = rest.first() else {
        return Ok(None);
    };
    check_length(message_id, len)?;
    // `len` fits in memory whenever the frame does; a cap near u32::MAX on a 32-bit
    // target simply leaves such a frame waiting for bytes that can never come.
    let Some(frame) = usize::try_from(len).ok().and_then(|l| rest.get(..l)) else {
        return Ok(None);
    };
    let payload = &frame[1..];
    let message = parse(message_id, len, payload)?;
    Ok(Some((message, 4 + frame.len())))
}

/// Builds the message from a complete payload whose length `check_length` accepted.
fn parse(message_id: u8, len: u32, payload: &[u8]) -> Result<Message<'_>, WireError> {
    Ok(match message_id {
        id::CHOKE => Message::Choke,
        id::UNCHOKE => Message::Unchoke,
        id::INTERESTED => Message::Interested,
        id::NOT_INTERESTED => Message::NotInterested,
        id::HAVE_ALL => Message::HaveAll,
        id::HAVE_NONE => Message::HaveNone,
        id::HAVE => Message::Have(piece_index(message_id, payload)?),
        id::SUGGEST => Message::Suggest(piece_index(message_id, payload)?),
        id::ALLOWED_FAST => Message::AllowedFast(piece_index(message_id, payload)?),
        id::REQUEST => Message::Request(block_ref(message_id, payload)?),
        id::CANCEL => Message::Cancel(block_ref(message_id, payload)?),
        id::REJECT => Message::Reject(block_ref(message_id, payload)?),
        id::PORT => Message::Port(u16::from_be_bytes(*fixed(message_id, payload)?)),
        id::BITFIELD => Message::Bitfield(payload),
        id::PIECE => {
            let (head, data) = payload
                .split_first_chunk::<8>()
                .ok_or_else(|| too_short(message_id, 9, payload))?;
            let (piece, offset) = head.split_at(4);
            Message::Piece {
                piece: PieceIndex(u32::from_be_bytes(to_array(piece))),
                offset: u32::from_be_bytes(to_array(offset)),
                data,
            }
        }
        id::EXTENDED => {
            let (&ext_id, payload) = payload
                .split_first()
                .ok_or_else(|| too_short(message_id, 2, payload))?;
            Message::Extended {
                id: ext_id,
                payload,
            }
        }
        _ => Message::Unknown {
            id: message_id,
            len,
        },
    })
}

/// The payload as an array of its exact size; `check_length` has already made sure,
/// so the error only keeps this path free of panics.
fn fixed<const N: usize>(message_id: u8, payload: &[u8]) -> Result<&[u8; N], WireError> {
    payload.try_into().map_err(|_| WireError::BadLength {
        id: message_id,
        expected: 1 + N as u32,
        got: frame_len_of(payload),
    })
}

fn too_short(message_id: u8, min: u32, payload: &[u8]) -> WireError {
    WireError::TooShort {
        id: message_id,
        min,
        got: frame_len_of(payload),
    }
}

fn frame_len_of(payload: &[u8]) -> u32 {
    u32::try_from(payload.len()).map_or(u32::MAX, |n| n.saturating_add(1))
}

fn piece_index(message_id: u8, payload: &[u8]) -> Result<PieceIndex, WireError> {
    Ok(PieceIndex(u32::from_be_bytes(*fixed(message_id, payload)?)))
}

fn block_ref(message_id: u8, payload: &[u8]) -> Result<BlockRef, WireError> {
    let b: &[u8; 12] = fixed(message_id, payload)?;
    let (piece, rest) = b.split_at(4);
    let (offset, len) = rest.split_at(4);
    Ok(BlockRef {
        piece: PieceIndex(u32::from_be_bytes(to_array(piece))),
        offset: u32::from_be_bytes(to_array(offset)),
        len: u32::from_be_bytes(to_array(len)),
    })
}

/// Appends the message's frame, prefix included, to `out`.
///
/// # Panics
///
/// If a payload is 4 GiB or longer (see [`Message::frame_len`]).
pub fn encode(message: &Message<'_>, out: &mut Vec<u8>) {
    let len = message.frame_len();
    out.reserve(4 + len as usize);
    out.extend_from_slice(&len.to_be_bytes());
    let Some(message_id) = message.id() else {
        return;
    };
    out.push(message_id);
    match *message {
        Message::KeepAlive
        | Message::Choke
        | Message::Unchoke
        | Message::Interested
        | Message::NotInterested
        | Message::HaveAll
        | Message::HaveNone => {}
        Message::Have(p) | Message::Suggest(p) | Message::AllowedFast(p) => {
            out.extend_from_slice(&p.0.to_be_bytes());
        }
        Message::Request(b) | Message::Cancel(b) | Message::Reject(b) => {
            out.extend_from_slice(&b.piece.0.to_be_bytes());
            out.extend_from_slice(&b.offset.to_be_bytes());
            out.extend_from_slice(&b.len.to_be_bytes());
        }
        Message::Port(port) => out.extend_from_slice(&port.to_be_bytes()),
        Message::Bitfield(bits) => out.extend_from_slice(bits),
        Message::Piece {
            piece,
            offset,
            data,
        } => {
            out.extend_from_slice(&piece.0.to_be_bytes());
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(data);
        }
        Message::Extended {
            id: ext_id,
            payload,
        } => {
            out.push(ext_id);
            out.extend_from_slice(payload);
        }
        Message::Unknown { len, .. } => {
            out.resize(out.len() + len.saturating_sub(1) as usize, 0);
        }
    }
}

/// The 13 bytes in front of a `piece` message's `len` bytes of data: length prefix,
/// id, piece index, offset. An upload sends this and then the block from wherever it
/// lies, so the block is never copied into a message buffer.
///
/// # Panics
///
/// If `len` is within 9 of `u32::MAX`, which no frame can carry.
pub fn piece_header(piece: PieceIndex, offset: u32, len: u32) -> [u8; 13] {
    let frame_len = len.checked_add(9).expect("piece data too long for a frame");
    let mut out = [0u8; 13];
    out[..4].copy_from_slice(&frame_len.to_be_bytes());
    out[4] = id::PIECE;
    out[5..9].copy_from_slice(&piece.0.to_be_bytes());
    out[9..].copy_from_slice(&offset.to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
