//! The session driven through the framer with encoded messages, as the I/O loop does.

use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use super::*;
use crate::framer::Framer;
use crate::plan::{Geometry, Pattern, Rng};
use hivebt::types::BLOCK_SIZE;

const PIECE: u32 = 32 * 1024;

/// Three 32 KiB pieces and a last one of 5,000 bytes.
fn geometry() -> Geometry {
    Geometry {
        piece_count: 4,
        piece_length: PIECE,
        total_length: 3 * u64::from(PIECE) + 5000,
    }
}

fn content() -> Vec<u8> {
    (0..geometry().total_length)
        .map(|i| (i * 13 % 251) as u8)
        .collect()
}

struct Harness {
    setup: Setup,
    planner: Planner,
    stats: Stats,
    framer: Framer,
    session: Session,
    now: Instant,
    /// Our handshake has been taken off the output.
    sent_handshake: bool,
    data: Vec<u8>,
}

impl Harness {
    fn new(depth: usize, verify: bool, idle: bool, pattern: Pattern) -> Harness {
        let data = content();
        let hashes = data
            .chunks(PIECE as usize)
            .map(|p| Sha1::digest(p).into())
            .collect();
        let setup = Setup {
            info_hash: InfoHash([9; 20]),
            hashes,
            depth,
            verify,
            idle,
        };
        let g = geometry();
        let mut session = Session::new(&setup, g.piece_count, PeerId([1; 20]));
        session.start(&setup);
        Harness {
            planner: Planner::new(g, pattern, Rng::new(5)),
            setup,
            stats: Stats::new(),
            framer: Framer::new(peer::max_frame_for(g.piece_count)),
            session,
            now: Instant::now(),
            sent_handshake: false,
            data,
        }
    }

    /// Feeds raw bytes from the seeder, then lets the session top up its requests.
    fn recv_bytes(&mut self, bytes: &[u8]) -> Result<(), CloseKind> {
        let mut env = Env {
            setup: &self.setup,
            planner: &mut self.planner,
            stats: &mut self.stats,
            now: self.now,
        };
        self.framer.feed(bytes, &mut self.session.sink(&mut env))?;
        self.session.fill(&mut env);
        Ok(())
    }

    fn recv(&mut self, msgs: &[Message<'_>]) -> Result<(), CloseKind> {
        let mut bytes = Vec::new();
        for m in msgs {
            peer::encode(m, &mut bytes);
        }
        self.recv_bytes(&bytes)
    }

    fn handshake(&mut self, info_hash: InfoHash, fast: bool) -> Result<(), CloseKind> {
        let mut hs = Handshake::new(info_hash, PeerId([2; 20]));
        hs.set(ReservedBit::FAST_EXTENSION, fast);
        hs.set(ReservedBit::EXTENSION_PROTOCOL, true);
        self.recv_bytes(&hs.encode())
    }

    /// Handshake, have_all and unchoke from a fast-extension seeder.
    fn open(&mut self) {
        self.handshake(InfoHash([9; 20]), true).unwrap();
        self.recv(&[Message::HaveAll, Message::Unchoke]).unwrap();
    }

    /// What the session has written since the last call, as debug strings.
    fn sent(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.session.out.write_to(&mut out).unwrap();
        let mut rest = &out[..];
        if !self.sent_handshake {
            let (hs, _) = Handshake::decode(rest).unwrap().unwrap();
            assert!(hs.has(ReservedBit::FAST_EXTENSION));
            assert!(hs.has(ReservedBit::EXTENSION_PROTOCOL));
            assert_eq!(hs.info_hash, InfoHash([9; 20]));
            rest = &rest[68..];
            self.sent_handshake = true;
        }
        let mut msgs = Vec::new();
        while let Some((m, used)) = peer::decode(rest, 1 << 20).unwrap() {
            msgs.push(match m {
                Message::Extended { id, .. } => format!("Extended({id})"),
                m => format!("{m:?}"),
            });
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        msgs
    }

    /// The requests the session has written since the last call.
    fn requests(&mut self) -> Vec<BlockRef> {
        let mut out = Vec::new();
        self.session.out.write_to(&mut out).unwrap();
        let mut rest = &out[..];
        if !self.sent_handshake {
            rest = &rest[68..];
            self.sent_handshake = true;
        }
        let mut blocks = Vec::new();
        while let Some((m, used)) = peer::decode(rest, 1 << 20).unwrap() {
            if let Message::Request(b) = m {
                blocks.push(b);
            }
            rest = &rest[used..];
        }
        blocks
    }

    /// The bytes of `block` as the seeder would send them.
    fn piece_bytes(&self, block: BlockRef, corrupt: bool) -> Vec<u8> {
        let start = block.piece.0 as usize * PIECE as usize + block.offset as usize;
        let mut data = self.data[start..start + block.len as usize].to_vec();
        if corrupt {
            data[0] ^= 0xff;
        }
        let mut out = Vec::new();
        peer::encode(
            &Message::Piece {
                piece: block.piece,
                offset: block.offset,
                data: &data,
            },
            &mut out,
        );
        out
    }

    fn serve(&mut self, block: BlockRef) {
        let bytes = self.piece_bytes(block, false);
        self.recv_bytes(&bytes).unwrap();
    }
}

#[test]
fn handshake_then_interest_then_requests_once_unchoked() {
    let mut h = Harness::new(4, false, false, Pattern::Sequential);
    assert_eq!(
        h.sent(),
        Vec::<String>::new(),
        "only our handshake before theirs"
    );
    h.handshake(InfoHash([9; 20]), true).unwrap();
    assert!(h.session.handshaken());
    assert_eq!(h.sent(), ["Extended(0)", "HaveNone", "Interested"]);
    h.recv(&[Message::HaveAll]).unwrap();
    assert!(h.requests().is_empty(), "no requests while choked");
    h.recv(&[Message::Unchoke]).unwrap();
    let got = h.requests();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], geometry().block_at(PieceIndex(0), 0));
    assert_eq!(got[1], geometry().block_at(PieceIndex(0), BLOCK_SIZE));
    assert_eq!(got[2], geometry().block_at(PieceIndex(1), 0));
    assert_eq!(h.stats.connections_handshaken, 1);
}

#[test]
fn no_fast_extension_means_no_have_none() {
    let mut h = Harness::new(4, false, false, Pattern::Random);
    h.handshake(InfoHash([9; 20]), false).unwrap();
    assert_eq!(h.sent(), ["Extended(0)", "Interested"]);
}

#[test]
fn idle_sessions_only_handshake() {
    let mut h = Harness::new(4, false, true, Pattern::Random);
    h.handshake(InfoHash([9; 20]), true).unwrap();
    h.recv(&[Message::HaveAll, Message::Unchoke, Message::KeepAlive])
        .unwrap();
    assert_eq!(h.sent(), ["Extended(0)", "HaveNone"]);
}

#[test]
fn another_torrent_is_refused() {
    let mut h = Harness::new(4, false, false, Pattern::Random);
    assert_eq!(
        h.handshake(InfoHash([8; 20]), true),
        Err(CloseKind::WrongTorrent)
    );
}

#[test]
fn each_block_is_counted_timed_and_replaced() {
    let mut h = Harness::new(3, false, false, Pattern::Sequential);
    h.open();
    let first = h.requests();
    assert_eq!(first.len(), 3);
    h.now += Duration::from_millis(7);
    // The block arrives in three reads: counted as it comes, timed at its end.
    let bytes = h.piece_bytes(first[0], false);
    let (a, rest) = bytes.split_at(5);
    let (b, c) = rest.split_at(9000);
    h.recv_bytes(a).unwrap();
    h.recv_bytes(b).unwrap();
    assert_eq!(h.stats.requests_completed, 0);
    h.recv_bytes(c).unwrap();
    assert_eq!(h.stats.bytes, u64::from(BLOCK_SIZE));
    assert_eq!(h.stats.requests_completed, 1);
    assert_eq!(
        h.stats.latency_us.max(),
        h.stats.latency_us.highest_equivalent(7000)
    );
    assert_eq!(h.requests().len(), 1, "one request replaces the block");
    assert_eq!(h.session.in_flight(), 3);
}

#[test]
fn rejected_blocks_are_asked_for_again_first() {
    let mut h = Harness::new(2, false, false, Pattern::Sequential);
    h.open();
    let first = h.requests();
    h.recv(&[Message::Reject(first[1])]).unwrap();
    assert_eq!(h.requests(), [first[1]]);
    assert_eq!(h.stats.requests_rejected, 1);
    // A reject for something not asked for changes nothing.
    h.recv(&[Message::Reject(geometry().block_at(PieceIndex(3), 0))])
        .unwrap();
    assert!(h.requests().is_empty());
    assert_eq!(h.stats.requests_rejected, 1);
}

#[test]
fn a_choke_without_the_fast_extension_drops_every_request() {
    let mut h = Harness::new(3, false, false, Pattern::Sequential);
    h.handshake(InfoHash([9; 20]), false).unwrap();
    h.recv(&[Message::HaveAll, Message::Unchoke]).unwrap();
    let first = h.requests();
    h.recv(&[Message::Choke]).unwrap();
    assert_eq!(h.session.in_flight(), 0);
    assert!(h.requests().is_empty());
    h.recv(&[Message::Unchoke]).unwrap();
    assert_eq!(h.requests(), first);
}

#[test]
fn a_choke_with_the_fast_extension_waits_for_rejects() {
    let mut h = Harness::new(3, false, false, Pattern::Sequential);
    h.open();
    let first = h.requests();
    h.recv(&[Message::Choke]).unwrap();
    assert_eq!(h.session.in_flight(), 3);
    h.recv(&[Message::Reject(first[0])]).unwrap();
    assert!(h.requests().is_empty(), "no requests while choked");
    h.serve(first[1]);
    h.recv(&[Message::Unchoke]).unwrap();
    assert_eq!(
        h.requests(),
        [first[0], geometry().block_at(PieceIndex(1), 16384)]
    );
}

#[test]
fn the_seeders_reqq_caps_the_depth() {
    let mut h = Harness::new(8, false, false, Pattern::Random);
    h.handshake(InfoHash([9; 20]), true).unwrap();
    let ext = ExtHandshake {
        reqq: Some(2),
        ..ExtHandshake::default()
    };
    h.recv(&[
        Message::Extended {
            id: 0,
            payload: &ext.encode(),
        },
        Message::HaveAll,
        Message::Unchoke,
    ])
    .unwrap();
    assert_eq!(h.requests().len(), 2);
}

#[test]
fn requests_go_only_to_pieces_the_seeder_has() {
    let mut h = Harness::new(6, false, false, Pattern::Random);
    h.handshake(InfoHash([9; 20]), true).unwrap();
    h.recv(&[Message::Unchoke]).unwrap();
    assert!(h.requests().is_empty(), "nothing to ask before a bitfield");
    h.recv(&[Message::Bitfield(&[0b0100_0000])]).unwrap();
    let got = h.requests();
    assert_eq!(got.len(), 2, "piece 1's two blocks, each once: {got:?}");
    assert!(got.iter().all(|b| b.piece == PieceIndex(1)));
    h.recv(&[Message::Have(PieceIndex(3))]).unwrap();
    assert_eq!(
        h.recv(&[Message::Have(PieceIndex(4))]),
        Err(CloseKind::Protocol)
    );
}

#[test]
fn a_bad_bitfield_or_block_length_closes() {
    let mut h = Harness::new(2, false, false, Pattern::Sequential);
    h.handshake(InfoHash([9; 20]), true).unwrap();
    assert_eq!(
        h.recv(&[Message::Bitfield(&[0xff])]),
        Err(CloseKind::Protocol)
    );
    let mut h = Harness::new(2, false, false, Pattern::Sequential);
    h.open();
    let first = h.requests();
    let short = Message::Piece {
        piece: first[0].piece,
        offset: first[0].offset,
        data: &[0; 10],
    };
    assert_eq!(h.recv(&[short]), Err(CloseKind::Protocol));
}

#[test]
fn unrequested_blocks_are_skipped() {
    let mut h = Harness::new(1, false, false, Pattern::Sequential);
    h.open();
    h.requests();
    h.serve(geometry().block_at(PieceIndex(2), 0));
    assert_eq!(h.stats.blocks_unrequested, 1);
    assert_eq!(h.stats.bytes, 0);
    assert_eq!(h.stats.requests_completed, 0);
    assert!(h.requests().is_empty());
}

#[test]
fn verify_checks_each_piece_in_any_order_within_the_depth() {
    let mut h = Harness::new(4, true, false, Pattern::Sequential);
    h.open();
    // Serve everything, newest request first, so most blocks arrive out of order.
    let mut served = 0;
    while h.stats.pieces_verified < 8 {
        let mut got = h.requests();
        assert!(
            h.session.in_flight() + h.session.kept() <= 4,
            "more than depth blocks held"
        );
        got.reverse();
        for b in got {
            h.serve(b);
            served += 1;
        }
        assert!(served < 1000, "no progress");
    }
    assert_eq!(h.stats.pieces_failed, 0);
    assert!(h.stats.bytes > 2 * geometry().total_length);
}

#[test]
fn verify_reports_a_corrupt_piece() {
    let mut h = Harness::new(4, true, false, Pattern::Sequential);
    h.open();
    let got = h.requests();
    assert_eq!(got[0], geometry().block_at(PieceIndex(0), 0));
    assert_eq!(got[1], geometry().block_at(PieceIndex(0), BLOCK_SIZE));
    let bad = h.piece_bytes(got[1], true);
    h.serve(got[0]);
    h.recv_bytes(&bad).unwrap();
    assert_eq!(h.stats.pieces_failed, 1);
    assert_eq!(h.stats.pieces_verified, 0);
    h.serve(got[2]);
    h.serve(got[3]);
    assert_eq!(h.stats.pieces_verified, 1);
}

#[test]
fn verify_with_random_pieces_never_opens_one_twice() {
    let mut h = Harness::new(16, true, false, Pattern::Random);
    h.open();
    let got = h.requests();
    // 4 pieces in the torrent: at most 4 open, so at most 2+2+2+1 blocks asked for.
    assert!(got.len() <= 7, "{got:?}");
    let mut seen = std::collections::BTreeSet::new();
    for b in &got {
        assert!(seen.insert((b.piece, b.offset)), "{b:?} asked for twice");
    }
}

#[test]
fn a_block_is_never_in_flight_twice_on_one_connection() {
    // 7 blocks in the torrent, depth 16: the walk wraps, the duplicates are skipped.
    for pattern in [Pattern::Sequential, Pattern::Random] {
        let mut h = Harness::new(16, false, false, pattern);
        h.open();
        let got = h.requests();
        let mut seen = std::collections::BTreeSet::new();
        for b in &got {
            assert!(seen.insert((b.piece, b.offset)), "{pattern:?}: {b:?} twice");
        }
        if pattern == Pattern::Sequential {
            assert_eq!(got.len(), 7);
        }
    }
}
