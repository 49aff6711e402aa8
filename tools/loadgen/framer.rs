//! Receive-side framing of one connection to the seeder, built so that a block's data
//! is never copied: the caller reads into one large buffer shared by every connection,
//! and the framer hands out slices of it.
//!
//! Depends on `hivebt::wire::peer` (the decoders) and `close`. Pure: bytes in, calls
//! on a [`Sink`] out. The handshake and every message other than `piece` are decoded by
//! `wire::peer` from a complete frame; a `piece` message is split into its 13-byte
//! head and its data, and the data is passed on in whatever pieces it arrived, so a
//! 16 KiB block spread over three reads costs three slices, not a reassembly.
//!
//! Invariants:
//! - `head` holds only the start of a handshake or of a frame that did not fit in the
//!   input it arrived with: at most 68 bytes, 13 for a `piece` head, or one whole
//!   non-`piece` frame (a bitfield, an extension message), bounded by `max_frame`;
//! - while `body_left > 0` every input byte is block data, and `on_block_end` follows
//!   the last one;
//! - a frame is refused as soon as the bytes that condemn it are there, as
//!   `wire::peer::decode` does, so `head` never grows for a frame that will be refused.

use hivebt::types::PieceIndex;
use hivebt::wire::peer::{self, HANDSHAKE_LEN, Handshake, Message, id};

use crate::close::CloseKind;

/// Bytes in front of a `piece` message's data: length prefix, id, index, offset.
const PIECE_HEAD_LEN: usize = 13;

/// Above this, the buffer kept for partial frames is freed after use rather than kept.
const HEAD_KEEP_CAPACITY: usize = 64 * 1024;

/// What the framer finds, in stream order.
pub trait Sink {
    /// The seeder's handshake, once all 68 bytes are there.
    fn on_handshake(&mut self, hs: Handshake) -> Result<(), CloseKind>;
    /// Any message but `piece`, borrowing its payload.
    fn on_message(&mut self, msg: Message<'_>) -> Result<(), CloseKind>;
    /// The head of a `piece` message with `len` bytes of data to follow.
    fn on_block_start(&mut self, piece: PieceIndex, offset: u32, len: u32)
    -> Result<(), CloseKind>;
    /// The next bytes of the current block's data (never empty).
    fn on_block_data(&mut self, data: &[u8]);
    /// The current block's last byte has been passed on.
    fn on_block_end(&mut self) -> Result<(), CloseKind>;
}

/// The framing state of one connection.
#[derive(Debug)]
pub struct Framer {
    max_frame: u32,
    handshaken: bool,
    head: Vec<u8>,
    body_left: u32,
}

/// How much of the input a frame's head needs.
enum Need {
    /// Not enough to know yet: read at least this many bytes.
    AtLeast(usize),
    /// The head is exactly this long: the whole frame, or 13 bytes for `piece`.
    Exactly(usize),
}

impl Framer {
    /// A framer expecting a handshake, then frames of at most `max_frame` bytes (see
    /// [`peer::max_frame_for`]).
    pub fn new(max_frame: u32) -> Framer {
        Framer {
            max_frame,
            handshaken: false,
            head: Vec::new(),
            body_left: 0,
        }
    }

    /// Passes everything `input` completes to `sink`. An error closes the connection;
    /// the framer is not to be fed again after one.
    pub fn feed<S: Sink>(&mut self, mut input: &[u8], sink: &mut S) -> Result<(), CloseKind> {
        while !input.is_empty() {
            if self.body_left > 0 {
                let n = input.len().min(self.body_left as usize);
                let (data, rest) = input.split_at(n);
                sink.on_block_data(data);
                input = rest;
                self.body_left -= n as u32;
                if self.body_left == 0 {
                    sink.on_block_end()?;
                }
            } else if !self.handshaken {
                input = self.feed_handshake(input, sink)?;
            } else if self.head.is_empty() {
                // The common case: the whole head is in this input; decode it in place.
                match need(input, self.max_frame)? {
                    Need::Exactly(n) if n <= input.len() => {
                        let (head, rest) = input.split_at(n);
                        self.on_head(head, sink)?;
                        input = rest;
                    }
                    _ => input = self.gather(input, sink)?,
                }
            } else {
                input = self.gather(input, sink)?;
            }
        }
        Ok(())
    }

    /// Adds handshake bytes to `head` until all 68 are there.
    fn feed_handshake<'a, S: Sink>(
        &mut self,
        input: &'a [u8],
        sink: &mut S,
    ) -> Result<&'a [u8], CloseKind> {
        let take = input.len().min(HANDSHAKE_LEN - self.head.len());
        let (bytes, rest) = input.split_at(take);
        self.head.extend_from_slice(bytes);
        match Handshake::decode(&self.head) {
            Err(_) => Err(CloseKind::BadHandshake),
            Ok(None) => Ok(rest),
            Ok(Some((hs, _))) => {
                self.head.clear();
                self.handshaken = true;
                sink.on_handshake(hs)?;
                Ok(rest)
            }
        }
    }

    /// Moves bytes from `input` into `head` until the head is complete (then decodes
    /// it) or the input runs out.
    fn gather<'a, S: Sink>(
        &mut self,
        mut input: &'a [u8],
        sink: &mut S,
    ) -> Result<&'a [u8], CloseKind> {
        loop {
            let (n, exact) = match need(&self.head, self.max_frame)? {
                Need::AtLeast(n) => (n, false),
                Need::Exactly(n) => (n, true),
            };
            if exact && self.head.len() == n {
                break;
            }
            let take = input.len().min(n - self.head.len());
            let (bytes, rest) = input.split_at(take);
            self.head.extend_from_slice(bytes);
            input = rest;
            if self.head.len() < n {
                return Ok(input);
            }
        }
        let head = std::mem::take(&mut self.head);
        let done = self.on_head(&head, sink);
        self.head = head;
        self.head.clear();
        if self.head.capacity() > HEAD_KEEP_CAPACITY {
            self.head = Vec::new();
        }
        done.map(|()| input)
    }

    /// Handles a complete head: a whole message, or a `piece` head whose data follows.
    fn on_head<S: Sink>(&mut self, head: &[u8], sink: &mut S) -> Result<(), CloseKind> {
        if let Some((piece, offset, len)) = piece_head(head) {
            sink.on_block_start(piece, offset, len)?;
            self.body_left = len;
            if len == 0 {
                sink.on_block_end()?;
            }
            return Ok(());
        }
        match peer::decode(head, self.max_frame) {
            Ok(Some((msg, used))) if used == head.len() => sink.on_message(msg),
            _ => Err(CloseKind::Protocol),
        }
    }
}

/// How long the head starting `buf` is, checking what can be checked so far.
fn need(buf: &[u8], max_frame: u32) -> Result<Need, CloseKind> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(Need::AtLeast(4));
    };
    // The first five bytes are enough for the decoder to refuse a bad length.
    peer::decode(&buf[..buf.len().min(5)], max_frame).map_err(|_| CloseKind::Protocol)?;
    let len = u32::from_be_bytes(*prefix);
    Ok(match buf.get(4) {
        _ if len == 0 => Need::Exactly(4),
        None => Need::AtLeast(5),
        Some(&id::PIECE) => Need::Exactly(PIECE_HEAD_LEN),
        Some(_) => Need::Exactly(4 + len as usize),
    })
}

/// The index, offset and data length of a complete `piece` head.
fn piece_head(head: &[u8]) -> Option<(PieceIndex, u32, u32)> {
    let head: &[u8; PIECE_HEAD_LEN] = head.try_into().ok()?;
    if head[4] != id::PIECE {
        return None;
    }
    let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    // `need` let the length through the decoder, which requires at least 9.
    let len = word(0).checked_sub(9)?;
    Some((PieceIndex(word(5)), word(9), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hivebt::types::{BlockRef, InfoHash, PeerId};
    use hivebt::wire::peer::encode;

    /// Everything the framer reported, as text, with block data gathered per block.
    #[derive(Debug, Default)]
    struct Log {
        events: Vec<String>,
        data: Vec<u8>,
        slices: usize,
    }

    impl Sink for Log {
        fn on_handshake(&mut self, hs: Handshake) -> Result<(), CloseKind> {
            self.events.push(format!("handshake {}", hs.info_hash));
            Ok(())
        }
        fn on_message(&mut self, msg: Message<'_>) -> Result<(), CloseKind> {
            self.events.push(format!("{msg:?}"));
            Ok(())
        }
        fn on_block_start(
            &mut self,
            p: PieceIndex,
            offset: u32,
            len: u32,
        ) -> Result<(), CloseKind> {
            self.events.push(format!("block {} {offset} {len}", p.0));
            Ok(())
        }
        fn on_block_data(&mut self, data: &[u8]) {
            assert!(!data.is_empty());
            self.data.extend_from_slice(data);
            self.slices += 1;
        }
        fn on_block_end(&mut self) -> Result<(), CloseKind> {
            let sum: u64 = self.data.iter().map(|&b| u64::from(b)).sum();
            self.events
                .push(format!("end {} bytes sum {sum}", self.data.len()));
            self.data.clear();
            Ok(())
        }
    }

    fn stream() -> Vec<u8> {
        let mut hs = Handshake::new(InfoHash([7; 20]), PeerId([1; 20]));
        hs.set(peer::ReservedBit::FAST_EXTENSION, true);
        let mut out = hs.encode().to_vec();
        let block: Vec<u8> = (0..16384u32).map(|i| (i % 251) as u8).collect();
        for msg in [
            Message::Bitfield(&[0xff, 0xc0]),
            Message::KeepAlive,
            Message::Unchoke,
            Message::Piece {
                piece: PieceIndex(3),
                offset: 16384,
                data: &block,
            },
            Message::Extended {
                id: 0,
                payload: b"d1:md6:ut_pexi1eee",
            },
            Message::Piece {
                piece: PieceIndex(9),
                offset: 0,
                data: &[],
            },
            Message::Unknown { id: 99, len: 6 },
            Message::Reject(BlockRef {
                piece: PieceIndex(1),
                offset: 0,
                len: 16384,
            }),
            Message::Piece {
                piece: PieceIndex(4),
                offset: 0,
                data: &block[..100],
            },
        ] {
            encode(&msg, &mut out);
        }
        out
    }

    fn run(chunks: &[&[u8]]) -> Result<Log, CloseKind> {
        let mut f = Framer::new(peer::max_frame_for(10));
        let mut log = Log::default();
        for c in chunks {
            f.feed(c, &mut log)?;
        }
        Ok(log)
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let bytes = stream();
        let whole = run(&[&bytes]).unwrap();
        assert_eq!(whole.events.len(), 13, "{:?}", whole.events);
        assert_eq!(whole.events[4], "block 3 16384 16384");
        assert_eq!(whole.events[8], "end 0 bytes sum 0");
        assert_eq!(whole.events[9], "Unknown { id: 99, len: 6 }");
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            let split = run(&[a, b]).unwrap();
            assert_eq!(split.events, whole.events, "split at {at}");
        }
    }

    #[test]
    fn byte_by_byte_gives_the_same_events() {
        let bytes = stream();
        let whole = run(&[&bytes]).unwrap();
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&singles).unwrap().events, whole.events);
    }

    #[test]
    fn block_data_is_passed_through_in_the_slices_it_arrived_in() {
        let bytes = stream();
        let whole = run(&[&bytes]).unwrap();
        // One slice per non-empty block when everything arrives at once: no reassembly.
        assert_eq!(whole.slices, 2);
        let parts: Vec<&[u8]> = bytes.chunks(1000).collect();
        let chunked = run(&parts).unwrap();
        assert!(chunked.slices >= 17, "{}", chunked.slices);
    }

    #[test]
    fn refuses_bad_input_early() {
        let hs = Handshake::new(InfoHash([7; 20]), PeerId([1; 20])).encode();
        // An encrypted or foreign stream: refused at the first byte.
        assert_eq!(run(&[&[0x42]]).unwrap_err(), CloseKind::BadHandshake);
        // A frame over the cap: refused after its 4-byte prefix, before any payload.
        let mut over = hs.to_vec();
        over.extend_from_slice(&(peer::max_frame_for(10) + 1).to_be_bytes());
        assert_eq!(run(&[&over]).unwrap_err(), CloseKind::Protocol);
        // A `have` of the wrong length: refused at its id byte.
        let mut bad = hs.to_vec();
        bad.extend_from_slice(&[0, 0, 0, 4, id::HAVE]);
        assert_eq!(run(&[&bad]).unwrap_err(), CloseKind::Protocol);
        // A `piece` too short for its index and offset.
        let mut short = hs.to_vec();
        short.extend_from_slice(&[0, 0, 0, 5, id::PIECE]);
        assert_eq!(run(&[&short]).unwrap_err(), CloseKind::Protocol);
    }
}
