//! Piece assembly: blocks arriving from peers are copied into their piece, and a piece
//! whose last block arrived is handed out to be verified and written, with a record of
//! who sent each block so a failed hash check can be blamed.
//!
//! Depends on `types` and `torrent::ban`. Plain data. The piece lifecycle here is
//! `absent -> receiving -> writing -> absent` (verified pieces live in the torrent's
//! `have`, not here). Invariants, checked by [`Assembly::check_invariants`]:
//! - a piece is either receiving (in `receiving`) or writing (in `writing`), never both;
//! - a receiving piece's buffer has the piece's full length and one source slot per
//!   16 KiB block;
//! - only the picker decides when a piece is complete: [`Assembly::complete`] is called
//!   when it says so, and moves the piece from receiving to writing;
//! - [`Assembly::unhashed_bytes`] is the sum of the lengths of the writing pieces (the
//!   bytes handed out to verify and write whose completion has not come back), which
//!   the engine bounds by not requesting more blocks while it is past
//!   `config::MAX_UNHASHED_BYTES_PER_TORRENT`.

use std::collections::HashMap;

use crate::torrent::ban::Source;
use crate::types::{BLOCK_SIZE, PieceIndex};

/// A piece whose blocks are arriving.
#[derive(Debug)]
struct Receiving {
    /// The piece's bytes so far (allocated at full length on the first block).
    data: Vec<u8>,
    /// Who sent each 16 KiB block.
    sources: Vec<Option<Source>>,
}

/// A piece handed out to be verified and written.
#[derive(Debug)]
struct Writing {
    /// Who sent each 16 KiB block.
    sources: Vec<Option<Source>>,
    /// The piece's length in bytes.
    len: u64,
}

/// The pieces of one torrent being received or written.
#[derive(Debug, Default)]
pub struct Assembly {
    receiving: HashMap<u32, Receiving>,
    /// Pieces handed out to verify and write.
    writing: HashMap<u32, Writing>,
    /// The sum of the lengths of the pieces in `writing`.
    unhashed: u64,
}

impl Assembly {
    /// Copies a block of `piece` (whose length is `piece_len`) at `offset`, sent by
    /// `source`. A block that does not fit the piece, or arrives for a piece already
    /// being written, is ignored: the picker only accepts blocks it handed out, so
    /// neither happens unless the caller is wrong.
    pub fn add_block(
        &mut self,
        piece: PieceIndex,
        offset: u32,
        data: &[u8],
        piece_len: usize,
        source: Source,
    ) {
        let start = offset as usize;
        let fits = start
            .checked_add(data.len())
            .is_some_and(|e| e <= piece_len);
        if !fits || self.writing.contains_key(&piece.0) {
            debug_assert!(fits, "block at {start}+{} past {piece_len}", data.len());
            return;
        }
        let r = self.receiving.entry(piece.0).or_insert_with(|| Receiving {
            data: vec![0; piece_len],
            sources: vec![None; piece_len.div_ceil(BLOCK_SIZE as usize)],
        });
        r.data[start..start + data.len()].copy_from_slice(data);
        if let Some(slot) = r.sources.get_mut(start / BLOCK_SIZE as usize) {
            *slot = Some(source);
        }
    }

    /// The picker says every block of `piece` arrived: its bytes, to verify and write,
    /// and the piece is now writing. `None` if nothing of it was received.
    pub fn complete(&mut self, piece: PieceIndex) -> Option<Vec<u8>> {
        let r = self.receiving.remove(&piece.0)?;
        let len = r.data.len() as u64;
        self.unhashed += len;
        let writing = Writing {
            sources: r.sources,
            len,
        };
        // A piece is never receiving and writing at once, so nothing is replaced.
        if let Some(old) = self.writing.insert(piece.0, writing) {
            self.unhashed -= old.len;
        }
        Some(r.data)
    }

    /// The worker finished with `piece` (verified, failed or not written): it leaves
    /// the assembly; returns who sent each block.
    pub fn finish(&mut self, piece: PieceIndex) -> Vec<Option<Source>> {
        let Some(w) = self.writing.remove(&piece.0) else {
            return Vec::new();
        };
        self.unhashed -= w.len;
        w.sources
    }

    /// Whether any piece is out being verified and written.
    pub fn writing(&self) -> bool {
        !self.writing.is_empty()
    }

    /// Bytes of the pieces out being verified and written.
    pub fn unhashed_bytes(&self) -> u64 {
        self.unhashed
    }

    /// Whether `piece` is out being verified and written.
    pub fn is_writing(&self, piece: PieceIndex) -> bool {
        self.writing.contains_key(&piece.0)
    }

    /// Panics if an invariant of the module doc does not hold (debug builds and tests).
    pub fn check_invariants(&self, piece_len: impl Fn(PieceIndex) -> usize) {
        for (&p, r) in &self.receiving {
            assert!(
                !self.writing.contains_key(&p),
                "piece {p} both receiving and writing"
            );
            let len = piece_len(PieceIndex(p));
            assert_eq!(r.data.len(), len, "piece {p} buffer length");
            assert_eq!(r.sources.len(), len.div_ceil(BLOCK_SIZE as usize));
        }
        let writing: u64 = self.writing.values().map(|w| w.len).sum();
        assert_eq!(self.unhashed, writing, "unhashed bytes");
        for (&p, w) in &self.writing {
            assert_eq!(w.len, piece_len(PieceIndex(p)) as u64, "piece {p} length");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PeerId;

    fn who(port: u16) -> Source {
        Source {
            addr: format!("10.0.0.1:{port}").parse().unwrap(),
            peer_id: PeerId([port as u8; 20]),
        }
    }

    const LEN: usize = 2 * BLOCK_SIZE as usize + 100;

    #[test]
    fn a_piece_goes_receiving_writing_absent() {
        let mut a = Assembly::default();
        let p = PieceIndex(3);
        let block = vec![7u8; BLOCK_SIZE as usize];
        a.add_block(p, BLOCK_SIZE, &block, LEN, who(1));
        a.add_block(p, 0, &block, LEN, who(2));
        a.add_block(p, 2 * BLOCK_SIZE, &[9; 100], LEN, who(1));
        a.check_invariants(|_| LEN);
        assert!(!a.writing());
        let data = a.complete(p).expect("received");
        assert_eq!(data.len(), LEN);
        assert!(data[..2 * BLOCK_SIZE as usize].iter().all(|&b| b == 7));
        assert!(data[2 * BLOCK_SIZE as usize..].iter().all(|&b| b == 9));
        assert!(a.is_writing(p));
        a.check_invariants(|_| LEN);
        // A late duplicate while writing does not bring the piece back.
        a.add_block(p, 0, &block, LEN, who(3));
        a.check_invariants(|_| LEN);
        assert_eq!(a.finish(p), [Some(who(2)), Some(who(1)), Some(who(1))]);
        assert!(!a.writing());
        assert!(a.complete(p).is_none());
        assert!(a.finish(p).is_empty());
    }

    #[test]
    fn a_later_block_overwrites_and_takes_the_blame() {
        let mut a = Assembly::default();
        let p = PieceIndex(0);
        a.add_block(p, 0, &[1; 10], 10, who(1));
        a.add_block(p, 0, &[2; 10], 10, who(2));
        assert_eq!(a.complete(p).unwrap(), [2; 10]);
        assert_eq!(a.finish(p), [Some(who(2))]);
    }

    #[test]
    fn unhashed_bytes_count_the_writing_pieces() {
        let mut a = Assembly::default();
        let len = |p: PieceIndex| if p.0 == 9 { 100 } else { LEN };
        for p in [1, 2, 9] {
            a.add_block(PieceIndex(p), 0, &[1; 100], len(PieceIndex(p)), who(1));
        }
        assert_eq!(a.unhashed_bytes(), 0, "receiving pieces are not unhashed");
        a.complete(PieceIndex(1));
        a.complete(PieceIndex(9));
        a.check_invariants(len);
        assert_eq!(a.unhashed_bytes(), LEN as u64 + 100);
        // A completion for a piece not writing changes nothing.
        assert!(a.finish(PieceIndex(2)).is_empty());
        assert!(a.complete(PieceIndex(1)).is_none());
        assert_eq!(a.unhashed_bytes(), LEN as u64 + 100);
        a.finish(PieceIndex(1));
        a.check_invariants(len);
        assert_eq!(a.unhashed_bytes(), 100);
        a.finish(PieceIndex(9));
        a.finish(PieceIndex(9));
        assert_eq!(a.unhashed_bytes(), 0);
        a.check_invariants(len);
    }
}
