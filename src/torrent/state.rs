//! One torrent inside the engine: what we have, what is being assembled and written,
//! the piece cache that serves uploads, the connected peers and the bans.
//!
//! Depends on `wire`, `torrent::{picker, storage}`, `bitfield`, `limit` and `types`. Plain data
//! owned by the reactor thread. Invariants:
//! - a piece is in at most one of: `have` and the `assembly` (receiving or writing).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::bitfield::Bitfield;
use crate::limit::Throttles;
use crate::rate::Rate;
use crate::torrent::assembly::Assembly;
use crate::torrent::ban::{Bans, Source};
use crate::torrent::cache::UploadCache;
use crate::torrent::choker::Choker;
use crate::torrent::peer_list::PeerList;
use crate::torrent::picker::Picker;
use crate::torrent::storage::{Layout, Storage};
use crate::tracker::client::TrackerClient;
use crate::types::{ConnKey, PieceIndex, TorrentId};
use crate::wire::metainfo::Metainfo;

/// A piece that failed its hash check with blocks from more than one address: kept
/// until the piece verifies, then each block is compared with the good copy and the
/// addresses that sent a wrong one get a strike (libtorrent calls this smart ban).
#[derive(Debug)]
pub struct Suspect {
    /// SHA-1 of each block of the failed copy.
    pub block_hashes: Vec<[u8; 20]>,
    /// Who sent each block of the failed copy.
    pub sources: Vec<Option<Source>>,
}

/// Most failed pieces kept for smart ban per torrent; past it, new failures with mixed
/// sources are forgotten (their blocks are re-downloaded, nobody is blamed).
pub const MAX_SUSPECTS: usize = 64;

/// Where a torrent is in its life in the engine. Each state says what is legal in it;
/// the engine checks the state before it accepts, dials, serves or announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentState {
    /// Only the info-hash is known (a magnet link): peers are asked for the metadata
    /// (BEP 9); nothing is read, written, served or announced as complete (see
    /// `engine::magnet`). Then it is `Checking`.
    FetchingMetadata,
    /// Its data is being hashed on the workers to find what is verified on disk (no
    /// resume record, or one the files no longer match). Connections for it wait in
    /// their handshake; nothing is dialled, served or announced. `next` pieces were
    /// handed to the workers, `done` came back; `have` fills in as they do.
    Checking {
        /// Pieces handed out.
        next: u32,
        /// Pieces hashed.
        done: u32,
    },
    /// Verified pieces are served, missing ones downloaded, trackers announced to.
    Active,
    /// Stopped: no connection, no announce; what is verified is kept.
    Paused,
    /// Stopped by an error it cannot go on from (its data is unusable), with why.
    Failed(String),
}

/// What a torrent transferred in this session, and when.
#[derive(Debug)]
pub struct TorrentStats {
    /// Payload bytes received, torrent-wide.
    pub down: Rate,
    /// Payload bytes sent, torrent-wide.
    pub up: Rate,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// Peers that sent us at least one block.
    pub peers_used: HashSet<SocketAddr>,
    /// When the torrent started in this session.
    pub started_at: Instant,
    /// When payload last arrived (or the torrent started), for `--timeout`.
    pub progress_at: Instant,
    /// Payload bytes received as of `progress_at`.
    pub progress_bytes: u64,
    /// When the last piece was verified, if it completed in this session.
    pub completed_at: Option<Instant>,
}

impl TorrentStats {
    /// Nothing transferred yet, the torrent started at `now`.
    pub fn new(now: Instant) -> TorrentStats {
        TorrentStats {
            down: Rate::default(),
            up: Rate::default(),
            hash_failures: 0,
            peers_used: HashSet::new(),
            started_at: now,
            progress_at: now,
            progress_bytes: 0,
            completed_at: None,
        }
    }
}

/// What an operator capped one torrent at, beside the session's limits. Kept boxed in
/// [`Torrent::caps`] and only while something is capped, so a torrent without caps
/// costs one pointer.
#[derive(Debug, Default)]
pub struct Caps {
    /// Its own upload and download throttles; a block must pass the session's too.
    pub throttles: Throttles<ConnKey>,
    /// Most connections it holds at once, dials and handshakes included.
    pub max_connections: Option<usize>,
}

impl Caps {
    /// Whether nothing is capped.
    pub fn is_empty(&self) -> bool {
        self.throttles.is_empty() && self.max_connections.is_none()
    }
}

/// Borrows of one torrent's piece records, from [`Torrent::pieces_mut`].
pub struct PiecesMut<'a> {
    /// Where the pieces are in the files.
    pub layout: &'a Layout,
    /// Pieces verified and on disk.
    pub have: &'a Bitfield,
    /// The block picker.
    pub picker: &'a mut Picker,
    /// Pieces being received.
    pub assembly: &'a mut Assembly,
    /// Transfer figures.
    pub stats: &'a mut TorrentStats,
}

/// One torrent in the session.
#[derive(Debug)]
pub struct Torrent {
    /// Where it is in its life.
    pub state: TorrentState,
    /// Seeding data that should be there: a check that verifies nothing fails the
    /// torrent, one that verifies only part of it warns.
    pub require_data: bool,
    /// Becomes `Paused`, not `Active`, when its check ends (added paused).
    pub start_paused: bool,
    /// Its slot and generation, carried by worker jobs.
    pub id: TorrentId,
    /// The metainfo.
    pub meta: Arc<Metainfo>,
    /// Where its files are.
    pub storage: Arc<Storage>,
    /// Pieces verified and on disk: read it with [`Torrent::have`], change it with
    /// [`Torrent::set_have`] (which keeps the picker's *have* states in step).
    have: Bitfield,
    /// Bytes in the pieces of `have`.
    bytes_have: u64,
    /// Block picker for what we lack. Its *have* states are `have`'s: it is told of
    /// every change [`Torrent::set_have`] makes, and rebuilt by [`Torrent::reset_have`].
    pub picker: Picker,
    /// Pieces being received, and handed to workers to verify and write.
    pub assembly: Assembly,
    /// Recently read pieces, for serving blocks without a disk read each.
    pub cache: UploadCache,
    /// Pieces being read by workers, with the connections waiting for them.
    pub reads: HashMap<u32, Vec<ConnKey>>,
    /// Pieces a worker found (or made) resident in the page cache, and when: the
    /// sendfile path serves them without reading. Entries expire after `WARM_FOR`.
    pub warm: HashMap<u32, Instant>,
    /// The connections of this torrent that finished their handshakes.
    pub peers: Vec<ConnKey>,
    /// Strikes and bans for pieces that failed their hash check, by endpoint.
    pub bans: Bans,
    /// What it transferred and when.
    pub stats: TorrentStats,
    /// Failed pieces with mixed sources, awaiting a good copy to compare with.
    pub suspects: HashMap<u32, Suspect>,
    /// The resume record is out of date.
    pub resume_dirty: bool,
    /// Who we upload to, by connection slab key.
    pub choker: Choker<ConnKey>,
    /// Announces to this torrent's trackers, when it has any.
    pub tracker: Option<TrackerClient>,
    /// The peers it knows of, where from, and when to dial them.
    pub peer_list: PeerList,
    /// Its own rate limits and connection cap; `None` when it has none.
    pub caps: Option<Box<Caps>>,
    /// While it fetches its metadata (a magnet link): the fetch, and where the content
    /// goes once it is known. `None` for every other torrent.
    pub fetch: Option<Box<crate::engine::Fetching>>,
}

impl Torrent {
    /// A torrent in `state` with the pieces of `have` verified; `picker` must have been
    /// built for the same pieces.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: TorrentId,
        state: TorrentState,
        meta: Arc<Metainfo>,
        storage: Arc<Storage>,
        have: Bitfield,
        picker: Picker,
        cache: UploadCache,
        now: Instant,
    ) -> Torrent {
        debug_assert!(have.iter_ones().all(|p| picker.have(p)));
        debug_assert_eq!(picker.have_count() as usize, have.count_ones() as usize);
        Torrent {
            state,
            require_data: false,
            start_paused: false,
            id,
            bytes_have: Torrent::count_bytes(&have, &storage),
            meta,
            storage,
            have,
            picker,
            assembly: Assembly::default(),
            cache,
            reads: HashMap::new(),
            warm: HashMap::new(),
            peers: Vec::new(),
            bans: Bans::default(),
            stats: TorrentStats::new(now),
            suspects: HashMap::new(),
            resume_dirty: false,
            choker: Choker::new(),
            tracker: None,
            peer_list: PeerList::default(),
            caps: None,
            fetch: None,
        }
    }

    /// Its metadata arrived: the placeholder it was fetched under gives way to `meta`
    /// with nothing verified yet (`have` empty, `picker` built for it).
    pub fn reset_for(
        &mut self,
        meta: Arc<Metainfo>,
        storage: Arc<Storage>,
        have: Bitfield,
        picker: Picker,
    ) {
        debug_assert_eq!(have.count_ones(), 0);
        self.meta = meta;
        self.storage = storage;
        self.have = have;
        self.bytes_have = 0;
        self.picker = picker;
        self.assembly = Assembly::default();
        self.reads.clear();
        self.warm.clear();
        self.suspects.clear();
        self.choker = Choker::new();
    }

    /// The torrent's sanitised name (the first component of every file path).
    pub fn name(&self) -> String {
        self.storage
            .layout
            .files
            .first()
            .and_then(|f| f.path.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The peers to blame for a failed piece: the one source if there was only one;
    /// none yet if several (the piece is kept as a suspect for smart ban).
    pub fn blame_failed(
        &mut self,
        piece: PieceIndex,
        sources: Vec<Option<Source>>,
        block_hashes: Vec<[u8; 20]>,
    ) -> Vec<Source> {
        let mut distinct: Vec<Source> = sources.iter().flatten().copied().collect();
        distinct.sort();
        distinct.dedup();
        match distinct.len() {
            0 => Vec::new(),
            1 => distinct,
            _ => {
                if self.suspects.len() < MAX_SUSPECTS || self.suspects.contains_key(&piece.0) {
                    self.suspects.entry(piece.0).or_insert(Suspect {
                        block_hashes,
                        sources,
                    });
                }
                Vec::new()
            }
        }
    }

    /// The peers whose blocks of a suspect piece differ from the verified copy.
    pub fn blame_verified(&mut self, piece: PieceIndex, good: &[[u8; 20]]) -> Vec<Source> {
        let Some(s) = self.suspects.remove(&piece.0) else {
            return Vec::new();
        };
        let mut liars: Vec<Source> = s
            .block_hashes
            .iter()
            .zip(good)
            .zip(&s.sources)
            .filter(|((bad, good), _)| bad != good)
            .filter_map(|(_, who)| *who)
            .collect();
        liars.sort();
        liars.dedup();
        liars
    }

    /// Whether every piece is verified and written.
    pub fn complete(&self) -> bool {
        self.have.is_all_set()
    }

    /// Whether its `have` is what the disk holds, so a resume record can be written:
    /// not while checking (it fills in), fetching metadata or failed.
    pub fn has_record(&self) -> bool {
        matches!(self.state, TorrentState::Active | TorrentState::Paused)
    }

    /// Whether it serves, downloads and announces (see [`TorrentState::Active`]).
    pub fn is_active(&self) -> bool {
        self.state == TorrentState::Active
    }

    /// Whether it finds and dials peers: active, or fetching its metadata.
    pub fn is_running(&self) -> bool {
        matches!(
            self.state,
            TorrentState::Active | TorrentState::FetchingMetadata
        )
    }

    /// Bytes verified and on disk.
    pub fn bytes_done(&self) -> u64 {
        self.bytes_have
    }

    /// Pieces verified and on disk: the one record of them (the picker mirrors it).
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// The verified pieces to read beside the picker and assembly to change: what a
    /// peer session works on (the borrow of `have` stays read-only).
    pub fn pieces_mut(&mut self) -> PiecesMut<'_> {
        PiecesMut {
            layout: &self.storage.layout,
            have: &self.have,
            picker: &mut self.picker,
            assembly: &mut self.assembly,
            stats: &mut self.stats,
        }
    }

    /// Bytes in the pieces of `have`, counted once when a torrent is set up.
    pub fn count_bytes(have: &Bitfield, storage: &Storage) -> u64 {
        have.iter_ones().map(|p| storage.layout.piece_len(p)).sum()
    }

    /// Marks `piece` verified on disk (or no longer), keeping `bytes_done` and the
    /// picker in step: a piece we no longer have is wanted again.
    pub fn set_have(&mut self, piece: PieceIndex, value: bool) {
        if let Ok(before) = self.have.set(piece, value) {
            let len = self.storage.layout.piece_len(piece);
            match (before, value) {
                (false, true) => self.bytes_have += len,
                (true, false) => self.bytes_have -= len,
                _ => {}
            }
            if value {
                self.picker.on_piece_verified(piece);
            } else {
                self.picker.on_piece_failed(piece);
            }
        }
        debug_assert_eq!(self.have.get(piece), self.picker.have(piece));
    }

    /// Forgets every verified piece (a recheck starts), with `picker` (built for no
    /// piece had) in place of the old one.
    pub fn reset_have(&mut self, picker: Picker) {
        self.have = Bitfield::new(self.storage.layout.piece_count());
        self.bytes_have = 0;
        self.picker = picker;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::paths::sanitize;
    use crate::torrent::storage::Layout;

    fn who(addr: &str, id: u8) -> Source {
        Source {
            addr: addr.parse().unwrap(),
            peer_id: crate::types::PeerId([id; 20]),
        }
    }

    fn torrent() -> Torrent {
        let bytes = format!(
            "d4:infod6:lengthi65536e4:name1:x12:piece lengthi32768e6:pieces40:{}ee",
            "a".repeat(40)
        );
        let meta = Metainfo::from_bytes(bytes.as_bytes()).unwrap();
        let layout = Layout::new(&meta.info, &sanitize(&meta.info));
        let have = Bitfield::new(2);
        let picker = Picker::new(2, 32768, 65536, |_| false, 1).unwrap();
        let id = TorrentId {
            slot: 0,
            generation: 1,
        };
        Torrent::new(
            id,
            TorrentState::Active,
            Arc::new(meta),
            Arc::new(Storage::new(".".into(), layout)),
            have,
            picker,
            UploadCache::new(1 << 20),
            Instant::now(),
        )
    }

    #[test]
    fn have_is_one_record_the_picker_follows() {
        let mut t = torrent();
        t.set_have(PieceIndex(1), true);
        assert!(t.have().get(PieceIndex(1)) && t.picker.have(PieceIndex(1)));
        assert_eq!((t.bytes_done(), t.picker.have_count()), (32768, 1));
        // A piece lost from disk is wanted again, not only unadvertised.
        t.set_have(PieceIndex(1), false);
        assert!(!t.have().get(PieceIndex(1)) && !t.picker.have(PieceIndex(1)));
        assert_eq!((t.bytes_done(), t.picker.have_count()), (0, 0));
        t.set_have(PieceIndex(0), true);
        t.reset_have(Picker::new(2, 32768, 65536, |_| false, 2).unwrap());
        assert_eq!((t.have().count_ones(), t.bytes_done()), (0, 0));
        assert_eq!(t.picker.have_count(), 0);
    }

    #[test]
    fn sole_source_is_blamed_at_once() {
        let mut t = torrent();
        let a = who("10.0.0.1:6881", 1);
        let blamed = t.blame_failed(PieceIndex(0), vec![Some(a), Some(a)], vec![[1; 20]; 2]);
        assert_eq!(blamed, [a]);
    }

    #[test]
    fn mixed_sources_wait_for_the_good_copy() {
        let mut t = torrent();
        // Two endpoints of one address: only the liar's port is blamed.
        let honest = who("10.0.0.1:6881", 1);
        let liar = who("10.0.0.1:6882", 2);
        let blamed = t.blame_failed(
            PieceIndex(1),
            vec![Some(honest), Some(liar)],
            vec![[1; 20], [2; 20]],
        );
        assert!(blamed.is_empty());
        // The good copy agrees with the honest block and not with the liar's.
        assert_eq!(t.blame_verified(PieceIndex(1), &[[1; 20], [9; 20]]), [liar]);
        assert!(t.suspects.is_empty());
        assert!(
            t.blame_verified(PieceIndex(1), &[[1; 20], [9; 20]])
                .is_empty()
        );
    }
}
