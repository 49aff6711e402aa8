//! One torrent inside the engine: what we have, what is being assembled and written,
//! the piece cache that serves uploads, the connected peers and the bans.
//!
//! Depends on `wire`, `torrent::{picker, storage}`, `bitfield` and `types`. Plain data
//! owned by the reactor thread. Invariants:
//! - a piece is in at most one of: `have`, `partials` (blocks arriving), `writing`
//!   (handed to a worker to verify and write);
//! - `cache_bytes` is the sum of the cached pieces' lengths and stays within
//!   `cache_cap` after every insertion.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::bitfield::Bitfield;
use crate::peer::session::Rate;
use crate::torrent::choker::Choker;
use crate::torrent::picker::Picker;
use crate::torrent::storage::Storage;
use crate::types::PieceIndex;
use crate::wire::metainfo::Metainfo;

/// Failed pieces a peer may be implicated in before it is banned.
pub const MAX_STRIKES: u32 = 2;

/// A piece whose blocks are arriving.
#[derive(Debug)]
pub struct PartialPiece {
    /// The piece's bytes so far (allocated at full length on the first block).
    pub data: Vec<u8>,
    /// Addresses that sent blocks of it, for blame if it fails its hash check.
    pub sources: Vec<IpAddr>,
}

/// One torrent in the session.
#[derive(Debug)]
pub struct Torrent {
    /// Tag for worker jobs: `(generation << 32) | slab key`.
    pub tag: u64,
    /// The metainfo.
    pub meta: Arc<Metainfo>,
    /// Where its files are.
    pub storage: Arc<Storage>,
    /// Pieces verified and on disk.
    pub have: Bitfield,
    /// Block picker for what we lack.
    pub picker: Picker,
    /// Pieces being assembled.
    pub partials: HashMap<u32, PartialPiece>,
    /// Pieces handed to workers to verify and write.
    pub writing: HashSet<u32>,
    /// Recently read pieces, for serving blocks without a disk read each.
    pub cache: HashMap<u32, (Bytes, u64)>,
    /// Bytes held by `cache`.
    pub cache_bytes: usize,
    /// Most bytes `cache` may hold.
    pub cache_cap: usize,
    /// Use counter for the cache's least-recently-used eviction.
    pub cache_clock: u64,
    /// Pieces being read by workers, with the connections waiting for them.
    pub reads: HashMap<u32, Vec<usize>>,
    /// Connection slab keys of the peers of this torrent.
    pub peers: Vec<usize>,
    /// Strikes per address for pieces that failed their hash check.
    pub strikes: HashMap<IpAddr, u32>,
    /// Banned addresses.
    pub banned: HashSet<IpAddr>,
    /// Payload bytes received and sent, torrent-wide.
    pub down: Rate,
    /// See `down`.
    pub up: Rate,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// The resume record is out of date.
    pub resume_dirty: bool,
    /// When the torrent started in this session.
    pub started_at: Instant,
    /// When the last piece was verified, if complete.
    pub completed_at: Option<Instant>,
    /// Peers that sent us at least one block.
    pub peers_used: HashSet<std::net::SocketAddr>,
    /// Who we upload to, by connection slab key.
    pub choker: Choker<usize>,
}

impl Torrent {
    /// Whether every piece is verified and written.
    pub fn complete(&self) -> bool {
        self.have.is_all_set()
    }

    /// Bytes verified and on disk.
    pub fn bytes_done(&self) -> u64 {
        self.have
            .iter_ones()
            .map(|p| self.storage.layout.piece_len(p))
            .sum()
    }

    /// A cached piece, marking it recently used.
    pub fn cached(&mut self, piece: PieceIndex) -> Option<Bytes> {
        self.cache_clock += 1;
        let clock = self.cache_clock;
        self.cache.get_mut(&piece.0).map(|(b, used)| {
            *used = clock;
            b.clone()
        })
    }

    /// Caches a piece read from disk, evicting the least recently used.
    pub fn cache_insert(&mut self, piece: PieceIndex, data: Bytes) {
        while self.cache_bytes + data.len() > self.cache_cap && !self.cache.is_empty() {
            let oldest = self
                .cache
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(p, _)| *p);
            if let Some(p) = oldest {
                if let Some((b, _)) = self.cache.remove(&p) {
                    self.cache_bytes -= b.len();
                }
            }
        }
        self.cache_clock += 1;
        self.cache_bytes += data.len();
        if let Some((old, _)) = self.cache.insert(piece.0, (data, self.cache_clock)) {
            self.cache_bytes -= old.len();
        }
    }
}
