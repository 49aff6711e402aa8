//! Picker tests. Swarms are written as strings, one character per piece, after
//! libtorrent's picker tests: availability `"3142"` (how many peers have each piece, the
//! test's own peers included), have `"0100"`, peer bitfields `"1101"`.

use std::collections::{HashMap, HashSet};

use super::*;

const B: u32 = BLOCK_SIZE;

fn bits(s: &str) -> Vec<bool> {
    s.bytes().map(|c| c == b'1').collect()
}

/// Full-size block `index` of `piece`.
fn blk(piece: u32, index: u32) -> BlockRef {
    BlockRef {
        piece: PieceIndex(piece),
        offset: index * B,
        len: B,
    }
}

/// The pieces of `blocks`, consecutive repeats removed.
fn pieces(blocks: &[BlockRef]) -> Vec<u32> {
    let mut v: Vec<u32> = blocks.iter().map(|b| b.piece.0).collect();
    v.dedup();
    v
}

fn accepted(piece_complete: bool, cancel: &[u32]) -> BlockOutcome {
    BlockOutcome::Accepted {
        piece_complete,
        cancel: cancel.iter().map(|&k| PeerKey(k)).collect(),
    }
}

/// A picker plus the bitfields of the peers a test picks for: `PeerKey(0)`, `PeerKey(1)`...
/// Peers `PeerKey(1000 + k)` make up the rest of the availability and never pick.
struct Swarm {
    picker: Picker,
    peers: Vec<Vec<bool>>,
}

impl Swarm {
    fn new(avail: &str, have: &str, blocks_per_piece: u32, peers: &[&str], seed: u64) -> Swarm {
        let n = avail.len();
        let have = bits(have);
        assert_eq!(have.len(), n);
        let piece_length = u64::from(blocks_per_piece * B);
        let mut picker = Picker::new(
            n as u32,
            piece_length,
            n as u64 * piece_length,
            |p| have[p.0 as usize],
            seed,
        )
        .unwrap();
        let peers: Vec<Vec<bool>> = peers.iter().map(|s| bits(s)).collect();
        let mut rest: Vec<u32> = avail.bytes().map(|c| u32::from(c - b'0')).collect();
        for (k, bitfield) in peers.iter().enumerate() {
            assert_eq!(bitfield.len(), n);
            for (r, &has) in rest.iter_mut().zip(bitfield) {
                *r -= u32::from(has);
            }
            picker.on_bitfield(PeerKey(k as u32), |p| bitfield[p.0 as usize]);
        }
        for k in 0..rest.iter().copied().max().unwrap_or(0) {
            picker.on_bitfield(PeerKey(1000 + k), |p| rest[p.0 as usize] > k);
        }
        for (p, c) in avail.bytes().enumerate() {
            assert_eq!(
                picker.availability(PieceIndex(p as u32)),
                u32::from(c - b'0')
            );
        }
        Swarm { picker, peers }
    }

    fn pick(&mut self, peer: u32, want: usize) -> Vec<BlockRef> {
        let bitfield = &self.peers[peer as usize];
        let mut out = Vec::new();
        self.picker
            .pick(PeerKey(peer), |p| bitfield[p.0 as usize], want, &mut out);
        out
    }

    fn receive(&mut self, peer: u32, block: BlockRef) -> BlockOutcome {
        self.picker.on_block_received(PeerKey(peer), block)
    }
}

#[test]
fn rarest_first() {
    let mut s = Swarm::new("3142", "0000", 1, &["1111"], 7);
    assert_eq!(pieces(&s.pick(0, 4)), [1, 3, 0, 2]);

    let mut s = Swarm::new("3142", "0100", 2, &["1111"], 7);
    assert_eq!(pieces(&s.pick(0, 6)), [3, 0, 2]);
}

#[test]
fn random_tie_break_is_uniform_and_seeded() {
    let mut counts = [0u32; 4];
    for seed in 0..4000 {
        let mut s = Swarm::new("2222", "0000", 1, &["1111"], seed);
        counts[s.pick(0, 1)[0].piece.0 as usize] += 1;
    }
    // 1000 expected each; the standard deviation is about 27.
    for c in counts {
        assert!((850..1150).contains(&c), "{counts:?}");
    }
    // Ties among the rarest only: piece 1 is more common and never comes first.
    let mut firsts = HashSet::new();
    for seed in 0..200 {
        let mut s = Swarm::new("2322", "0000", 1, &["1111"], seed);
        let got = pieces(&s.pick(0, 4));
        assert_eq!(got[3], 1);
        firsts.insert(got[0]);
    }
    assert_eq!(firsts, HashSet::from([0, 2, 3]));
    // The same seed gives the same picks.
    let run = |seed| Swarm::new("2222", "0000", 1, &["1111"], seed).pick(0, 4);
    assert_eq!(run(42), run(42));
}

#[test]
fn partial_pieces_first() {
    // Peer 0 has only piece 3, peer 1 everything; piece 2 is the rarest.
    let mut s = Swarm::new("2212", "0000", 4, &["0001", "1111"], 1);
    assert_eq!(s.pick(0, 1), [blk(3, 0)]);
    let got = s.pick(1, 5);
    assert_eq!(got[..3], [blk(3, 1), blk(3, 2), blk(3, 3)]);
    assert_eq!(got[3..], [blk(2, 0), blk(2, 1)]);
    // Peer 0 has nothing else to get: piece 3 is all requested and it lacks the rest.
    assert!(s.pick(0, 4).is_empty());
}

#[test]
fn never_duplicates_outside_endgame() {
    let mut s = Swarm::new("3333", "0000", 4, &["1111", "1111", "1111"], 3);
    let mut seen = HashSet::new();
    for round in 0..8 {
        assert!(!s.picker.in_endgame());
        for b in s.pick(round % 3, 2) {
            assert!(seen.insert(b), "{b:?} handed out twice");
        }
    }
    assert_eq!(seen.len(), 16);
    assert!(s.picker.in_endgame());
}

#[test]
fn endgame_duplicates_and_cancels() {
    let mut s = Swarm::new("3", "0", 2, &["1", "1", "1"], 5);
    assert_eq!(s.pick(0, 2), [blk(0, 0), blk(0, 1)]);
    assert!(s.picker.in_endgame());
    // Fewest requesters first, then the lowest block.
    assert_eq!(s.pick(1, 1), [blk(0, 0)]);
    assert_eq!(s.pick(2, 1), [blk(0, 1)]);
    // Never the same block twice to one peer.
    assert!(s.pick(0, 2).is_empty());
    assert_eq!(s.pick(1, 2), [blk(0, 1)]);
    assert_eq!(s.pick(2, 2), [blk(0, 0)]);
    assert!(s.pick(2, 2).is_empty());

    assert_eq!(s.receive(1, blk(0, 0)), accepted(false, &[0, 2]));
    // The losing copy of the race.
    assert_eq!(s.receive(0, blk(0, 0)), BlockOutcome::Unwanted);
    let BlockOutcome::Accepted {
        piece_complete,
        mut cancel,
    } = s.receive(2, blk(0, 1))
    else {
        panic!("block 1 refused");
    };
    cancel.sort();
    assert!(piece_complete);
    assert_eq!(cancel, [PeerKey(0), PeerKey(1)]);
    assert!(s.pick(0, 2).is_empty());
}

#[test]
fn endgame_ignores_pieces_nobody_has() {
    // Piece 1 is free but nobody has it: requesting all of piece 0 starts endgame.
    let mut s = Swarm::new("20", "00", 1, &["10", "10"], 5);
    assert_eq!(s.pick(0, 1), [blk(0, 0)]);
    assert!(s.picker.in_endgame());
    assert_eq!(s.pick(1, 1), [blk(0, 0)]);
}

#[test]
fn dropped_requests_are_picked_again() {
    let mut s = Swarm::new("20", "00", 2, &["10", "10"], 9);
    assert_eq!(s.pick(0, 1), [blk(0, 0)]);
    // Not peer 1's request: nothing changes.
    s.picker.on_request_dropped(PeerKey(1), blk(0, 0));
    assert_eq!(s.pick(1, 1), [blk(0, 1)]);
    s.picker.on_request_dropped(PeerKey(0), blk(0, 0));
    assert_eq!(s.pick(1, 2), [blk(0, 0)]);

    // A piece whose every request is dropped is free again.
    s.picker.on_request_dropped(PeerKey(1), blk(0, 0));
    s.picker.on_request_dropped(PeerKey(1), blk(0, 1));
    assert_eq!(s.picker.downloading_count(), 0);
    assert_eq!(s.pick(0, 2), [blk(0, 0), blk(0, 1)]);

    // Endgame: dropping the first requester leaves the duplicate in charge.
    assert_eq!(s.pick(1, 1), [blk(0, 0)]);
    s.picker.on_request_dropped(PeerKey(0), blk(0, 0));
    assert_eq!(s.receive(1, blk(0, 0)), accepted(false, &[]));
    // A dropped request of a received block changes nothing.
    s.picker.on_request_dropped(PeerKey(1), blk(0, 0));
    assert_eq!(s.receive(0, blk(0, 1)), accepted(true, &[]));
}

#[test]
fn failed_piece_is_downloaded_again() {
    let mut s = Swarm::new("22", "00", 2, &["11", "11"], 2);
    let a = s.pick(0, 1);
    let b = s.pick(1, 1);
    assert_eq!(pieces(&a), pieces(&b));
    let piece = a[0].piece;
    assert_eq!(s.receive(0, a[0]), accepted(false, &[]));
    assert_eq!(s.receive(1, b[0]), accepted(true, &[]));
    // Waiting for its hash, the piece hands out nothing.
    assert_eq!(pieces(&s.pick(0, 2)), [1 - piece.0]);

    assert_eq!(s.picker.on_piece_failed(piece), [PeerKey(0), PeerKey(1)]);
    assert!(!s.picker.have(piece));
    // The failed piece is free again and peer 0 holds all of the other piece, so peer
    // 1 gets both blocks of the failed piece.
    let again = s.pick(1, 2);
    assert_eq!(pieces(&again), [piece.0]);
    for blk in again {
        s.receive(1, blk);
    }
    s.picker.on_piece_verified(piece);
    assert!(s.picker.have(piece));
    assert_eq!(s.picker.have_count(), 1);
    assert_eq!(s.receive(0, a[0]), BlockOutcome::Unwanted);
}

#[test]
fn short_last_piece_and_block() {
    let piece_length = u64::from(2 * B + 8192);
    let mut p = Picker::new(3, piece_length, 2 * piece_length + 20000, |_| false, 1).unwrap();
    assert_eq!(p.piece_len(PieceIndex(2)), 20000);
    assert_eq!(p.block_count(PieceIndex(0)), 3);
    assert_eq!(p.block_count(PieceIndex(2)), 2);
    p.on_have_all(PeerKey(0));
    let mut out = Vec::new();
    p.pick(PeerKey(0), |_| false, 100, &mut out);
    out.sort_by_key(|b| (b.piece, b.offset));
    let got: Vec<(u32, u32, u32)> = out.iter().map(|b| (b.piece.0, b.offset, b.len)).collect();
    assert_eq!(
        got,
        [
            (0, 0, B),
            (0, B, B),
            (0, 2 * B, 8192),
            (1, 0, B),
            (1, B, B),
            (1, 2 * B, 8192),
            (2, 0, B),
            (2, B, 20000 - B),
        ]
    );
    // Blocks that are not exactly one of the torrent's are refused.
    let bad = [
        BlockRef {
            piece: PieceIndex(2),
            offset: B,
            len: B,
        },
        BlockRef {
            piece: PieceIndex(2),
            offset: 100,
            len: B,
        },
        BlockRef {
            piece: PieceIndex(3),
            offset: 0,
            len: B,
        },
        BlockRef {
            piece: PieceIndex(0),
            offset: 3 * B,
            len: B,
        },
    ];
    for b in bad {
        assert_eq!(p.on_block_received(PeerKey(0), b), BlockOutcome::Unwanted);
        p.on_request_dropped(PeerKey(0), b);
    }
    assert_eq!(
        p.on_block_received(PeerKey(0), out[7]),
        accepted(false, &[])
    );

    // A torrent smaller than one block.
    let mut p = Picker::new(1, u64::from(4 * B), 100, |_| false, 1).unwrap();
    p.on_have_all(PeerKey(0));
    let mut out = Vec::new();
    p.pick(PeerKey(0), |_| true, 4, &mut out);
    assert_eq!(
        out,
        [BlockRef {
            piece: PieceIndex(0),
            offset: 0,
            len: 100
        }]
    );
}

#[test]
fn bad_geometry_is_refused() {
    let new = |count, length, total| Picker::new(count, length, total, |_| false, 0).is_ok();
    assert!(new(3, 10, 25));
    assert!(!new(2, 10, 25));
    assert!(!new(4, 10, 25));
    assert!(!new(0, 10, 0));
    assert!(!new(1, 0, 10));
    assert!(!new(1, MAX_PIECE_LENGTH + 1, 10));
}

#[test]
fn peer_without_the_pieces_gets_nothing() {
    let mut s = Swarm::new("1210", "0100", 1, &["0000", "0100", "1000"], 4);
    assert!(s.pick(0, 5).is_empty());
    // Peer 1 has only a piece we have.
    assert!(s.pick(1, 5).is_empty());
    assert_eq!(s.pick(2, 5), [blk(0, 0)]);
    assert!(s.pick(2, 5).is_empty());
    assert!(!s.picker.in_endgame());
}

#[test]
fn peers_coming_and_going() {
    let mut p = Picker::new(4, u64::from(B), 4 * u64::from(B), |_| false, 11).unwrap();
    let avail =
        |p: &Picker| -> Vec<u32> { (0..4).map(|i| p.availability(PieceIndex(i))).collect() };
    let (a, b, seed) = (PeerKey(1), PeerKey(2), PeerKey(3));
    let a_has = |i: PieceIndex| i.0 < 2;
    let b_has = |i: PieceIndex| i.0 % 2 == 1;
    p.on_bitfield(a, a_has);
    p.on_have(b, PieceIndex(1));
    p.on_have(b, PieceIndex(3));
    p.on_have(b, PieceIndex(9));
    p.on_have_all(seed);
    p.on_have(seed, PieceIndex(0));
    p.on_bitfield(seed, |_| true);
    assert_eq!(avail(&p), [2, 3, 1, 2]);
    assert_eq!(p.seed_count(), 1);

    let pick = |p: &mut Picker, peer, has: &dyn Fn(PieceIndex) -> bool| {
        let mut out = Vec::new();
        p.pick(peer, has, 1, &mut out);
        pieces(&out)
    };
    assert_eq!(pick(&mut p, seed, &|_| false), [2]);
    assert_eq!(pick(&mut p, a, &a_has), [0]);

    // The seed leaves: one less everywhere, and its piece is free again.
    p.on_peer_gone(seed, |_| false);
    assert_eq!(avail(&p), [1, 2, 0, 1]);
    assert_eq!(p.downloading_count(), 1);
    assert_eq!(pick(&mut p, b, &b_has), [3]);

    p.on_peer_gone(a, a_has);
    assert_eq!(avail(&p), [0, 1, 0, 1]);
    assert_eq!(p.downloading_count(), 1);
    assert_eq!(pick(&mut p, b, &b_has), [1]);
    p.on_peer_gone(b, b_has);
    assert_eq!(avail(&p), [0, 0, 0, 0]);
    assert_eq!(p.downloading_count(), 0);
    assert!(!p.in_endgame());
}

/// splitmix64, for the random walk below.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct ModelPeer {
    key: PeerKey,
    seed: bool,
    has: Vec<bool>,
    outstanding: Vec<BlockRef>,
}

/// A random walk of peers connecting, leaving, announcing pieces, requesting, answering,
/// timing out and sending bad data. The invariants are checked after every call (debug),
/// the picker's answers against a model, and the download must finish.
#[test]
fn random_swarm_keeps_books_and_finishes() {
    const PIECES: u32 = 13;
    let piece_length = 40_000u64;
    for run in 0..4u64 {
        let mut rng = run;
        let mut p = Picker::new(
            PIECES,
            piece_length,
            u64::from(PIECES) * piece_length - 12_345,
            |i| i.0 == 5,
            run,
        )
        .unwrap();
        let mut peers: Vec<ModelPeer> = Vec::new();
        let mut next_key = 0;
        let mut suppliers: HashMap<u32, HashSet<PeerKey>> = HashMap::new();
        let mut steps = 0;
        while !p.is_complete() {
            steps += 1;
            assert!(steps < 200_000, "run {run} does not finish");
            let r = next(&mut rng);
            match r % 16 {
                0 if peers.len() < 6 => {
                    let key = PeerKey(next_key);
                    next_key += 1;
                    let seed = r % 5 == 0;
                    let has: Vec<bool> = (0..PIECES)
                        .map(|_| seed || next(&mut rng) % 3 == 0)
                        .collect();
                    if seed {
                        p.on_have_all(key);
                    } else {
                        p.on_bitfield(key, |i| has[i.0 as usize]);
                    }
                    peers.push(ModelPeer {
                        key,
                        seed,
                        has,
                        outstanding: Vec::new(),
                    });
                }
                1 if !peers.is_empty() => {
                    let gone = peers.swap_remove((r >> 8) as usize % peers.len());
                    p.on_peer_gone(gone.key, |i| gone.has[i.0 as usize]);
                }
                2 if !peers.is_empty() => {
                    let k = (r >> 8) as usize % peers.len();
                    let peer = &mut peers[k];
                    let piece = (r >> 20) as u32 % PIECES;
                    if !peer.has[piece as usize] {
                        peer.has[piece as usize] = true;
                        p.on_have(peer.key, PieceIndex(piece));
                    }
                }
                3..=7 if !peers.is_empty() => {
                    let k = (r >> 8) as usize % peers.len();
                    let peer = &mut peers[k];
                    let want = 1 + (r >> 20) as usize % 8;
                    let mut out = Vec::new();
                    p.pick(peer.key, |i| peer.has[i.0 as usize], want, &mut out);
                    assert!(out.len() <= want);
                    for b in out {
                        assert!(peer.has[b.piece.0 as usize]);
                        assert!(!p.have(b.piece));
                        assert!(!peer.outstanding.contains(&b), "{b:?} twice to one peer");
                        peer.outstanding.push(b);
                    }
                }
                8..=13 if !peers.is_empty() => {
                    let k = (r >> 8) as usize % peers.len();
                    if peers[k].outstanding.is_empty() {
                        continue;
                    }
                    let i = (r >> 20) as usize % peers[k].outstanding.len();
                    let b = peers[k].outstanding.swap_remove(i);
                    let key = peers[k].key;
                    if r % 7 == 0 {
                        p.on_request_dropped(key, b);
                        continue;
                    }
                    match p.on_block_received(key, b) {
                        BlockOutcome::Unwanted => panic!("{b:?} refused from its requester"),
                        BlockOutcome::Accepted {
                            piece_complete,
                            cancel,
                        } => {
                            suppliers.entry(b.piece.0).or_default().insert(key);
                            for c in cancel {
                                let other = peers.iter_mut().find(|q| q.key == c).unwrap();
                                let at = other.outstanding.iter().position(|&o| o == b);
                                other
                                    .outstanding
                                    .swap_remove(at.expect("cancel of a block not requested"));
                            }
                            if piece_complete {
                                let sent = suppliers.remove(&b.piece.0).unwrap();
                                if r % 5 == 0 {
                                    let struck = p.on_piece_failed(b.piece);
                                    let mut sent: Vec<PeerKey> = sent.into_iter().collect();
                                    sent.sort();
                                    assert_eq!(struck, sent);
                                } else {
                                    p.on_piece_verified(b.piece);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            for piece in 0..PIECES {
                let expected = peers
                    .iter()
                    .filter(|q| q.seed || q.has[piece as usize])
                    .count() as u32;
                assert_eq!(p.availability(PieceIndex(piece)), expected);
            }
        }
        assert_eq!(p.downloading_count(), 0);
    }
}

/// A seed that rejected a piece is not asked for it again, even mid-piece (partial
/// pieces are otherwise finished first), while its other pieces still are.
#[test]
fn refused_pieces_are_skipped_even_for_seeds() {
    let mut p = Picker::new(4, u64::from(2 * B), u64::from(8 * B), |_| false, 1).unwrap();
    p.on_have_all(PeerKey(0));
    let mut out = Vec::new();
    p.pick(PeerKey(0), |_| true, 1, &mut out);
    let first = out[0];
    p.on_request_dropped(PeerKey(0), first);
    let mut again = Vec::new();
    p.pick_except(PeerKey(0), |_| true, |x| x == first.piece, 8, &mut again);
    assert_eq!(again.len(), 6, "the three other pieces: {again:?}");
    assert!(again.iter().all(|b| b.piece != first.piece), "{again:?}");
}
