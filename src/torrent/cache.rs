//! The upload cache of one torrent (buffered upload mode): whole pieces read from disk,
//! kept so the blocks of a piece are served without a read each, evicted least recently
//! used first.
//!
//! Depends on `types` and `bytes`. Invariant: `bytes` is the sum of the cached pieces'
//! lengths, and stays within `cap` after every insertion (a piece larger than `cap` is
//! held alone).

use std::collections::HashMap;

use bytes::Bytes;

use crate::types::PieceIndex;

/// Recently read pieces of one torrent. See the module docs.
#[derive(Debug)]
pub struct UploadCache {
    /// Piece to its bytes and the use counter when it was last used.
    pieces: HashMap<u32, (Bytes, u64)>,
    bytes: usize,
    cap: usize,
    clock: u64,
}

impl UploadCache {
    /// An empty cache holding at most `cap` bytes.
    pub fn new(cap: usize) -> UploadCache {
        UploadCache {
            pieces: HashMap::new(),
            bytes: 0,
            cap,
            clock: 0,
        }
    }

    /// A cached piece, marking it recently used.
    pub fn get(&mut self, piece: PieceIndex) -> Option<Bytes> {
        self.clock += 1;
        let clock = self.clock;
        self.pieces.get_mut(&piece.0).map(|(b, used)| {
            *used = clock;
            b.clone()
        })
    }

    /// Caches a piece read from disk, evicting the least recently used first.
    pub fn insert(&mut self, piece: PieceIndex, data: Bytes) {
        while self.bytes + data.len() > self.cap && !self.pieces.is_empty() {
            let oldest = self
                .pieces
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(p, _)| PieceIndex(*p));
            if let Some(p) = oldest {
                self.remove(p);
            }
        }
        self.clock += 1;
        self.bytes += data.len();
        if let Some((old, _)) = self.pieces.insert(piece.0, (data, self.clock)) {
            self.bytes -= old.len();
        }
    }

    /// Drops `piece` (its data is gone or changed).
    pub fn remove(&mut self, piece: PieceIndex) {
        if let Some((b, _)) = self.pieces.remove(&piece.0) {
            self.bytes -= b.len();
        }
    }

    /// Drops every piece.
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.bytes = 0;
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut c = UploadCache::new(100);
        c.insert(PieceIndex(0), Bytes::from(vec![0; 60]));
        c.insert(PieceIndex(1), Bytes::from(vec![1; 40]));
        assert!(c.get(PieceIndex(0)).is_some());
        c.insert(PieceIndex(2), Bytes::from(vec![2; 40]));
        assert!(
            c.get(PieceIndex(1)).is_none(),
            "least recently used went first"
        );
        assert!(c.get(PieceIndex(0)).is_some());
        assert_eq!(c.bytes(), 100);
        c.remove(PieceIndex(0));
        assert_eq!(c.bytes(), 40);
        c.insert(PieceIndex(2), Bytes::from(vec![2; 10]));
        assert_eq!(c.bytes(), 10, "a piece cached again replaces its old bytes");
        c.clear();
        assert_eq!(c.bytes(), 0);
        assert!(c.get(PieceIndex(2)).is_none());
    }
}
