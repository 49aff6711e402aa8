//! Fetching a magnet link's info dictionary from peers (BEP 9), sans-io: which peer to
//! ask for which 16 KiB piece, assembling the pieces within a bound, and trusting the
//! whole only once its SHA-1 is the info-hash.
//!
//! Depends on `wire::metadata` and `types`. Input is what peers said (their
//! `metadata_size`, data, rejects, leaving); output is the next piece to ask a peer
//! for, and in the end the verified bytes or the peers to drop.
//!
//! Invariants:
//! - the buffer is sized once from the first plausible `metadata_size` (at most
//!   [`MAX_METADATA_SIZE`]) and never grows: a peer announcing another size is not
//!   asked, and a data message for another size or a piece past the end is refused;
//! - each piece remembers the peer it came from; when the whole does not hash to the
//!   info-hash, every peer that contributed is reported bad if one peer sent it all,
//!   and otherwise the next attempt takes every piece from a single peer, so that a
//!   failure always names the liar and an honest peer is never dropped with it;
//! - a peer that was reported bad is never asked again.

use std::collections::{HashMap, HashSet};

use sha1::{Digest, Sha1};

use crate::types::InfoHash;
use crate::wire::metadata::{MAX_METADATA_SIZE, piece_count, piece_range};

/// A peer as the caller knows it (a connection slot, a thread index).
pub type FetchPeer = usize;

/// What a data message did.
#[derive(Debug, PartialEq, Eq)]
pub enum DataOutcome {
    /// Stored, or a duplicate of a piece we have: keep going.
    Stored,
    /// A piece we did not ask this peer for (or asked before the last restart): not
    /// stored, harmless.
    Ignored,
    /// The message does not fit the metadata being assembled (another size, a piece
    /// past the end): drop the peer.
    Refused,
    /// Every piece is in and the SHA-1 matches: the info dictionary.
    Complete(Vec<u8>),
    /// Every piece is in and the SHA-1 does not match: drop these peers (possibly none,
    /// when several contributed and the next attempt must tell who lied).
    HashFailed(Vec<FetchPeer>),
}

/// The metadata being fetched for one info-hash.
#[derive(Debug)]
pub struct MetadataFetch {
    info_hash: InfoHash,
    /// The size being assembled, once a peer announced a plausible one.
    size: Option<usize>,
    /// The bytes, `size` long once sized.
    buf: Vec<u8>,
    /// Per piece: the peer it came from, once received.
    from: Vec<Option<FetchPeer>>,
    /// Per piece: the peers it is asked of and not yet answered.
    asked: Vec<Vec<FetchPeer>>,
    /// Peers that announced the size being assembled.
    sized: HashSet<FetchPeer>,
    /// Pieces a peer rejected (it does not have them, or will not send them now).
    rejected: HashMap<FetchPeer, HashSet<u32>>,
    /// Peers that sent metadata that did not verify.
    bad: HashSet<FetchPeer>,
    /// After a failure with several contributors: the one peer every piece comes from.
    solo: Option<Option<FetchPeer>>,
}

impl MetadataFetch {
    /// Starts fetching the info dictionary whose SHA-1 is `info_hash`.
    pub fn new(info_hash: InfoHash) -> MetadataFetch {
        MetadataFetch {
            info_hash,
            size: None,
            buf: Vec::new(),
            from: Vec::new(),
            asked: Vec::new(),
            sized: HashSet::new(),
            rejected: HashMap::new(),
            bad: HashSet::new(),
            solo: None,
        }
    }

    /// The size being assembled, once known.
    pub fn size(&self) -> Option<usize> {
        self.size
    }

    /// Peer `peer` announced `metadata_size` in its extension handshake; false when it
    /// cannot be asked (no size, an implausible one, or not the one being assembled).
    pub fn on_peer_size(&mut self, peer: FetchPeer, size: Option<u64>) -> bool {
        let Some(size) = size.filter(|&s| s > 0 && s <= MAX_METADATA_SIZE) else {
            return false;
        };
        let size = size as usize;
        if self.size.is_none() {
            self.size = Some(size);
            self.buf = vec![0; size];
            let pieces = piece_count(size as u64) as usize;
            self.from = vec![None; pieces];
            self.asked = vec![Vec::new(); pieces];
        }
        if self.size != Some(size) || self.bad.contains(&peer) {
            return false;
        }
        self.sized.insert(peer);
        true
    }

    /// The next piece to ask `peer` for, marking it asked: one nobody was asked for
    /// first, else one only others were asked for (the last pieces go to several peers
    /// at once, so a slow peer does not hold the fetch).
    pub fn next_request(&mut self, peer: FetchPeer) -> Option<u32> {
        if !self.sized.contains(&peer) || self.bad.contains(&peer) {
            return None;
        }
        match self.solo {
            Some(None) => self.solo = Some(Some(peer)),
            Some(Some(owner)) if owner != peer => return None,
            _ => {}
        }
        let rejected = self.rejected.get(&peer);
        let wanted = |i: usize| {
            self.from[i].is_none()
                && !self.asked[i].contains(&peer)
                && !rejected.is_some_and(|r| r.contains(&(i as u32)))
        };
        let pick = (0..self.from.len())
            .filter(|&i| wanted(i))
            .min_by_key(|&i| self.asked[i].len())?;
        self.asked[pick].push(peer);
        Some(pick as u32)
    }

    /// Peer `peer` rejected piece `piece`.
    pub fn on_reject(&mut self, peer: FetchPeer, piece: u32) {
        if let Some(asked) = self.asked.get_mut(piece as usize) {
            asked.retain(|&p| p != peer);
        }
        self.rejected.entry(peer).or_default().insert(piece);
    }

    /// Peer `peer` is gone: what it was asked for is free again.
    pub fn on_peer_gone(&mut self, peer: FetchPeer) {
        for asked in &mut self.asked {
            asked.retain(|&p| p != peer);
        }
        self.sized.remove(&peer);
        self.rejected.remove(&peer);
        if self.solo == Some(Some(peer)) {
            self.restart(Some(None));
        }
    }

    /// Piece `piece` of metadata `total_size` bytes arrived from `peer` (already checked
    /// by the codec to be the piece's exact length for `total_size`).
    pub fn on_data(
        &mut self,
        peer: FetchPeer,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> DataOutcome {
        let i = piece as usize;
        let Some(range) = piece_range(self.buf.len(), piece)
            .filter(|r| self.size == Some(total_size as usize) && r.len() == data.len())
        else {
            return DataOutcome::Refused;
        };
        if !self.asked[i].contains(&peer) {
            return DataOutcome::Ignored;
        }
        self.asked[i].retain(|&p| p != peer);
        if self.from[i].is_some() {
            return DataOutcome::Stored;
        }
        self.buf[range].copy_from_slice(data);
        self.from[i] = Some(peer);
        if self.from.iter().any(Option::is_none) {
            return DataOutcome::Stored;
        }
        if Sha1::digest(&self.buf).as_slice() == self.info_hash.0 {
            return DataOutcome::Complete(std::mem::take(&mut self.buf));
        }
        let contributors: HashSet<FetchPeer> = self.from.iter().flatten().copied().collect();
        if contributors.len() == 1 {
            self.bad.extend(contributors.iter().copied());
            for p in &contributors {
                self.sized.remove(p);
            }
            self.restart(self.solo.map(|_| None));
            DataOutcome::HashFailed(contributors.into_iter().collect())
        } else {
            self.restart(Some(None));
            DataOutcome::HashFailed(Vec::new())
        }
    }

    /// Forgets every received piece; `solo` says whether the next attempt takes them
    /// all from one peer.
    fn restart(&mut self, solo: Option<Option<FetchPeer>>) {
        self.from.iter_mut().for_each(|f| *f = None);
        self.asked.iter_mut().for_each(Vec::clear);
        self.solo = solo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::metadata::METADATA_PIECE_LEN;

    fn info(len: usize) -> (Vec<u8>, InfoHash) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let hash = InfoHash(Sha1::digest(&bytes).into());
        (bytes, hash)
    }

    fn piece(bytes: &[u8], p: u32) -> &[u8] {
        &bytes[piece_range(bytes.len(), p).unwrap()]
    }

    #[test]
    fn two_peers_share_the_pieces_and_the_whole_verifies() {
        let (bytes, hash) = info(2 * METADATA_PIECE_LEN + 100);
        let size = bytes.len() as u32;
        let mut f = MetadataFetch::new(hash);
        assert!(f.on_peer_size(1, Some(size.into())));
        assert!(f.on_peer_size(2, Some(size.into())));
        assert_eq!(f.next_request(1), Some(0));
        assert_eq!(f.next_request(2), Some(1));
        assert_eq!(f.next_request(1), Some(2));
        // Everything is asked of someone: the rest goes to a second peer too.
        assert_eq!(f.next_request(2), Some(0));
        assert_eq!(f.on_data(1, 0, size, piece(&bytes, 0)), DataOutcome::Stored);
        assert_eq!(f.on_data(2, 0, size, piece(&bytes, 0)), DataOutcome::Stored);
        assert_eq!(
            f.on_data(2, 0, size, piece(&bytes, 0)),
            DataOutcome::Ignored
        );
        assert_eq!(f.on_data(2, 1, size, piece(&bytes, 1)), DataOutcome::Stored);
        assert_eq!(
            f.on_data(1, 2, size, piece(&bytes, 2)),
            DataOutcome::Complete(bytes.clone())
        );
    }

    #[test]
    fn implausible_or_other_sizes_are_not_asked() {
        let (_, hash) = info(10);
        let mut f = MetadataFetch::new(hash);
        assert!(!f.on_peer_size(1, None));
        assert!(!f.on_peer_size(1, Some(0)));
        assert!(!f.on_peer_size(1, Some(MAX_METADATA_SIZE + 1)));
        assert_eq!(f.size(), None, "nothing allocated for a bad size");
        assert!(f.on_peer_size(2, Some(10)));
        assert!(!f.on_peer_size(3, Some(11)));
        assert_eq!(f.next_request(3), None);
        assert_eq!(f.next_request(2), Some(0));
        assert_eq!(f.on_data(2, 0, 11, &[0; 11]), DataOutcome::Refused);
        assert_eq!(f.on_data(2, 1, 10, &[0; 10]), DataOutcome::Refused);
        assert_eq!(f.on_data(3, 0, 10, &[0; 10]), DataOutcome::Ignored);
    }

    #[test]
    fn a_reject_or_a_leaving_peer_frees_the_piece() {
        let (bytes, hash) = info(100);
        let mut f = MetadataFetch::new(hash);
        f.on_peer_size(1, Some(100));
        f.on_peer_size(2, Some(100));
        assert_eq!(f.next_request(1), Some(0));
        f.on_reject(1, 0);
        assert_eq!(f.next_request(1), None, "it rejected the only piece");
        assert_eq!(f.next_request(2), Some(0));
        f.on_peer_gone(2);
        f.on_peer_size(3, Some(100));
        assert_eq!(f.next_request(3), Some(0));
        assert_eq!(
            f.on_data(3, 0, 100, &bytes),
            DataOutcome::Complete(bytes.clone())
        );
    }

    #[test]
    fn a_liar_alone_is_named_and_never_asked_again() {
        let (bytes, hash) = info(100);
        let mut f = MetadataFetch::new(hash);
        f.on_peer_size(1, Some(100));
        f.on_peer_size(2, Some(100));
        assert_eq!(f.next_request(1), Some(0));
        assert_eq!(
            f.on_data(1, 0, 100, &[0; 100]),
            DataOutcome::HashFailed(vec![1])
        );
        assert_eq!(f.next_request(1), None);
        assert!(!f.on_peer_size(1, Some(100)));
        assert_eq!(f.next_request(2), Some(0));
        assert_eq!(
            f.on_data(2, 0, 100, &bytes),
            DataOutcome::Complete(bytes.clone())
        );
    }

    #[test]
    fn a_mixed_failure_retries_from_one_peer_and_spares_the_honest_one() {
        let (bytes, hash) = info(METADATA_PIECE_LEN + 10);
        let size = bytes.len() as u32;
        let mut f = MetadataFetch::new(hash);
        f.on_peer_size(1, Some(size.into()));
        f.on_peer_size(2, Some(size.into()));
        assert_eq!(f.next_request(1), Some(0));
        assert_eq!(f.next_request(2), Some(1));
        assert_eq!(f.on_data(1, 0, size, piece(&bytes, 0)), DataOutcome::Stored);
        let lie = vec![0u8; 10];
        assert_eq!(f.on_data(2, 1, size, &lie), DataOutcome::HashFailed(vec![]));
        // The liar asks first and gets every piece; its failure names it alone.
        assert_eq!(f.next_request(2), Some(0));
        assert_eq!(f.next_request(1), None, "one peer at a time");
        assert_eq!(f.next_request(2), Some(1));
        assert_eq!(f.on_data(2, 0, size, piece(&bytes, 0)), DataOutcome::Stored);
        assert_eq!(
            f.on_data(2, 1, size, &lie),
            DataOutcome::HashFailed(vec![2])
        );
        assert_eq!(f.next_request(1), Some(0));
        assert_eq!(f.next_request(1), Some(1));
        assert_eq!(f.on_data(1, 0, size, piece(&bytes, 0)), DataOutcome::Stored);
        assert_eq!(
            f.on_data(1, 1, size, piece(&bytes, 1)),
            DataOutcome::Complete(bytes.clone())
        );
    }
}
