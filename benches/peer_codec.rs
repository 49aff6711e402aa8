//! Peer wire codec throughput (`wire::peer`): decoding a receive buffer of frames,
//! encoding them, and the `piece` header an upload sends in front of a block.
//!
//! The stream is what a downloading connection receives: frames drawn at random, by
//! count 60 % `piece` (16 KiB blocks), 20 % `have`, 15 % `request`, 5 % `cancel`; by
//! bytes almost all `piece` data. It is decoded the way a session drains its receive
//! buffer: `decode` at the front, advance by the bytes used, until `Ok(None)`. The
//! decoder borrows block data rather than copying it, so the decode rate in MB/s is
//! mostly the rate of stepping over blocks; the encoder copies them. A second stream of
//! `request` and `have` frames only measures the small-frame path in messages/s.
//!
//! Output, one line per measurement (MB = 10^6 bytes of frames, prefixes included;
//! percentiles are per-frame means over one pass of the stream):
//!
//! ```text
//! peer_codec decode stream           unit=ns/frame  p50=..  p90=..  p99=..  p99.9=..  max=..  MB/s=..  Mframes/s=..  samples=..  batch=256
//! ```
//!
//! Run with `cargo bench --bench peer_codec`; about 1.2 s per measurement.

mod common;

use std::hint::black_box;

use hivebt::types::{BLOCK_SIZE, BlockRef, PieceIndex};
use hivebt::wire::peer::{self, Message};

use common::Rng;

/// Pieces in the torrent the stream belongs to: sets the frame cap, as a session does.
const PIECE_COUNT: u32 = 10_000;

/// Blocks per piece (256 KiB pieces).
const BLOCKS_PER_PIECE: u32 = 16;

/// Frames in the mixed stream: about 2.5 MB, a few receive buffers' worth.
const STREAM_FRAMES: usize = 256;

/// Frames in the small-frame stream.
const SMALL_FRAMES: usize = 4096;

/// `piece_header` calls per sample.
const HEADER_BATCH: u64 = 1024;

/// Owned description of one frame of the stream; `Message` borrows its block data.
#[derive(Clone, Copy)]
enum Frame {
    Piece(BlockRef),
    Have(PieceIndex),
    Request(BlockRef),
    Cancel(BlockRef),
}

impl Frame {
    fn message<'a>(&self, data: &'a [u8]) -> Message<'a> {
        match *self {
            Frame::Piece(b) => Message::Piece {
                piece: b.piece,
                offset: b.offset,
                data: &data[..b.len as usize],
            },
            Frame::Have(p) => Message::Have(p),
            Frame::Request(b) => Message::Request(b),
            Frame::Cancel(b) => Message::Cancel(b),
        }
    }
}

fn random_block(rng: &mut Rng) -> BlockRef {
    BlockRef {
        piece: PieceIndex(rng.below(u64::from(PIECE_COUNT)) as u32),
        offset: rng.below(u64::from(BLOCKS_PER_PIECE)) as u32 * BLOCK_SIZE,
        len: BLOCK_SIZE,
    }
}

/// `count` frames in the mixed proportions of the module docs.
fn mixed_frames(rng: &mut Rng, count: usize) -> Vec<Frame> {
    (0..count)
        .map(|_| match rng.below(100) {
            0..60 => Frame::Piece(random_block(rng)),
            60..80 => Frame::Have(PieceIndex(rng.below(u64::from(PIECE_COUNT)) as u32)),
            80..95 => Frame::Request(random_block(rng)),
            _ => Frame::Cancel(random_block(rng)),
        })
        .collect()
}

/// `count` frames, half `request`, half `have`.
fn small_frames(rng: &mut Rng, count: usize) -> Vec<Frame> {
    (0..count)
        .map(|_| {
            if rng.chance(0.5) {
                Frame::Request(random_block(rng))
            } else {
                Frame::Have(PieceIndex(rng.below(u64::from(PIECE_COUNT)) as u32))
            }
        })
        .collect()
}

fn encode_all(frames: &[Frame], data: &[u8], out: &mut Vec<u8>) {
    for f in frames {
        peer::encode(&f.message(data), out);
    }
}

/// Decodes every frame of `stream` as a session drains its buffer; returns the frame
/// count and the sum of the `piece` data lengths, so nothing can be skipped.
fn decode_all(stream: &[u8], max_frame: u32) -> (usize, usize) {
    let mut at = 0;
    let mut frames = 0;
    let mut data = 0;
    loop {
        match peer::decode(&stream[at..], max_frame) {
            Ok(Some((message, used))) => {
                if let Message::Piece { data: d, .. } = black_box(message) {
                    data += d.len();
                }
                at += used;
                frames += 1;
            }
            Ok(None) => return (frames, data),
            Err(e) => panic!("peer_codec: frame {frames} at byte {at} does not decode: {e}"),
        }
    }
}

/// Panics unless `stream` decodes to exactly `frames`, block data included.
fn check_round_trip(frames: &[Frame], data: &[u8], stream: &[u8], max_frame: u32) {
    let mut at = 0;
    for (i, f) in frames.iter().enumerate() {
        match peer::decode(&stream[at..], max_frame) {
            Ok(Some((message, used))) => {
                assert_eq!(message, f.message(data), "peer_codec: frame {i} differs");
                at += used;
            }
            other => panic!("peer_codec: frame {i} did not decode: {other:?}"),
        }
    }
    assert_eq!(at, stream.len(), "peer_codec: stream has trailing bytes");
}

fn piece_data_len(frames: &[Frame]) -> usize {
    frames
        .iter()
        .map(|f| match f {
            Frame::Piece(b) => b.len as usize,
            _ => 0,
        })
        .sum()
}

fn main() {
    let mut rng = Rng::new(0x5eed_c0de);
    let max_frame = peer::max_frame_for(PIECE_COUNT);
    let mut data = vec![0u8; BLOCK_SIZE as usize];
    for chunk in data.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }

    let frames = mixed_frames(&mut rng, STREAM_FRAMES);
    let mut stream = Vec::new();
    encode_all(&frames, &data, &mut stream);
    check_round_trip(&frames, &data, &stream, max_frame);
    let data_len = piece_data_len(&frames);
    let pieces = frames
        .iter()
        .filter(|f| matches!(f, Frame::Piece(_)))
        .count();

    let small = small_frames(&mut rng, SMALL_FRAMES);
    let mut small_stream = Vec::new();
    encode_all(&small, &data, &mut small_stream);
    check_round_trip(&small, &data, &small_stream, max_frame);

    println!(
        "# wire::peer, one thread; mixed stream: {} frames ({pieces} piece), {} bytes; \
         small stream: {} request/have frames, {} bytes; max_frame={max_frame}",
        frames.len(),
        stream.len(),
        small.len(),
        small_stream.len()
    );

    let n = frames.len() as u64;
    let m = common::measure(n, || {
        let (decoded, decoded_data) = decode_all(black_box(&stream), max_frame);
        assert!(
            decoded == frames.len() && decoded_data == data_len,
            "peer_codec: decoded {decoded} frames and {decoded_data} data bytes"
        );
    });
    let frame_bytes = stream.len() as f64 / n as f64;
    m.print(
        "peer_codec",
        "decode stream",
        "ns/frame",
        &[
            ("MB/s", m.mb_per_sec(frame_bytes)),
            ("Mframes/s", m.ops_per_sec() / 1e6),
        ],
    );

    let n = small.len() as u64;
    let m = common::measure(n, || {
        let (decoded, _) = decode_all(black_box(&small_stream), max_frame);
        assert_eq!(decoded, small.len(), "peer_codec: small frames lost");
    });
    let frame_bytes = small_stream.len() as f64 / n as f64;
    m.print(
        "peer_codec",
        "decode request/have",
        "ns/frame",
        &[
            ("Mmsgs/s", m.ops_per_sec() / 1e6),
            ("MB/s", m.mb_per_sec(frame_bytes)),
        ],
    );

    // The encoder appends to a buffer the caller reuses, as the send queue does.
    let mut out = Vec::with_capacity(stream.len());
    let n = frames.len() as u64;
    let m = common::measure(n, || {
        out.clear();
        encode_all(black_box(&frames), black_box(&data), &mut out);
        black_box(&out);
    });
    assert!(
        out == stream,
        "peer_codec: encoding differs from the stream"
    );
    let frame_bytes = stream.len() as f64 / n as f64;
    m.print(
        "peer_codec",
        "encode stream",
        "ns/frame",
        &[
            ("MB/s", m.mb_per_sec(frame_bytes)),
            ("Mframes/s", m.ops_per_sec() / 1e6),
        ],
    );

    let mut out = Vec::with_capacity(small_stream.len());
    let n = small.len() as u64;
    let m = common::measure(n, || {
        out.clear();
        encode_all(black_box(&small), &data, &mut out);
        black_box(&out);
    });
    assert!(out == small_stream, "peer_codec: small encoding differs");
    m.print(
        "peer_codec",
        "encode request/have",
        "ns/frame",
        &[("Mmsgs/s", m.ops_per_sec() / 1e6)],
    );

    // An upload: the 13-byte header for a block sent from wherever it lies.
    let blocks: Vec<BlockRef> = (0..HEADER_BATCH).map(|_| random_block(&mut rng)).collect();
    let mut encoded = Vec::new();
    for b in &blocks {
        encoded.clear();
        peer::encode(&Frame::Piece(*b).message(&data), &mut encoded);
        let header = peer::piece_header(b.piece, b.offset, b.len);
        assert_eq!(
            header[..],
            encoded[..13],
            "peer_codec: piece_header differs"
        );
    }
    let m = common::measure(HEADER_BATCH, || {
        for b in black_box(&blocks) {
            black_box(peer::piece_header(b.piece, b.offset, b.len));
        }
    });
    m.print(
        "peer_codec",
        "piece_header",
        "ns/op",
        &[("Mheaders/s", m.ops_per_sec() / 1e6)],
    );
}
