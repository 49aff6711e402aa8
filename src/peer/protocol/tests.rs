//! The peer protocol driven by scripted message streams and a fake clock, with no
//! socket: each hostile case the integration tests see in the log gets a direct
//! assertion here.

use super::*;
use crate::peer::session::REQUEST_TIMEOUT;
use crate::torrent::paths::sanitize;
use crate::types::PeerId;
use crate::wire::metainfo::Metainfo;
use crate::wire::peer;

const PIECE: u32 = 2 * BLOCK_SIZE;

/// A torrent of `pieces` pieces of two blocks, some of them verified.
struct Torrent {
    layout: Layout,
    have: Bitfield,
    picker: Picker,
    assembly: Assembly,
    down: Rate,
    used: HashSet<SocketAddr>,
    ext: Registry,
}

impl Torrent {
    fn new(pieces: u32, have: &[u32]) -> Torrent {
        let text = format!(
            "d4:infod6:lengthi{}e4:name1:x12:piece lengthi{PIECE}e6:pieces{}:{}ee",
            pieces * PIECE,
            20 * pieces,
            "a".repeat(20 * pieces as usize)
        );
        let meta = Metainfo::from_bytes(text.as_bytes()).unwrap();
        let layout = Layout::new(&meta.info, &sanitize(&meta.info));
        let mut bits = Bitfield::new(pieces);
        for &p in have {
            bits.set(PieceIndex(p), true).unwrap();
        }
        let picker = Picker::new(
            pieces,
            u64::from(PIECE),
            u64::from(pieces * PIECE),
            |p| bits.get(p),
            7,
        )
        .unwrap();
        Torrent {
            layout,
            have: bits,
            picker,
            assembly: Assembly::default(),
            down: Rate::default(),
            used: HashSet::new(),
            ext: Registry::default(),
        }
    }

    fn ctx(&mut self) -> TorrentCtx<'_> {
        TorrentCtx {
            layout: &self.layout,
            have: &self.have,
            picker: &mut self.picker,
            assembly: &mut self.assembly,
            down: &mut self.down,
            peers_used: &mut self.used,
            extensions: &self.ext,
        }
    }
}

/// One session and what it queued, on a clock that starts at `t0`.
struct Peer {
    s: PeerSession,
    out: SendQueue,
    t0: Instant,
}

impl Peer {
    fn new(t: &Torrent, fast: bool) -> Peer {
        let t0 = Instant::now();
        let mut s = PeerSession::new(
            PeerKey(1),
            "127.0.0.1:6881".parse().unwrap(),
            PeerId([1; 20]),
            t.layout.piece_count(),
            t0,
        );
        s.fast = fast;
        s.extended = true;
        Peer {
            s,
            out: SendQueue::new(),
            t0,
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    fn on(&mut self, t: &mut Torrent, m: Message<'_>) -> Result<(), CloseReason> {
        let now = self.t0;
        self.s.on_message(m, &mut t.ctx(), &mut self.out, now)
    }

    /// Every message queued since the last call, as text (`have 3`, `reject 0+0`).
    fn sent(&mut self) -> Vec<String> {
        let mut bytes = Vec::new();
        self.out.write_to(&mut bytes).unwrap();
        let mut said = Vec::new();
        let mut rest = &bytes[..];
        while let Some((m, used)) = peer::decode(rest, 1 << 20).unwrap() {
            said.push(text(&m));
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "a partial frame was queued");
        said
    }

    /// The peer sends a full block `n` of `piece`.
    fn block(&mut self, t: &mut Torrent, piece: u32, n: u32) -> Result<(), CloseReason> {
        let data = vec![piece as u8 + 1; BLOCK_SIZE as usize];
        let m = Message::Piece {
            piece: PieceIndex(piece),
            offset: n * BLOCK_SIZE,
            data: &data,
        };
        self.on(t, m)
    }

    fn effects(&mut self) -> Vec<PeerEffect> {
        std::iter::from_fn(|| self.s.poll_effect()).collect()
    }
}

fn text(m: &Message<'_>) -> String {
    let b = |b: &BlockRef| format!("{}+{}", b.piece.0, b.offset / BLOCK_SIZE);
    match m {
        Message::KeepAlive => "keepalive".into(),
        Message::Choke => "choke".into(),
        Message::Unchoke => "unchoke".into(),
        Message::Interested => "interested".into(),
        Message::NotInterested => "not_interested".into(),
        Message::Have(p) => format!("have {}", p.0),
        Message::Bitfield(_) => "bitfield".into(),
        Message::Request(r) => format!("request {}", b(r)),
        Message::Cancel(r) => format!("cancel {}", b(r)),
        Message::Reject(r) => format!("reject {}", b(r)),
        Message::HaveAll => "have_all".into(),
        Message::HaveNone => "have_none".into(),
        Message::Extended { id, .. } => format!("extended {id}"),
        other => format!("{other:?}"),
    }
}

fn block(piece: u32, n: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex(piece),
        offset: n * BLOCK_SIZE,
        len: BLOCK_SIZE,
    }
}

fn bitfield_of(pieces: u32, set: &[u32]) -> Vec<u8> {
    let mut b = Bitfield::new(pieces);
    for &p in set {
        b.set(PieceIndex(p), true).unwrap();
    }
    b.as_wire().to_vec()
}

#[test]
fn the_greeting_says_what_we_have() {
    let seed = Torrent::new(4, &[0, 1, 2, 3]);
    let mut p = Peer::new(&seed, true);
    let g = Greeting {
        extensions: &seed.ext,
        listen_port: Some(6881),
        metadata_size: None,
    };
    p.s.greet(&seed.have, g, &mut p.out);
    assert_eq!(p.sent(), ["extended 0", "have_all"]);
    let empty = Torrent::new(4, &[]);
    let mut p = Peer::new(&empty, true);
    p.s.greet(&empty.have, g, &mut p.out);
    assert_eq!(p.sent(), ["extended 0", "have_none"]);
    // Without the fast extension: a bitfield, or nothing when we have nothing.
    let some = Torrent::new(4, &[1]);
    let mut p = Peer::new(&some, false);
    p.s.extended = false;
    p.s.greet(&some.have, g, &mut p.out);
    assert_eq!(p.sent(), ["bitfield"]);
    let mut p = Peer::new(&empty, false);
    p.s.extended = false;
    p.s.greet(&empty.have, g, &mut p.out);
    assert!(p.sent().is_empty());
}

#[test]
fn a_download_from_a_seed_requests_assembles_and_verifies() {
    let mut t = Torrent::new(2, &[]);
    let mut p = Peer::new(&t, true);
    p.on(&mut t, Message::HaveAll).unwrap();
    assert_eq!(p.sent(), ["interested"]);
    assert_eq!(p.effects(), [PeerEffect::Request]);
    assert_eq!(p.s.request_room(false), 0, "choked: no requests");
    p.on(&mut t, Message::Unchoke).unwrap();
    assert_eq!(p.effects(), [PeerEffect::Request]);
    let room = p.s.request_room(false);
    assert!(room >= 4, "slow start gives at least the minimum pipeline");
    let asked = p.s.send_requests(&mut t.picker, room, p.t0, &mut p.out);
    assert_eq!(
        asked,
        4 * u64::from(BLOCK_SIZE),
        "every block of both pieces"
    );
    let mut requested = p.sent();
    requested.sort();
    assert_eq!(
        requested,
        ["request 0+0", "request 0+1", "request 1+0", "request 1+1"]
    );
    for n in 0..2 {
        p.block(&mut t, 1, n).unwrap();
    }
    let fx = p.effects();
    let verify: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            PeerEffect::VerifyPiece { piece, data } => Some((piece.0, data.len())),
            _ => None,
        })
        .collect();
    assert_eq!(verify, [(1, PIECE as usize)]);
    assert_eq!(
        fx.iter().filter(|e| **e == PeerEffect::Request).count(),
        1,
        "a flag effect is queued once"
    );
    assert!(t.assembly.is_writing(PieceIndex(1)));
    assert_eq!(t.down.total(), u64::from(PIECE));
    assert_eq!(t.used.len(), 1);
    assert_eq!(p.s.requests_out.len(), 2, "piece 0 still out");
}

#[test]
fn an_unrequested_block_is_dropped() {
    let mut t = Torrent::new(2, &[]);
    let mut p = Peer::new(&t, true);
    p.on(&mut t, Message::HaveAll).unwrap();
    p.effects();
    p.block(&mut t, 0, 0).unwrap();
    assert!(p.effects().is_empty());
    assert_eq!(t.down.total(), 0);
    assert!(!t.assembly.writing());
}

#[test]
fn bitfields_may_only_add_pieces_and_come_before_have_all() {
    let mut t = Torrent::new(10, &[]);
    let mut p = Peer::new(&t, true);
    p.on(&mut t, Message::Have(PieceIndex(3))).unwrap();
    assert_eq!(p.sent(), ["interested"]);
    let more = bitfield_of(10, &[3, 4]);
    p.on(&mut t, Message::Bitfield(&more)).unwrap();
    // A later bitfield that adds pieces is accepted (aria2 sends one for haves) ...
    let again = bitfield_of(10, &[3, 4, 5]);
    p.on(&mut t, Message::Bitfield(&again)).unwrap();
    // ... one that takes a piece away is not.
    let fewer = bitfield_of(10, &[4, 5]);
    assert_eq!(
        p.on(&mut t, Message::Bitfield(&fewer)),
        Err(CloseReason::ProtocolViolation)
    );
    // have_all after a bitfield, or twice, is a violation.
    assert_eq!(
        p.on(&mut t, Message::HaveAll),
        Err(CloseReason::ProtocolViolation)
    );
    let mut q = Peer::new(&t, true);
    q.on(&mut t, Message::HaveNone).unwrap();
    assert_eq!(
        q.on(&mut t, Message::HaveNone),
        Err(CloseReason::ProtocolViolation)
    );
    // Without the fast extension have_all does not exist.
    let mut r = Peer::new(&t, false);
    assert_eq!(
        r.on(&mut t, Message::HaveAll),
        Err(CloseReason::ProtocolViolation)
    );
}

#[test]
fn a_have_or_bitfield_out_of_range_closes() {
    let mut t = Torrent::new(10, &[]);
    let mut p = Peer::new(&t, true);
    assert_eq!(
        p.on(&mut t, Message::Have(PieceIndex(10))),
        Err(CloseReason::ProtocolViolation)
    );
    // Spare bits set past the last piece.
    let mut q = Peer::new(&t, true);
    assert_eq!(
        q.on(&mut t, Message::Bitfield(&[0xff, 0xff])),
        Err(CloseReason::ProtocolViolation)
    );
}

#[test]
fn a_seed_meeting_a_seed_closes_both_seeding() {
    let mut t = Torrent::new(4, &[0, 1, 2, 3]);
    let mut p = Peer::new(&t, true);
    assert_eq!(
        p.on(&mut t, Message::HaveAll),
        Err(CloseReason::BothSeeding)
    );
    let all = bitfield_of(4, &[0, 1, 2, 3]);
    let mut q = Peer::new(&t, false);
    assert_eq!(
        q.on(&mut t, Message::Bitfield(&all)),
        Err(CloseReason::BothSeeding)
    );
}

#[test]
fn requests_are_checked_queued_rejected_and_cancelled() {
    let mut t = Torrent::new(4, &[0, 1, 2, 3]);
    let mut p = Peer::new(&t, true);
    // Choked: rejected (BEP 6).
    p.on(&mut t, Message::Request(block(0, 0))).unwrap();
    assert_eq!(p.sent(), ["reject 0+0"]);
    p.s.set_choking(false, p.t0, &mut p.out);
    assert_eq!(p.sent(), ["unchoke"]);
    p.on(&mut t, Message::Request(block(0, 0))).unwrap();
    p.on(&mut t, Message::Request(block(0, 0))).unwrap();
    assert_eq!(p.s.requests_in.len(), 1, "a duplicate is queued once");
    assert_eq!(p.effects(), [PeerEffect::Serve]);
    // Cancel answers a queued request with a reject; an unknown one with nothing.
    p.on(&mut t, Message::Cancel(block(0, 0))).unwrap();
    p.on(&mut t, Message::Cancel(block(1, 0))).unwrap();
    assert_eq!(p.sent(), ["reject 0+0"]);
    // Out of the torrent, past the piece, empty or longer than a block: closed.
    for bad in [
        block(4, 0),
        block(0, 2),
        BlockRef {
            len: 0,
            ..block(0, 0)
        },
        BlockRef {
            len: BLOCK_SIZE + 1,
            ..block(0, 0)
        },
    ] {
        assert_eq!(
            p.on(&mut t, Message::Request(bad)),
            Err(CloseReason::BadRequest),
            "{bad:?}"
        );
    }
    // A choke rejects everything queued.
    p.on(&mut t, Message::Request(block(2, 1))).unwrap();
    p.s.set_choking(true, p.t0, &mut p.out);
    assert_eq!(p.sent(), ["choke", "reject 2+1"]);
    assert!(p.s.requests_in.is_empty());
}

#[test]
fn the_request_queue_is_bounded() {
    let pieces = 300;
    let all: Vec<u32> = (0..pieces).collect();
    let mut t = Torrent::new(pieces, &all);
    let mut p = Peer::new(&t, true);
    p.s.set_choking(false, p.t0, &mut p.out);
    p.sent();
    for i in 0..MAX_REQUESTS_IN as u32 + 3 {
        p.on(&mut t, Message::Request(block(i / 2, i % 2))).unwrap();
    }
    assert_eq!(p.s.requests_in.len(), MAX_REQUESTS_IN);
    assert_eq!(p.sent().len(), 3, "three rejects past the limit");
    // Without the fast extension the only answer is to close.
    let mut q = Peer::new(&t, false);
    q.s.set_choking(false, q.t0, &mut q.out);
    for i in 0..MAX_REQUESTS_IN as u32 {
        q.on(&mut t, Message::Request(block(i / 2, i % 2))).unwrap();
    }
    assert_eq!(
        q.on(&mut t, Message::Request(block(299, 0))),
        Err(CloseReason::BadRequest)
    );
    // And a request while choked is dropped in silence.
    let mut r = Peer::new(&t, false);
    r.on(&mut t, Message::Request(block(0, 0))).unwrap();
    assert!(r.sent().is_empty());
    assert!(r.s.requests_in.is_empty());
}

#[test]
fn a_reject_while_unchoked_marks_the_piece_refused_until_have() {
    let mut t = Torrent::new(2, &[]);
    let mut p = Peer::new(&t, true);
    p.on(&mut t, Message::HaveAll).unwrap();
    p.on(&mut t, Message::Unchoke).unwrap();
    p.s.send_requests(&mut t.picker, 4, p.t0, &mut p.out);
    p.on(&mut t, Message::Reject(block(0, 1))).unwrap();
    assert!(p.s.refused(PieceIndex(0)));
    assert!(!p.s.refused(PieceIndex(1)));
    assert_eq!(p.s.requests_out.len(), 3);
    // Asked again, it skips the refused piece.
    p.s.requests_out.clear();
    p.sent();
    let mut t2 = Torrent::new(2, &[]);
    let mut q = Peer::new(&t2, true);
    q.s.refuse(PieceIndex(0));
    q.on(&mut t2, Message::HaveAll).unwrap();
    q.on(&mut t2, Message::Unchoke).unwrap();
    q.sent();
    q.s.send_requests(&mut t2.picker, 4, q.t0, &mut q.out);
    let mut asked = q.sent();
    asked.sort();
    assert_eq!(asked, ["request 1+0", "request 1+1"]);
    q.on(&mut t2, Message::Have(PieceIndex(0))).unwrap();
    assert!(!q.s.refused(PieceIndex(0)), "have clears the refusal");
}

#[test]
fn a_choke_without_the_fast_extension_drops_our_requests() {
    let mut t = Torrent::new(2, &[]);
    let all = bitfield_of(2, &[0, 1]);
    let mut p = Peer::new(&t, false);
    p.on(&mut t, Message::Bitfield(&all)).unwrap();
    p.on(&mut t, Message::Unchoke).unwrap();
    p.s.send_requests(&mut t.picker, 4, p.t0, &mut p.out);
    p.on(&mut t, Message::Choke).unwrap();
    assert!(p.s.requests_out.is_empty());
    // The blocks are pickable again for another peer.
    let mut q = Peer::new(&t, false);
    q.s.key = PeerKey(2);
    q.on(&mut t, Message::Bitfield(&all)).unwrap();
    q.on(&mut t, Message::Unchoke).unwrap();
    assert_eq!(
        q.s.send_requests(&mut t.picker, 4, q.t0, &mut q.out),
        4 * u64::from(BLOCK_SIZE)
    );
    // With it, the requests stay until answered or rejected.
    let mut t = Torrent::new(2, &[]);
    let mut f = Peer::new(&t, true);
    f.on(&mut t, Message::HaveAll).unwrap();
    f.on(&mut t, Message::Unchoke).unwrap();
    f.s.send_requests(&mut t.picker, 4, f.t0, &mut f.out);
    f.on(&mut t, Message::Choke).unwrap();
    assert_eq!(f.s.requests_out.len(), 4);
}

#[test]
fn an_endgame_duplicate_cancels_the_other_request() {
    let mut t = Torrent::new(1, &[]);
    let mut a = Peer::new(&t, true);
    let mut b = Peer::new(&t, true);
    b.s.key = PeerKey(2);
    for p in [&mut a, &mut b] {
        p.on(&mut t, Message::HaveAll).unwrap();
        p.on(&mut t, Message::Unchoke).unwrap();
    }
    a.s.send_requests(&mut t.picker, 4, a.t0, &mut a.out);
    // Every block is out to `a`: `b` gets the endgame duplicates.
    b.s.send_requests(&mut t.picker, 4, b.t0, &mut b.out);
    assert_eq!(b.s.requests_out.len(), 2);
    a.effects();
    b.block(&mut t, 0, 0).unwrap();
    let cancels: Vec<_> = b
        .effects()
        .into_iter()
        .filter(|e| matches!(e, PeerEffect::Cancel { .. }))
        .collect();
    assert_eq!(
        cancels,
        [PeerEffect::Cancel {
            peer: PeerKey(1),
            block: block(0, 0)
        }]
    );
    a.sent();
    assert!(a.s.cancel(block(0, 0), &mut a.out));
    assert_eq!(a.sent(), ["cancel 0+0"]);
    assert!(!a.s.cancel(block(0, 0), &mut a.out), "cancelled once");
}

#[test]
fn the_second_sweep_times_out_requests_keeps_alive_and_closes_the_silent() {
    let mut t = Torrent::new(2, &[]);
    let mut p = Peer::new(&t, true);
    p.on(&mut t, Message::HaveAll).unwrap();
    p.on(&mut t, Message::Unchoke).unwrap();
    p.s.send_requests(&mut t.picker, 4, p.t0, &mut p.out);
    p.sent();
    let secs = REQUEST_TIMEOUT.as_secs();
    p.s.on_second(&mut t.picker, p.at(secs - 1), &mut p.out)
        .unwrap();
    assert_eq!(p.s.requests_out.len(), 4);
    assert!(p.sent().is_empty());
    p.s.on_second(&mut t.picker, p.at(secs), &mut p.out)
        .unwrap();
    assert!(p.s.requests_out.is_empty(), "timed out");
    let mut again = Vec::new();
    t.picker.on_have_all(PeerKey(9));
    t.picker.pick(PeerKey(9), |_| true, 4, &mut again);
    assert_eq!(again.len(), 4, "their blocks went back to the picker");
    p.s.on_second(
        &mut t.picker,
        p.at(KEEPALIVE_INTERVAL.as_secs()),
        &mut p.out,
    )
    .unwrap();
    assert_eq!(p.sent(), ["keepalive"]);
    assert_eq!(
        p.s.on_second(
            &mut t.picker,
            p.at(INACTIVITY_TIMEOUT.as_secs()),
            &mut p.out
        ),
        Err(CloseReason::Inactive)
    );
}

#[test]
fn extended_messages_and_port() {
    let mut t = Torrent::new(2, &[]);
    t.ext = Registry::new(&[Extension::UtPex]);
    let mut p = Peer::new(&t, true);
    let hs = ExtHandshake {
        m: [("ut_pex".to_string(), 9), ("ut_metadata".to_string(), 3)].into(),
        v: Some("Test 1.0".into()),
        reqq: Some(250),
        ..ExtHandshake::default()
    }
    .encode();
    p.on(
        &mut t,
        Message::Extended {
            id: 0,
            payload: &hs,
        },
    )
    .unwrap();
    assert_eq!(p.s.peer_reqq, Some(250));
    assert_eq!(p.s.client.as_deref(), Some("Test 1.0"));
    assert_eq!(p.s.extensions.id_for(Extension::UtPex), Some(9));
    assert_eq!(p.s.extensions.id_for(Extension::UtMetadata), None);
    // A malformed handshake is ignored, as is a message under an id we never gave.
    p.on(
        &mut t,
        Message::Extended {
            id: 0,
            payload: b"i1e",
        },
    )
    .unwrap();
    assert_eq!(p.s.peer_reqq, Some(250));
    p.on(
        &mut t,
        Message::Extended {
            id: 1,
            payload: b"de",
        },
    )
    .unwrap();
    assert!(p.effects().is_empty());
    // Ours goes to its handler.
    p.on(
        &mut t,
        Message::Extended {
            id: 2,
            payload: b"de",
        },
    )
    .unwrap();
    p.on(&mut t, Message::Port(6881)).unwrap();
    assert_eq!(
        p.effects(),
        [
            PeerEffect::Extended {
                ext: Extension::UtPex,
                payload: b"de".to_vec()
            },
            PeerEffect::DhtPort(6881)
        ]
    );
}

#[test]
fn a_verified_piece_is_announced_and_completion_drops_interest() {
    let mut t = Torrent::new(2, &[]);
    let mut p = Peer::new(&t, true);
    let one = bitfield_of(2, &[1]);
    p.on(&mut t, Message::Bitfield(&one)).unwrap();
    assert_eq!(p.sent(), ["interested"]);
    p.s.on_piece_verified(PieceIndex(0), false, &mut p.out)
        .unwrap();
    assert_eq!(p.sent(), ["have 0"]);
    p.s.on_piece_verified(PieceIndex(1), true, &mut p.out)
        .unwrap();
    assert_eq!(p.sent(), ["have 1", "not_interested"]);
    // A seed peer is closed once we are complete too.
    let mut s = Peer::new(&t, true);
    s.on(&mut t, Message::HaveAll).unwrap();
    assert_eq!(
        s.s.on_piece_verified(PieceIndex(1), true, &mut s.out),
        Err(CloseReason::BothSeeding)
    );
}

#[test]
fn an_interested_peer_we_choke_asks_for_a_slot() {
    let mut t = Torrent::new(2, &[0, 1]);
    let mut p = Peer::new(&t, true);
    p.on(&mut t, Message::Interested).unwrap();
    assert_eq!(p.effects(), [PeerEffect::UnchokeIfFree]);
    p.s.set_choking(false, p.t0, &mut p.out);
    p.on(&mut t, Message::NotInterested).unwrap();
    p.on(&mut t, Message::Interested).unwrap();
    assert!(p.effects().is_empty(), "already unchoked");
}

#[test]
fn detach_gives_back_requests_and_availability() {
    let mut t = Torrent::new(2, &[]);
    let mut p = Peer::new(&t, true);
    let all = bitfield_of(2, &[0, 1]);
    p.on(&mut t, Message::Bitfield(&all)).unwrap();
    p.on(&mut t, Message::Unchoke).unwrap();
    p.s.send_requests(&mut t.picker, 4, p.t0, &mut p.out);
    p.s.detach(&mut t.picker);
    assert!(p.s.requests_out.is_empty());
    let mut again = Vec::new();
    t.picker.on_have_all(PeerKey(9));
    t.picker.pick(PeerKey(9), |_| true, 4, &mut again);
    assert_eq!(again.len(), 4);
}
