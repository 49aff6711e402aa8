//! Cost of one `Picker::pick` (`torrent::picker`) in a mid-download swarm: 10,000
//! pieces of 256 KiB (16 blocks), 100 connected peers.
//!
//! The state, built once from a fixed seed:
//! - 30 % of the pieces are verified already (*have*), chosen at random;
//! - 5 peers sent `have_all`; the other 95 sent a bitfield holding each piece with a
//!   chance drawn per peer from 2 % to 98 %, then 20 `have`s each. Peer 99 is the
//!   exception: a newcomer with 1 % of the pieces;
//! - peer 98, last to connect, has the pieces we have and one more, among the most
//!   common: `pick` finds its one piece only after looking at every free piece of
//!   rarer availability (the `S` of the picker's cost note at its largest);
//! - every other peer picked 32 blocks; of those, half arrived, a quarter are still
//!   requested and a quarter were dropped (timed out), so about 150 pieces are
//!   downloading with free, requested and received blocks mixed.
//!
//! Each sample is one `pick` call, timed alone; its requests are then dropped, untimed,
//! so the state is the same for every sample (a dropped piece goes back to a random
//! place in its availability bucket). `want` is what the session asks for: 1 when a
//! block arrives and one request is refilled, 16 after an unchoke or for a fast peer.
//! "all peers" takes the 100 peers in turn, the special ones included.
//!
//! Output, one line per measurement (percentiles are of single calls, clock read
//! included; the header gives its cost):
//!
//! ```text
//! picker pick want=16 all peers      unit=ns/pick  p50=..  p90=..  p99=..  p99.9=..  max=..  Mpicks/s=..  blocks/pick=..  samples=..
//! ```
//!
//! Run with `cargo bench --bench picker`; about 1.2 s per measurement.

mod common;

use std::collections::HashSet;
use std::hint::black_box;

use hivebt::bitfield::Bitfield;
use hivebt::torrent::picker::{BlockOutcome, PeerKey, Picker};
use hivebt::types::{BLOCK_SIZE, BlockRef, PieceIndex};

use common::{Recorder, Rng};

const PIECE_COUNT: u32 = 10_000;
const PIECE_LENGTH: u64 = 16 * BLOCK_SIZE as u64;
/// The last piece is short, as in most torrents.
const TOTAL_LENGTH: u64 = PIECE_COUNT as u64 * PIECE_LENGTH - 5_000;
const PEERS: u32 = 100;
/// Peers `0..SEEDS` sent `have_all`.
const SEEDS: u32 = 5;
/// The newcomer with 1 % of the pieces.
const SPARSE_PEER: u32 = PEERS - 1;
/// The peer that has what we have and one piece more; it sends its bitfield last.
const OVERLAP_PEER: u32 = PEERS - 2;
const HAVES_PER_PEER: u32 = 20;
const PICKED_AT_START: usize = 32;

/// The picker and what each peer has, as the sessions know it.
struct Swarm {
    picker: Picker,
    /// Per peer: its pieces; all ones for a seed.
    has: Vec<Bitfield>,
}

impl Swarm {
    fn new(rng: &mut Rng) -> Swarm {
        let have: Vec<bool> = (0..PIECE_COUNT).map(|_| rng.chance(0.3)).collect();
        let mut picker = Picker::new(
            PIECE_COUNT,
            PIECE_LENGTH,
            TOTAL_LENGTH,
            |p| have[p.0 as usize],
            rng.next_u64(),
        )
        .unwrap_or_else(|e| panic!("picker: {e}"));
        let mut has = Vec::new();
        for k in 0..PEERS {
            let peer = PeerKey(k);
            if k == OVERLAP_PEER {
                has.push(Bitfield::new(PIECE_COUNT));
                continue;
            }
            if k < SEEDS {
                picker.on_have_all(peer);
                has.push(Bitfield::full(PIECE_COUNT));
                continue;
            }
            let chance = if k == SPARSE_PEER {
                0.01
            } else {
                0.02 + 0.96 * rng.fraction()
            };
            let mut bits = Bitfield::new(PIECE_COUNT);
            for p in 0..PIECE_COUNT {
                if rng.chance(chance) {
                    set(&mut bits, p);
                }
            }
            picker.on_bitfield(peer, |p| bits.get(p));
            if k != SPARSE_PEER {
                for _ in 0..HAVES_PER_PEER {
                    let p = rng.below(u64::from(PIECE_COUNT)) as u32;
                    if !bits.get(PieceIndex(p)) {
                        set(&mut bits, p);
                        picker.on_have(peer, PieceIndex(p));
                    }
                }
            }
            has.push(bits);
        }
        let mut swarm = Swarm { picker, has };
        let started = swarm.start_downloads(rng);
        swarm.connect_overlap_peer(&have, &started);
        swarm
    }

    /// Registers [`OVERLAP_PEER`]: the pieces we have, and the most common free piece.
    fn connect_overlap_peer(&mut self, have: &[bool], started: &HashSet<u32>) {
        let extra = (0..PIECE_COUNT)
            .filter(|&p| !have[p as usize] && !started.contains(&p))
            .max_by_key(|&p| self.picker.availability(PieceIndex(p)))
            .unwrap_or_else(|| panic!("picker: no free piece left"));
        let mut bits = Bitfield::new(PIECE_COUNT);
        for p in 0..PIECE_COUNT {
            if have[p as usize] || p == extra {
                set(&mut bits, p);
            }
        }
        self.picker
            .on_bitfield(PeerKey(OVERLAP_PEER), |p| bits.get(p));
        self.has[OVERLAP_PEER as usize] = bits;
    }

    /// Every peer but [`OVERLAP_PEER`] picks [`PICKED_AT_START`] blocks; half arrive, a
    /// quarter stay requested, a quarter are dropped. Returns the pieces touched.
    fn start_downloads(&mut self, rng: &mut Rng) -> HashSet<u32> {
        let mut out = Vec::new();
        let mut started = HashSet::new();
        for k in (0..PEERS).filter(|&k| k != OVERLAP_PEER) {
            out.clear();
            let peer = PeerKey(k);
            let bits = &self.has[k as usize];
            self.picker
                .pick(peer, |p| bits.get(p), PICKED_AT_START, &mut out);
            for &block in &out {
                started.insert(block.piece.0);
                match rng.below(4) {
                    0 | 1 => {
                        let outcome = self.picker.on_block_received(peer, block);
                        assert!(
                            matches!(outcome, BlockOutcome::Accepted { .. }),
                            "picker: block {block:?} unwanted"
                        );
                    }
                    2 => {}
                    _ => self.picker.on_request_dropped(peer, block),
                }
            }
        }
        started
    }

    /// One `pick` for peer `k`, timed alone; the requests are then dropped again.
    fn timed_pick(&mut self, k: u32, want: usize, out: &mut Vec<BlockRef>) -> std::time::Duration {
        out.clear();
        let peer = PeerKey(k);
        let bits = &self.has[k as usize];
        let picker = &mut self.picker;
        let ((), took) = common::timed(|| {
            picker.pick(black_box(peer), |p| bits.get(p), black_box(want), out);
        });
        black_box(&*out);
        self.check_picked(k, want, out);
        for &block in out.iter() {
            self.picker.on_request_dropped(peer, block);
        }
        took
    }

    /// Panics unless `blocks` is a plausible answer for peer `k`: some blocks, no more
    /// than wanted, each of a piece the peer has and we do not.
    fn check_picked(&self, k: u32, want: usize, blocks: &[BlockRef]) {
        assert!(
            !blocks.is_empty() && blocks.len() <= want,
            "picker: peer {k} got {} blocks for want={want}",
            blocks.len()
        );
        for b in blocks {
            assert!(
                self.has[k as usize].get(b.piece) && !self.picker.have(b.piece),
                "picker: peer {k} was given {b:?}"
            );
        }
    }
}

fn set(bits: &mut Bitfield, p: u32) {
    bits.set(PieceIndex(p), true)
        .unwrap_or_else(|e| panic!("bitfield: {e}"));
}

/// Measures `pick(want)` for the peers `next_peer` names, one per sample.
fn measure(swarm: &mut Swarm, want: usize, mut next_peer: impl FnMut() -> u32) -> (Recorder, f64) {
    let mut out = Vec::with_capacity(want);
    let mut blocks = 0u64;
    let mut samples = 0u64;
    let m = common::measure_timed(1, || {
        let took = swarm.timed_pick(next_peer(), want, &mut out);
        blocks += out.len() as u64;
        samples += 1;
        took
    });
    swarm.picker.check_invariants();
    (m, blocks as f64 / samples as f64)
}

fn print(name: &str, m: &Recorder, blocks_per_pick: f64) {
    m.print(
        "picker",
        name,
        "ns/pick",
        &[
            ("Mpicks/s", m.ops_per_sec() / 1e6),
            ("blocks/pick", blocks_per_pick),
        ],
    );
}

fn main() {
    let mut rng = Rng::new(0x0b5e_55ed);
    let mut swarm = Swarm::new(&mut rng);
    swarm.picker.check_invariants();
    assert!(
        !swarm.picker.in_endgame(),
        "picker: the bench state is endgame"
    );
    println!(
        "# torrent::picker, one thread; {PIECE_COUNT} pieces of {} KiB, have {}, {} downloading, \
         {PEERS} peers ({SEEDS} have_all); clock read ~{:.0} ns per sample",
        PIECE_LENGTH / 1024,
        swarm.picker.have_count(),
        swarm.picker.downloading_count(),
        common::clock_cost_ns()
    );

    let mut k = 0;
    let mut round_robin = move || {
        k = (k + 1) % PEERS;
        k
    };
    for want in [1, 16] {
        let (m, blocks) = measure(&mut swarm, want, &mut round_robin);
        print(&format!("pick want={want} all peers"), &m, blocks);
    }
    let (m, blocks) = measure(&mut swarm, 16, || SEEDS - 1);
    print("pick want=16 have_all", &m, blocks);
    let (m, blocks) = measure(&mut swarm, 16, || SPARSE_PEER);
    print("pick want=16 1% peer", &m, blocks);
    let (m, blocks) = measure(&mut swarm, 16, || OVERLAP_PEER);
    print("pick want=16 overlap peer", &m, blocks);
}
