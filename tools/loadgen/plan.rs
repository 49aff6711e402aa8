//! Which blocks the load generator asks for: the torrent's piece geometry, the request
//! patterns and the small random number generator behind the random one.
//!
//! Depends on `hivebt::types` and `hivebt::bitfield`. Pure: the caller passes in what
//! the seeder has. Two patterns:
//! - `random`: a uniformly random piece the seeder has, then a random block of it;
//! - `sequential`: one cursor shared by every connection walks the torrent block by
//!   block (piece by piece with `--verify`) and wraps at the end, so the connections
//!   together read it front to back, as a streaming client would. Pieces the seeder
//!   lacks are skipped.
//!
//! Without `--verify` a block may be asked for again (the cursor wraps; random draws
//! repeat): the point is load on the seeder, not a copy of the torrent.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use hivebt::bitfield::Bitfield;
use hivebt::types::{BLOCK_SIZE, BlockRef, PieceIndex};
use hivebt::wire::metainfo::Info;

/// Piece and block sizes of one torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Number of pieces (at least 1).
    pub piece_count: u32,
    /// Length of every piece but the last.
    pub piece_length: u32,
    /// Bytes in the torrent (more than `(piece_count - 1) * piece_length`).
    pub total_length: u64,
}

impl Geometry {
    /// The geometry of a parsed torrent. `None` for one outside what the parser allows
    /// (piece length over 4 GiB, more than 2^32 pieces), which cannot happen.
    pub fn of(info: &Info) -> Option<Geometry> {
        Some(Geometry {
            piece_count: u32::try_from(info.pieces.len()).ok().filter(|&n| n > 0)?,
            piece_length: u32::try_from(info.piece_length).ok()?,
            total_length: info.total_length,
        })
    }

    /// The length of piece `p` (the last one may be shorter).
    pub fn piece_len(&self, p: PieceIndex) -> u32 {
        if p.0 + 1 < self.piece_count {
            self.piece_length
        } else {
            let before = u64::from(self.piece_count - 1) * u64::from(self.piece_length);
            // The parser keeps the last piece within (0, piece_length].
            (self.total_length - before) as u32
        }
    }

    /// Blocks in piece `p`.
    pub fn blocks_in(&self, p: PieceIndex) -> u32 {
        self.piece_len(p).div_ceil(BLOCK_SIZE)
    }

    /// The block of piece `p` starting at `offset` (16 KiB, or what is left of the piece).
    pub fn block_at(&self, p: PieceIndex, offset: u32) -> BlockRef {
        BlockRef {
            piece: p,
            offset,
            len: BLOCK_SIZE.min(self.piece_len(p) - offset),
        }
    }
}

/// How blocks are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// A random block of a random piece the seeder has.
    Random,
    /// The torrent front to back, wrapping at the end.
    Sequential,
}

impl Pattern {
    /// The name in the report and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Random => "random",
            Pattern::Sequential => "sequential",
        }
    }
}

/// xorshift64*: plenty for spreading requests, and no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A generator seeded by std's `RandomState`, whose keys come from the OS.
    pub fn from_os() -> Rng {
        Rng::new(RandomState::new().build_hasher().finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift of the high bits.
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// Hands out blocks (or, when verifying, whole pieces) to request.
#[derive(Debug, Clone)]
pub struct Planner {
    geometry: Geometry,
    pattern: Pattern,
    rng: Rng,
    /// The next block of the sequential walk.
    cursor: BlockRef,
}

impl Planner {
    /// A planner over `geometry`.
    pub fn new(geometry: Geometry, pattern: Pattern, rng: Rng) -> Planner {
        Planner {
            geometry,
            pattern,
            rng,
            cursor: geometry.block_at(PieceIndex(0), 0),
        }
    }

    /// The torrent's geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The next block to request from a seeder that has `have`; `None` if it has
    /// no pieces.
    pub fn next_block(&mut self, have: &Bitfield) -> Option<BlockRef> {
        let g = self.geometry;
        match self.pattern {
            Pattern::Random => {
                let p = next_had(have, PieceIndex(self.rng.below(g.piece_count)))?;
                let block = self.rng.below(g.blocks_in(p));
                Some(g.block_at(p, block * BLOCK_SIZE))
            }
            Pattern::Sequential => {
                let p = next_had(have, self.cursor.piece)?;
                let block = if p == self.cursor.piece {
                    self.cursor
                } else {
                    g.block_at(p, 0)
                };
                let end = block.offset + block.len;
                self.cursor = if end < g.piece_len(p) {
                    g.block_at(p, end)
                } else {
                    g.block_at(PieceIndex((p.0 + 1) % g.piece_count), 0)
                };
                Some(block)
            }
        }
    }

    /// The next whole piece to request from a seeder that has `have`; `None` if it
    /// has no pieces.
    pub fn next_piece(&mut self, have: &Bitfield) -> Option<PieceIndex> {
        let g = self.geometry;
        match self.pattern {
            Pattern::Random => next_had(have, PieceIndex(self.rng.below(g.piece_count))),
            Pattern::Sequential => {
                let p = next_had(have, self.cursor.piece)?;
                self.cursor = g.block_at(PieceIndex((p.0 + 1) % g.piece_count), 0);
                Some(p)
            }
        }
    }
}

/// The first piece at or after `from` (wrapping) that `have` holds.
fn next_had(have: &Bitfield, from: PieceIndex) -> Option<PieceIndex> {
    if have.count_ones() == 0 {
        return None;
    }
    if have.is_all_set() {
        return Some(from);
    }
    let n = have.len();
    (from.0..n)
        .chain(0..from.0)
        .map(PieceIndex)
        .find(|&p| have.get(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 pieces of 40 KiB and a last one of 1,000 bytes.
    fn geometry() -> Geometry {
        Geometry {
            piece_count: 4,
            piece_length: 40 * 1024,
            total_length: 3 * 40 * 1024 + 1000,
        }
    }

    fn pieces(have: &[u32]) -> Bitfield {
        let mut b = Bitfield::new(4);
        for &p in have {
            b.set(PieceIndex(p), true).unwrap();
        }
        b
    }

    #[test]
    fn geometry_of_the_last_piece() {
        let g = geometry();
        assert_eq!(g.piece_len(PieceIndex(2)), 40 * 1024);
        assert_eq!(g.piece_len(PieceIndex(3)), 1000);
        assert_eq!(g.blocks_in(PieceIndex(0)), 3);
        assert_eq!(g.blocks_in(PieceIndex(3)), 1);
        assert_eq!(g.block_at(PieceIndex(0), 32768).len, 8192);
        assert_eq!(g.block_at(PieceIndex(3), 0).len, 1000);
    }

    #[test]
    fn sequential_walks_every_block_in_order_and_wraps() {
        let g = geometry();
        let mut p = Planner::new(g, Pattern::Sequential, Rng::new(1));
        let all = Bitfield::full(4);
        let got: Vec<(u32, u32, u32)> = (0..11)
            .map(|_| p.next_block(&all).unwrap())
            .map(|b| (b.piece.0, b.offset, b.len))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, 16384),
                (0, 16384, 16384),
                (0, 32768, 8192),
                (1, 0, 16384),
                (1, 16384, 16384),
                (1, 32768, 8192),
                (2, 0, 16384),
                (2, 16384, 16384),
                (2, 32768, 8192),
                (3, 0, 1000),
                (0, 0, 16384),
            ]
        );
    }

    #[test]
    fn sequential_skips_pieces_the_seeder_lacks() {
        let mut p = Planner::new(geometry(), Pattern::Sequential, Rng::new(1));
        let have = pieces(&[1, 3]);
        let got: Vec<u32> = (0..5)
            .map(|_| p.next_block(&have).unwrap().piece.0)
            .collect();
        assert_eq!(got, [1, 1, 1, 3, 1]);
        let whole: Vec<u32> = (0..3).map(|_| p.next_piece(&have).unwrap().0).collect();
        assert_eq!(
            whole,
            [1, 3, 1],
            "the piece walk goes on from the block cursor"
        );
    }

    #[test]
    fn random_stays_on_pieces_the_seeder_has_and_on_block_boundaries() {
        let g = geometry();
        let mut p = Planner::new(g, Pattern::Random, Rng::new(7));
        let have = pieces(&[0, 3]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let b = p.next_block(&have).unwrap();
            assert!(have.get(b.piece));
            assert_eq!(b.offset % BLOCK_SIZE, 0);
            assert_eq!(b, g.block_at(b.piece, b.offset));
            seen.insert((b.piece.0, b.offset));
        }
        assert_eq!(seen.len(), 4, "every block of pieces 0 and 3: {seen:?}");
        for _ in 0..100 {
            assert!(have.get(p.next_piece(&have).unwrap()));
        }
    }

    #[test]
    fn nothing_to_ask_a_seeder_without_pieces() {
        let none = Bitfield::new(4);
        for pattern in [Pattern::Random, Pattern::Sequential] {
            let mut p = Planner::new(geometry(), pattern, Rng::new(3));
            assert_eq!(p.next_block(&none), None);
            assert_eq!(p.next_piece(&none), None);
        }
    }

    #[test]
    fn below_is_in_range_and_spread() {
        let mut rng = Rng::new(42);
        let mut counts = [0u32; 5];
        for _ in 0..10_000 {
            counts[rng.below(5) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (1700..2300).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(rng.below(1), 0);
    }
}
