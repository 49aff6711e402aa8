//! `--verify`: checking one piece's SHA-1 as its blocks arrive, holding as few of them
//! as possible.
//!
//! Depends on `sha1` and `hivebt::types`. Pure. A connection asks for a piece's blocks
//! in order, and TCP delivers a seeder's answers in the order it sends them, so nearly
//! every block arrives just when the hash needs it: its bytes go straight from the read
//! buffer into SHA-1 and are never kept. Only a block that overtakes an earlier one (the
//! earlier one was rejected and asked for again, or the seeder answers out of order) is
//! copied aside until the gap closes. The caller counts those kept blocks against the
//! connection's request depth, so a connection never holds more than `depth` blocks.
//!
//! Invariants: `hashed <= next_request <= len`; every kept block starts past `hashed`;
//! the hasher has seen exactly the bytes `0..hashed`.

use sha1::{Digest, Sha1};

use hivebt::types::{BLOCK_SIZE, PieceIndex};

/// One piece being downloaded and hashed by one connection.
#[derive(Debug, Clone)]
pub struct PieceCheck {
    piece: PieceIndex,
    len: u32,
    expected: [u8; 20],
    /// Offset of the next block to request.
    next_request: u32,
    /// Bytes fed to the hasher (always the piece's first `hashed` bytes).
    hashed: u32,
    hasher: Sha1,
    /// Blocks that arrived ahead of `hashed`, by offset.
    kept: Vec<(u32, Vec<u8>)>,
}

impl PieceCheck {
    /// A check of piece `piece`, `len` bytes long, against the torrent's hash.
    pub fn new(piece: PieceIndex, len: u32, expected: [u8; 20]) -> PieceCheck {
        PieceCheck {
            piece,
            len,
            expected,
            next_request: 0,
            hashed: 0,
            hasher: Sha1::new(),
            kept: Vec::new(),
        }
    }

    /// The piece.
    pub fn piece(&self) -> PieceIndex {
        self.piece
    }

    /// The offset and length of the next block to request, advancing past it; `None`
    /// once every block has been requested.
    pub fn next_block(&mut self) -> Option<(u32, u32)> {
        let offset = self.next_request;
        let len = BLOCK_SIZE.min(self.len - offset);
        if len == 0 {
            return None;
        }
        self.next_request += len;
        Some((offset, len))
    }

    /// Blocks copied aside, waiting for an earlier one.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    /// Whether a block starting at `offset` is the one the hash needs next, so its
    /// data can be passed to [`PieceCheck::hash`] as it arrives.
    pub fn is_next(&self, offset: u32) -> bool {
        offset == self.hashed
    }

    /// Data of the block the hash needs next, in arrival order.
    pub fn hash(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// The block the hash needed, `len` bytes, has been fed through [`PieceCheck::hash`];
    /// feeds any kept blocks that now follow. Returns whether the piece is complete.
    pub fn hashed_block(&mut self, len: u32) -> bool {
        self.hashed += len;
        while let Some(i) = self.kept.iter().position(|(o, _)| *o == self.hashed) {
            let (_, data) = self.kept.swap_remove(i);
            self.hasher.update(&data);
            self.hashed += data.len() as u32;
        }
        self.hashed == self.len
    }

    /// Keeps a block that arrived ahead of the hash.
    pub fn keep(&mut self, offset: u32, data: Vec<u8>) {
        debug_assert!(offset > self.hashed);
        self.kept.push((offset, data));
    }

    /// Whether the complete piece matches the torrent's hash.
    pub fn verify(self) -> bool {
        debug_assert_eq!(self.hashed, self.len);
        self.hasher.finalize().as_slice() == self.expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 256) as u8).collect()
    }

    fn sha1(bytes: &[u8]) -> [u8; 20] {
        Sha1::digest(bytes).into()
    }

    /// Delivers the blocks of a `len`-byte piece in `order` (block indexes), each
    /// split in two slices as a read boundary would, and returns the verdict.
    fn deliver(piece: &[u8], expected: [u8; 20], order: &[usize]) -> bool {
        let mut c = PieceCheck::new(PieceIndex(5), piece.len() as u32, expected);
        let mut blocks = Vec::new();
        while let Some(b) = c.next_block() {
            blocks.push(b);
        }
        assert_eq!(blocks.len(), piece.len().div_ceil(BLOCK_SIZE as usize));
        let mut complete = false;
        for (n, &i) in order.iter().enumerate() {
            assert!(!complete, "complete before the last block");
            let (offset, len) = blocks[i];
            let bytes = &piece[offset as usize..(offset + len) as usize];
            if c.is_next(offset) {
                let (a, b) = bytes.split_at(bytes.len() / 2);
                c.hash(a);
                c.hash(b);
                complete = c.hashed_block(len);
            } else {
                c.keep(offset, bytes.to_vec());
            }
            assert!(c.kept() <= n + 1);
        }
        assert!(complete, "incomplete after every block");
        assert_eq!(c.kept(), 0);
        c.verify()
    }

    #[test]
    fn in_order_blocks_verify() {
        let piece = data(3 * 16384 + 100);
        assert!(deliver(&piece, sha1(&piece), &[0, 1, 2, 3]));
    }

    #[test]
    fn out_of_order_blocks_are_kept_until_the_gap_closes() {
        let piece = data(4 * 16384);
        for order in [[3, 2, 1, 0], [1, 0, 3, 2], [0, 2, 3, 1], [2, 0, 1, 3]] {
            assert!(deliver(&piece, sha1(&piece), &order), "{order:?}");
        }
    }

    #[test]
    fn a_wrong_byte_fails() {
        let piece = data(2 * 16384);
        let mut bad = piece.clone();
        bad[20000] ^= 1;
        assert!(!deliver(&bad, sha1(&piece), &[0, 1]));
        assert!(!deliver(&bad, sha1(&piece), &[1, 0]));
    }

    #[test]
    fn a_piece_shorter_than_a_block() {
        let piece = data(1000);
        let mut c = PieceCheck::new(PieceIndex(0), 1000, sha1(&piece));
        assert_eq!(c.next_block(), Some((0, 1000)));
        assert_eq!(c.next_block(), None);
        c.hash(&piece);
        assert!(c.hashed_block(1000));
        assert!(c.verify());
    }
}
