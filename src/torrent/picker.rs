//! The piece picker: which blocks of which pieces to request from which peer.
//!
//! Owns, for one torrent, how many connected peers have each piece (availability), which
//! pieces we have, and the state of every block of every piece being downloaded: free,
//! requested (from which peers) or received (from which peer). Depends only on `types`,
//! `config` and `rng`. It does no I/O, reads no clock, and draws its random tie-breaks
//! from a generator seeded by the caller, so the same calls give the same picks.
//!
//! # Policy
//!
//! [`Picker::pick`] hands a peer up to `want` blocks it has, in this order:
//! 1. **Finish what is started**: free blocks of pieces already being downloaded.
//! 2. **Rarest first**: pieces nobody has requested anything of yet, lowest availability
//!    first, ties broken at random. A piece is requested from its first block on.
//! 3. **Endgame**: once no free block is left in any piece some peer has, blocks already
//!    requested from *other* peers, the ones with the fewest requesters first. A block
//!    is never requested twice from the same peer. When one copy arrives,
//!    [`Picker::on_block_received`] names the other requesters, to be sent `cancel`.
//!
//! Outside endgame a block is requested from at most one peer at a time.
//!
//! # Piece states
//!
//! Every piece is in exactly one state:
//! - *have*: verified; never picked again unless [`Picker::on_piece_failed`] says so.
//! - *free*: nothing requested or received; listed in the availability bucket of its
//!   availability, at a random place within it.
//! - *downloading*: at least one block requested or received; has a block table. A
//!   piece whose blocks are all received waits there for [`Picker::on_piece_verified`] or
//!   [`Picker::on_piece_failed`]. A downloading piece whose last request is dropped
//!   before any block arrived goes back to *free*.
//!
//! # Invariants (checked by [`Picker::check_invariants`], after every change in debug)
//!
//! - a *free* piece `p` sits in `buckets[avail[p]]` at the position its state records,
//!   and the buckets hold exactly the free pieces;
//! - a *downloading* piece has exactly one block table, which records its slot, has
//!   `block_count(p)` entries, counts its free, requested and received blocks correctly,
//!   and has at least one requested or received block;
//! - an endgame duplicate `(block, peer)` names a requested block whose first requester
//!   is another peer, and appears once;
//! - the count of pieces we have matches the *have* states.
//!
//! # Cost
//!
//! With `D` pieces downloading, `A` distinct availability values (at most the number of
//! peers plus one), `S` the free pieces looked at before enough are found the peer has,
//! and `B` blocks per piece:
//! - `pick` is `O(D·B + A + S + want)`. It never walks all pieces per block; `S` is small
//!   when the peer has most of the rare pieces and reaches the number of free pieces only
//!   when the peer has almost none of them. Endgame adds `O(D·B·E)` with `E` duplicates
//!   per piece, and sorts the candidates.
//! - `on_have`, an availability change, `on_block_received`, `on_request_dropped` and
//!   `on_piece_verified` are `O(1)` plus `O(E)` and `O(B)` for the piece involved.
//! - `on_bitfield` and `on_peer_gone` are `O(pieces + D·B)`; `on_have_all` is `O(1)`
//!   (seeds are counted apart, since a seed raises every piece alike).
//!
//! # What the caller promises
//!
//! - Each peer's pieces are reported once: a bitfield, then `have`s of pieces not yet
//!   reported; or `have_all` alone. [`Picker::on_peer_gone`] gets the same set back.
//! - `pick`'s `has` agrees with what was reported for that peer.
//! - A [`PeerKey`] is not reused for another peer while a piece it supplied blocks of is
//!   still downloading, or strikes would land on the wrong peer.

use std::collections::HashSet;
use std::fmt;

use crate::config::MAX_PIECE_LENGTH;
use crate::rng::Rng;
use crate::types::{BLOCK_SIZE, BlockRef, PieceIndex};

#[cfg(test)]
mod tests;

/// The picker's name for a connected peer. The session chooses the values; the picker
/// only compares them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerKey(pub u32);

/// What [`Picker::on_block_received`] made of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Not wanted: not a block of this torrent, a piece we have, or a block already
    /// received (the losing copy of an endgame race). Drop the data.
    Unwanted,
    /// Recorded as received from this peer: keep the data.
    Accepted {
        /// Every block of the piece is now received: hash it.
        piece_complete: bool,
        /// Other peers that had this block requested: send them `cancel`.
        cancel: Vec<PeerKey>,
    },
}

/// Piece count, piece length and total length that do not describe one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeometryError {
    /// The piece count given.
    pub piece_count: u32,
    /// The piece length given.
    pub piece_length: u64,
    /// The total length given.
    pub total_length: u64,
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pieces of {} bytes cannot hold {} bytes",
            self.piece_count, self.piece_length, self.total_length
        )
    }
}

impl std::error::Error for GeometryError {}

/// Where a piece stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceState {
    /// Verified and ours. Nothing of it is requested.
    Have,
    /// Nothing requested or received; it sits at `pos` in `buckets[avail]`.
    Free { pos: u32 },
    /// Some block requested or received; `downloading[slot]` is its block table.
    Downloading { slot: u32 },
}

/// One block of a downloading piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// Nobody has it requested: pickable.
    Free,
    /// Requested from this peer first; endgame duplicates are in `Downloading::extra`.
    Requested(PeerKey),
    /// Arrived from this peer; kept so a failed hash can name the suppliers.
    Received(PeerKey),
}

/// The block table of a downloading piece.
#[derive(Clone, Debug)]
struct Downloading {
    piece: u32,
    blocks: Vec<Block>,
    free: u32,
    requested: u32,
    received: u32,
    /// Endgame duplicates `(block index, peer)` of requested blocks, beside their first
    /// requester. Empty (and unallocated) outside endgame.
    extra: Vec<(u32, PeerKey)>,
}

/// The sizes of a torrent's pieces and blocks.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    piece_count: u32,
    piece_length: u32,
    last_piece_length: u32,
}

impl Geometry {
    fn piece_len(&self, piece: u32) -> u32 {
        if piece + 1 == self.piece_count {
            self.last_piece_length
        } else {
            self.piece_length
        }
    }

    fn block_count(&self, piece: u32) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_SIZE)
    }

    fn block(&self, piece: u32, index: u32) -> BlockRef {
        let offset = index * BLOCK_SIZE;
        BlockRef {
            piece: PieceIndex(piece),
            offset,
            len: BLOCK_SIZE.min(self.piece_len(piece) - offset),
        }
    }

    /// The index of `block` within its piece, if it is exactly one of the piece's blocks.
    fn block_index(&self, block: BlockRef) -> Option<u32> {
        let piece = block.piece.0;
        if piece >= self.piece_count || block.offset % BLOCK_SIZE != 0 {
            return None;
        }
        let index = block.offset / BLOCK_SIZE;
        (index < self.block_count(piece) && self.block(piece, index).len == block.len)
            .then_some(index)
    }
}

/// The piece picker of one torrent. See the module docs for the policy and invariants.
#[derive(Clone, Debug)]
pub struct Picker {
    geometry: Geometry,
    state: Vec<PieceState>,
    /// Per piece: connected peers other than seeds that have it.
    avail: Vec<u32>,
    /// Peers that sent `have_all`; they count towards every piece.
    seeds: HashSet<PeerKey>,
    /// `buckets[a]`: the free pieces of availability `a`, in random order.
    buckets: Vec<Vec<u32>>,
    downloading: Vec<Downloading>,
    have_count: u32,
    rng: Rng,
    scratch_pieces: Vec<u32>,
    scratch_endgame: Vec<(u32, u32, u32)>,
}

impl Picker {
    /// A picker for `piece_count` pieces of `piece_length` bytes (the last holds the rest
    /// of `total_length`), where `have` says which pieces are already verified on disk.
    /// `seed` drives the random tie-breaks.
    pub fn new(
        piece_count: u32,
        piece_length: u64,
        total_length: u64,
        have: impl Fn(PieceIndex) -> bool,
        seed: u64,
    ) -> Result<Picker, GeometryError> {
        let err = GeometryError {
            piece_count,
            piece_length,
            total_length,
        };
        if piece_length == 0
            || piece_length > MAX_PIECE_LENGTH
            || total_length == 0
            || total_length.div_ceil(piece_length) != u64::from(piece_count)
        {
            return Err(err);
        }
        let last = total_length - (u64::from(piece_count) - 1) * piece_length;
        let mut picker = Picker {
            geometry: Geometry {
                piece_count,
                piece_length: piece_length as u32,
                last_piece_length: last as u32,
            },
            state: Vec::with_capacity(piece_count as usize),
            avail: vec![0; piece_count as usize],
            seeds: HashSet::new(),
            buckets: vec![Vec::new()],
            downloading: Vec::new(),
            have_count: 0,
            rng: Rng::new(seed),
            scratch_pieces: Vec::new(),
            scratch_endgame: Vec::new(),
        };
        for p in 0..piece_count {
            if have(PieceIndex(p)) {
                picker.state.push(PieceState::Have);
                picker.have_count += 1;
            } else {
                picker.state.push(PieceState::Free { pos: 0 });
                picker.bucket_insert(p);
            }
        }
        picker.debug_check();
        Ok(picker)
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.geometry.piece_count
    }

    /// Length of `piece` in bytes (the last piece may be shorter).
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        self.geometry.piece_len(piece.0)
    }

    /// Number of blocks in `piece`.
    pub fn block_count(&self, piece: PieceIndex) -> u32 {
        self.geometry.block_count(piece.0)
    }

    /// True when `piece` is verified and ours.
    pub fn have(&self, piece: PieceIndex) -> bool {
        self.state.get(piece.0 as usize) == Some(&PieceState::Have)
    }

    /// Number of pieces we have.
    pub fn have_count(&self) -> u32 {
        self.have_count
    }

    /// True when we have every piece.
    pub fn is_complete(&self) -> bool {
        self.have_count == self.geometry.piece_count
    }

    /// How many connected peers have `piece`, seeds included.
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.avail
            .get(piece.0 as usize)
            .map_or(0, |&a| a + self.seed_count())
    }

    /// Number of connected peers that sent `have_all`.
    pub fn seed_count(&self) -> u32 {
        self.seeds.len() as u32
    }

    /// Number of pieces downloading: partly requested, partly received or waiting for
    /// their hash.
    pub fn downloading_count(&self) -> usize {
        self.downloading.len()
    }

    /// The pieces downloading (see [`Picker::downloading_count`]), in no order.
    pub fn downloading_pieces(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.downloading.iter().map(|d| PieceIndex(d.piece))
    }

    /// True when some block is requested and every block still missing of every piece
    /// some peer has is requested too, so [`Picker::pick`] hands out duplicates.
    pub fn in_endgame(&self) -> bool {
        let first = if self.seeds.is_empty() { 1 } else { 0 };
        if self.buckets.iter().skip(first).any(|b| !b.is_empty()) {
            return false;
        }
        let mut requested = false;
        for d in &self.downloading {
            if d.free > 0 && self.availability(PieceIndex(d.piece)) > 0 {
                return false;
            }
            requested |= d.requested > 0;
        }
        requested
    }

    /// A peer's bitfield: every piece `has` names is one more peer's.
    pub fn on_bitfield(&mut self, peer: PeerKey, has: impl Fn(PieceIndex) -> bool) {
        if !self.seeds.contains(&peer) {
            for p in 0..self.geometry.piece_count {
                if has(PieceIndex(p)) {
                    self.set_avail(p, self.avail[p as usize] + 1);
                }
            }
        }
        self.debug_check();
    }

    /// A peer's `have`. Ignored for pieces out of range and for seeds.
    pub fn on_have(&mut self, peer: PeerKey, piece: PieceIndex) {
        let p = piece.0;
        if p < self.geometry.piece_count && !self.seeds.contains(&peer) {
            self.set_avail(p, self.avail[p as usize] + 1);
        }
        self.debug_check();
    }

    /// A peer's `have_all` (BEP 6): it counts towards every piece until it is gone.
    pub fn on_have_all(&mut self, peer: PeerKey) {
        self.seeds.insert(peer);
        self.debug_check();
    }

    /// A peer disconnected: its pieces (`has`, unused for a peer that sent `have_all`)
    /// no longer count, and every block it had requested becomes pickable again.
    pub fn on_peer_gone(&mut self, peer: PeerKey, has: impl Fn(PieceIndex) -> bool) {
        if !self.seeds.remove(&peer) {
            for p in 0..self.geometry.piece_count {
                if has(PieceIndex(p)) {
                    let a = self.avail[p as usize];
                    debug_assert!(a > 0, "piece {p} lost a peer it never had");
                    self.set_avail(p, a.saturating_sub(1));
                }
            }
        }
        // Backwards, so the table `release` moves into `slot` was visited already.
        for slot in (0..self.downloading.len()).rev() {
            let d = &mut self.downloading[slot];
            d.extra.retain(|&(_, k)| k != peer);
            for i in 0..d.blocks.len() as u32 {
                if d.blocks[i as usize] == Block::Requested(peer) {
                    d.drop_request(i, peer);
                }
            }
            if d.requested == 0 && d.received == 0 {
                self.release(slot);
            }
        }
        self.debug_check();
    }

    /// Appends to `out` up to `want` blocks for `peer` to request; `has` says which
    /// pieces the peer has (ignored for a peer that sent `have_all`). The blocks are
    /// recorded as requested from `peer` until received or dropped.
    pub fn pick(
        &mut self,
        peer: PeerKey,
        has: impl Fn(PieceIndex) -> bool,
        want: usize,
        out: &mut Vec<BlockRef>,
    ) {
        self.pick_except(peer, has, |_| false, want, out);
    }

    /// As [`Picker::pick`], never picking a piece for which `refused` is true (the peer
    /// claims it but rejected a request for it), seed or not.
    pub fn pick_except(
        &mut self,
        peer: PeerKey,
        has: impl Fn(PieceIndex) -> bool,
        refused: impl Fn(PieceIndex) -> bool,
        want: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let is_seed = self.seeds.contains(&peer);
        let has = |p: u32| (is_seed || has(PieceIndex(p))) && !refused(PieceIndex(p));
        let mut left = want;
        left = self.pick_partial(peer, &has, left, out);
        if left > 0 {
            left = self.pick_rarest(peer, is_seed, &has, left, out);
        }
        if left > 0 && self.in_endgame() {
            self.pick_endgame(peer, &has, left, out);
        }
        self.debug_check();
    }

    /// A block arrived from `peer`. See [`BlockOutcome`]. A block of a piece nobody had
    /// requested (a late answer to a dropped request) is accepted too.
    pub fn on_block_received(&mut self, peer: PeerKey, block: BlockRef) -> BlockOutcome {
        let Some(i) = self.geometry.block_index(block) else {
            return BlockOutcome::Unwanted;
        };
        let p = block.piece.0;
        let slot = match self.state[p as usize] {
            PieceState::Have => return BlockOutcome::Unwanted,
            PieceState::Free { .. } => self.start_downloading(p),
            PieceState::Downloading { slot } => slot as usize,
        };
        let d = &mut self.downloading[slot];
        let mut cancel = Vec::new();
        match d.blocks[i as usize] {
            Block::Received(_) => return BlockOutcome::Unwanted,
            Block::Free => d.free -= 1,
            Block::Requested(first) => {
                d.requested -= 1;
                if first != peer {
                    cancel.push(first);
                }
                d.extra.retain(|&(b, k)| {
                    if b == i && k != peer {
                        cancel.push(k);
                    }
                    b != i
                });
            }
        }
        d.blocks[i as usize] = Block::Received(peer);
        d.received += 1;
        let piece_complete = d.received as usize == d.blocks.len();
        self.debug_check();
        BlockOutcome::Accepted {
            piece_complete,
            cancel,
        }
    }

    /// `peer` will not deliver `block` (timeout, reject, choke): it is pickable again,
    /// unless another peer still has it requested. Does nothing if `peer` had not
    /// requested it.
    pub fn on_request_dropped(&mut self, peer: PeerKey, block: BlockRef) {
        let Some(i) = self.geometry.block_index(block) else {
            return;
        };
        if let PieceState::Downloading { slot } = self.state[block.piece.0 as usize] {
            let d = &mut self.downloading[slot as usize];
            d.drop_request(i, peer);
            if d.requested == 0 && d.received == 0 {
                self.release(slot as usize);
            }
        }
        self.debug_check();
    }

    /// `piece` hashed correctly and is ours. Blocks of it still requested (only if it
    /// was verified before it completed) are forgotten; their answers become unwanted.
    pub fn on_piece_verified(&mut self, piece: PieceIndex) {
        let p = piece.0;
        match self.state.get(p as usize) {
            None | Some(PieceState::Have) => {}
            Some(&PieceState::Free { .. }) => {
                self.bucket_remove(p);
                self.set_have(p);
            }
            Some(&PieceState::Downloading { slot }) => {
                self.remove_downloading(slot as usize);
                self.set_have(p);
            }
        }
        self.debug_check();
    }

    /// `piece` failed its hash: all its blocks are pickable again. Returns the peers
    /// that supplied blocks of it, sorted and without repeats, to be given a strike.
    /// A piece we had (a failed recheck) becomes wanted again.
    pub fn on_piece_failed(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        let p = piece.0;
        let mut suppliers = Vec::new();
        match self.state.get(p as usize) {
            None | Some(PieceState::Free { .. }) => {}
            Some(PieceState::Have) => {
                self.have_count -= 1;
                self.bucket_insert(p);
            }
            Some(&PieceState::Downloading { slot }) => {
                let d = &mut self.downloading[slot as usize];
                for b in &mut d.blocks {
                    if let Block::Received(k) = *b {
                        suppliers.push(k);
                        *b = Block::Free;
                    }
                }
                d.free += d.received;
                d.received = 0;
                if d.requested == 0 {
                    self.release(slot as usize);
                }
            }
        }
        suppliers.sort_unstable();
        suppliers.dedup();
        self.debug_check();
        suppliers
    }

    /// Panics if an invariant in the module docs is broken. Runs after every change in
    /// debug builds; costs `O(pieces + D·B)`.
    pub fn check_invariants(&self) {
        let n = self.geometry.piece_count as usize;
        assert_eq!(self.state.len(), n);
        assert_eq!(self.avail.len(), n);
        let mut have = 0;
        let mut free = 0;
        for (p, state) in self.state.iter().enumerate() {
            match *state {
                PieceState::Have => have += 1,
                PieceState::Free { pos } => {
                    let bucket = &self.buckets[self.avail[p] as usize];
                    assert_eq!(bucket[pos as usize] as usize, p, "piece {p} misplaced");
                    free += 1;
                }
                PieceState::Downloading { slot } => {
                    assert_eq!(self.downloading[slot as usize].piece as usize, p);
                }
            }
        }
        assert_eq!(have, self.have_count);
        assert_eq!(self.buckets.iter().map(Vec::len).sum::<usize>(), free);
        for (slot, d) in self.downloading.iter().enumerate() {
            let p = d.piece;
            assert_eq!(
                self.state[p as usize],
                PieceState::Downloading { slot: slot as u32 }
            );
            assert_eq!(d.blocks.len() as u32, self.geometry.block_count(p));
            let count = |f: fn(&Block) -> bool| d.blocks.iter().filter(|b| f(b)).count() as u32;
            assert_eq!(d.free, count(|b| *b == Block::Free));
            assert_eq!(d.requested, count(|b| matches!(b, Block::Requested(_))));
            assert_eq!(d.received, count(|b| matches!(b, Block::Received(_))));
            assert!(d.requested + d.received > 0, "piece {p} should be free");
            for (k, &(i, peer)) in d.extra.iter().enumerate() {
                match d.blocks[i as usize] {
                    Block::Requested(first) => assert_ne!(first, peer),
                    other => panic!("piece {p} block {i}: duplicate of {other:?}"),
                }
                assert!(!d.extra[..k].contains(&(i, peer)));
            }
        }
    }

    fn debug_check(&self) {
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// Phase 1: free blocks of pieces already downloading. Returns how many are still
    /// wanted.
    fn pick_partial(
        &mut self,
        peer: PeerKey,
        has: &impl Fn(u32) -> bool,
        mut left: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        let geometry = self.geometry;
        for d in &mut self.downloading {
            if left == 0 {
                break;
            }
            if d.free > 0 && has(d.piece) {
                left = d.request_free(peer, geometry, left, out);
            }
        }
        left
    }

    /// Phase 2: free pieces, rarest first. Returns how many blocks are still wanted.
    fn pick_rarest(
        &mut self,
        peer: PeerKey,
        is_seed: bool,
        has: &impl Fn(u32) -> bool,
        mut left: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        // Choose the pieces first, then take them out of their buckets, so the scan
        // never runs over a bucket that is changing under it.
        let mut chosen = std::mem::take(&mut self.scratch_pieces);
        chosen.clear();
        let mut blocks = 0usize;
        // A peer that is not a seed counts in the availability of every piece it has,
        // so it has none of bucket 0.
        let first = usize::from(!is_seed);
        'scan: for b in first..self.buckets.len() {
            let len = self.buckets[b].len();
            if len == 0 {
                continue;
            }
            // The bucket is in random order already; a random start as well keeps the
            // choice uniform while pieces leave from the front.
            let start = self.rng.below(len);
            for k in 0..len {
                let p = self.buckets[b][(start + k) % len];
                if has(p) {
                    chosen.push(p);
                    blocks += self.geometry.block_count(p) as usize;
                    if blocks >= left {
                        break 'scan;
                    }
                }
            }
        }
        let geometry = self.geometry;
        for &p in &chosen {
            let slot = self.start_downloading(p);
            left = self.downloading[slot].request_free(peer, geometry, left, out);
        }
        self.scratch_pieces = chosen;
        left
    }

    /// Phase 3: duplicates of blocks requested from other peers, fewest requesters
    /// first.
    fn pick_endgame(
        &mut self,
        peer: PeerKey,
        has: &impl Fn(u32) -> bool,
        left: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let mut candidates = std::mem::take(&mut self.scratch_endgame);
        candidates.clear();
        for (slot, d) in self.downloading.iter().enumerate() {
            if d.requested == 0 || !has(d.piece) {
                continue;
            }
            for (i, b) in d.blocks.iter().enumerate() {
                let i = i as u32;
                if let Block::Requested(first) = *b {
                    if first == peer || d.extra.contains(&(i, peer)) {
                        continue;
                    }
                    let requesters = 1 + d.extra.iter().filter(|&&(b, _)| b == i).count();
                    candidates.push((requesters as u32, slot as u32, i));
                }
            }
        }
        candidates.sort_unstable();
        for &(_, slot, i) in candidates.iter().take(left) {
            let d = &mut self.downloading[slot as usize];
            d.extra.push((i, peer));
            out.push(self.geometry.block(d.piece, i));
        }
        self.scratch_endgame = candidates;
    }

    /// Moves free piece `p` into a new block table; returns its slot.
    fn start_downloading(&mut self, p: u32) -> usize {
        self.bucket_remove(p);
        let count = self.geometry.block_count(p);
        let slot = self.downloading.len();
        self.downloading.push(Downloading {
            piece: p,
            blocks: vec![Block::Free; count as usize],
            free: count,
            requested: 0,
            received: 0,
            extra: Vec::new(),
        });
        self.state[p as usize] = PieceState::Downloading { slot: slot as u32 };
        slot
    }

    /// The piece in `slot` has nothing requested or received: back to its bucket.
    fn release(&mut self, slot: usize) {
        let p = self.remove_downloading(slot);
        self.bucket_insert(p);
    }

    /// Drops the block table in `slot`, returning its piece, whose state the caller sets.
    fn remove_downloading(&mut self, slot: usize) -> u32 {
        let d = self.downloading.swap_remove(slot);
        if let Some(moved) = self.downloading.get(slot) {
            self.state[moved.piece as usize] = PieceState::Downloading { slot: slot as u32 };
        }
        d.piece
    }

    fn set_have(&mut self, p: u32) {
        self.state[p as usize] = PieceState::Have;
        self.have_count += 1;
    }

    fn set_avail(&mut self, p: u32, avail: u32) {
        let free = matches!(self.state[p as usize], PieceState::Free { .. });
        if free {
            self.bucket_remove(p);
        }
        self.avail[p as usize] = avail;
        if free {
            self.bucket_insert(p);
        }
    }

    /// Puts `p` at a random place in the bucket of its availability and marks it free.
    fn bucket_insert(&mut self, p: u32) {
        let b = self.avail[p as usize] as usize;
        if self.buckets.len() <= b {
            self.buckets.resize_with(b + 1, Vec::new);
        }
        let len = self.buckets[b].len() + 1;
        let pos = self.rng.below(len);
        let bucket = &mut self.buckets[b];
        bucket.push(p);
        bucket.swap(pos, len - 1);
        let displaced = bucket[len - 1];
        self.state[displaced as usize] = PieceState::Free {
            pos: (len - 1) as u32,
        };
        self.state[p as usize] = PieceState::Free { pos: pos as u32 };
    }

    /// Takes free piece `p` out of its bucket; the caller sets its new state.
    fn bucket_remove(&mut self, p: u32) {
        let PieceState::Free { pos } = self.state[p as usize] else {
            unreachable!("piece {p} is not free");
        };
        let bucket = &mut self.buckets[self.avail[p as usize] as usize];
        bucket.swap_remove(pos as usize);
        if let Some(&moved) = bucket.get(pos as usize) {
            self.state[moved as usize] = PieceState::Free { pos };
        }
    }
}

impl Downloading {
    /// Requests free blocks from `peer`, first to last, until `left` are handed out or
    /// none is free. Returns how many are still wanted.
    fn request_free(
        &mut self,
        peer: PeerKey,
        geometry: Geometry,
        mut left: usize,
        out: &mut Vec<BlockRef>,
    ) -> usize {
        for (i, b) in self.blocks.iter_mut().enumerate() {
            if left == 0 || self.free == 0 {
                break;
            }
            if *b == Block::Free {
                *b = Block::Requested(peer);
                self.free -= 1;
                self.requested += 1;
                out.push(geometry.block(self.piece, i as u32));
                left -= 1;
            }
        }
        left
    }

    /// `peer` no longer has block `i` requested. If it was the first requester, an
    /// endgame duplicate takes its place, or the block becomes free.
    fn drop_request(&mut self, i: u32, peer: PeerKey) {
        match self.blocks[i as usize] {
            Block::Requested(first) if first == peer => {
                if let Some(k) = self.extra.iter().position(|&(b, _)| b == i) {
                    let (_, next) = self.extra.swap_remove(k);
                    self.blocks[i as usize] = Block::Requested(next);
                } else {
                    self.blocks[i as usize] = Block::Free;
                    self.requested -= 1;
                    self.free += 1;
                }
            }
            Block::Requested(_) => {
                if let Some(k) = self.extra.iter().position(|&e| e == (i, peer)) {
                    self.extra.swap_remove(k);
                }
            }
            Block::Free | Block::Received(_) => {}
        }
    }
}
