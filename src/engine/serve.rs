//! Serving blocks to peers. Two paths, chosen by [`UploadMode`]:
//!
//! - **sendfile** (default): each block goes out as its 13-byte header (held inline in
//!   the send queue) and a file range sent with `sendfile(2)` straight from the page
//!   cache: no read into memory, no copy, no allocation per block. So that `sendfile`
//!   never waits for the disk on the reactor thread, a piece must be resident first:
//!   the reactor asks the kernel (`cachestat`, which never waits), and a piece that is
//!   not wholly cached is made resident by a worker (`Job::PrefetchPiece`: `readahead`
//!   and a read-through of what is missing). Either way it is then remembered as warm
//!   for [`WARM_FOR`]. A block that is itself cached goes out at once even when its
//!   piece is not wholly cached (pages of a piece can be evicted one by one).
//!
//! On both paths requests are answered out of order (BEP 3 allows it): a block whose
//! piece is cold waits for the read or prefetch while the warm blocks queued behind it
//! go out, up to [`LOOKAHEAD`] cold pieces per pass.
//! - **buffered**: whole pieces are read on a worker into a per-torrent cache
//!   (`Limits::piece_cache_bytes`) and blocks are sent as slices of them with
//!   vectored writes.
//!
//! Each connection keeps about half a second of its measured upload rate queued
//! ([`high_water`]), between [`MIN_HIGH_WATER`] and [`MAX_HIGH_WATER`].

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::caps::{self, Way};
use super::{Engine, EngineEvent};
use crate::peer::close::CloseReason;
use crate::peer::conn::ConnState;
use crate::torrent::storage::Storage;
use crate::types::TorrentId;
use crate::types::{BLOCK_SIZE, PieceIndex};
use crate::wire::peer;
use crate::workers::Job;

/// How blocks are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadMode {
    /// `sendfile(2)` from the page cache after a prefetch on a worker.
    #[default]
    Sendfile,
    /// Whole pieces read into a cache, sent with vectored writes.
    Buffered,
}

/// How long a prefetched piece is trusted to stay in the page cache.
pub const WARM_FOR: Duration = Duration::from_secs(30);

/// Most cold pieces one pass over a connection's requests starts reads for (and skips
/// blocks of) before it stops.
const LOOKAHEAD: usize = 8;

/// Least and most bytes queued per connection before we stop taking its requests.
pub const MIN_HIGH_WATER: usize = 256 << 10;
/// See [`MIN_HIGH_WATER`].
pub const MAX_HIGH_WATER: usize = 4 << 20;

/// Bytes to keep queued for a peer taking `rate` bytes per second: half a second's
/// worth, within bounds.
pub fn high_water(rate: u64) -> usize {
    ((rate / 2) as usize).clamp(MIN_HIGH_WATER, MAX_HIGH_WATER)
}

static ZEROS: [u8; BLOCK_SIZE as usize] = [0; BLOCK_SIZE as usize];

/// Files opened read-only for `sendfile`, shared by every connection; least recently
/// used closed first (a queued block keeps its own handle alive).
#[derive(Debug, Default)]
pub struct ServeFiles {
    open: HashMap<(u64, usize), (Arc<File>, u64)>,
    clock: u64,
}

/// Most files [`ServeFiles`] keeps open.
const SERVE_FILES: usize = 256;

impl ServeFiles {
    fn get(&mut self, storage: &Storage, file: usize) -> std::io::Result<Arc<File>> {
        self.clock += 1;
        let clock = self.clock;
        if let Some((f, used)) = self.open.get_mut(&(storage.id, file)) {
            *used = clock;
            return Ok(Arc::clone(f));
        }
        // The worker's prefetch opened this file just before, so this open finds
        // everything cached and does not wait for the disk.
        let f = Arc::new(File::open(storage.file_path(file))?);
        if self.open.len() >= SERVE_FILES {
            if let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, (_, u))| *u)
                .map(|(k, _)| *k)
            {
                self.open.remove(&oldest);
            }
        }
        self.open
            .insert((storage.id, file), (Arc::clone(&f), clock));
        Ok(f)
    }

    /// True when every byte of the torrent bytes `range` is in the page cache now: one
    /// `cachestat` per file span, which never waits for the disk. Saves the round trip
    /// through a worker for data that is already cached (the common case on a seed box).
    fn range_cached(&mut self, storage: &Storage, range: std::ops::Range<u64>) -> bool {
        let mut cached = true;
        storage
            .layout
            .for_each_span(range.clone(), range.start, |span| {
                if cached && !storage.layout.files[span.file].padding {
                    cached = self
                        .get(storage, span.file)
                        .is_ok_and(|f| crate::disk::is_cached(&f, span.file_offset, span.len));
                }
            });
        cached
    }
}

impl Engine {
    /// Queues the blocks the peer asked for that can go out now, in any order; starts a
    /// prefetch (or a read) of each piece whose blocks cannot, up to [`LOOKAHEAD`]
    /// pieces. Stops at the connection's high-water mark.
    pub(crate) fn serve_requests(&mut self, key: usize, now: Instant) {
        let mode = self.config.upload_mode;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(tkey) = conn.torrent else {
            return;
        };
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let id = conn.id;
        let ConnState::Active(s) = &mut conn.state else {
            return;
        };
        let limit = high_water(s.up_rate());
        // Pieces that must be read (buffered) or made resident (sendfile) before some
        // requested block of them can go out. Blocks are answered out of order: a cold
        // block stays queued while the warm ones behind it are sent (BEP 3 allows any
        // order), up to LOOKAHEAD cold ones.
        let mut cold: Vec<PieceIndex> = Vec::new();
        // The last piece this pass found not wholly cached: its next blocks (requests of
        // one piece usually come together) are checked one by one without asking again.
        let mut partly: Option<u32> = None;
        let mut failed = None;
        let mut i = 0;
        while conn.send.queued() < limit && cold.len() < LOOKAHEAD {
            let Some(&block) = s.requests_in().get(i) else {
                break;
            };
            if !caps::admit(caps::gates(&mut self.throttles, t, Way::Up), id) {
                break;
            }
            let header = peer::piece_header(block.piece, block.offset, block.len);
            match mode {
                UploadMode::Sendfile => {
                    let layout = &t.storage.layout;
                    let start = layout.piece_range(block.piece).start + u64::from(block.offset);
                    let range = start..start + u64::from(block.len);
                    let fresh = t
                        .warm
                        .get(&block.piece.0)
                        .is_some_and(|&at| now.duration_since(at) < WARM_FOR);
                    if !fresh {
                        let whole = partly != Some(block.piece.0)
                            && self
                                .serve_files
                                .range_cached(&t.storage, layout.piece_range(block.piece));
                        if whole {
                            t.warm.insert(block.piece.0, now);
                        } else {
                            partly = Some(block.piece.0);
                        }
                        if !whole && !self.serve_files.range_cached(&t.storage, range.clone()) {
                            if !cold.contains(&block.piece) {
                                cold.push(block.piece);
                            }
                            i += 1;
                            continue;
                        }
                        // The block itself is cached though its piece is not wholly:
                        // send it now; the piece is prefetched when a block of it is cold.
                    }
                    conn.send.queue_small(&header);
                    let files = &mut self.serve_files;
                    let storage = &t.storage;
                    let send = &mut conn.send;
                    layout.for_each_span(range, start, |span| {
                        if layout.files[span.file].padding {
                            send.queue(Bytes::from_static(&ZEROS[..span.len as usize]));
                            return;
                        }
                        match files.get(storage, span.file) {
                            Ok(f) => send.queue_file(f, span.file_offset, span.len as u32),
                            Err(e) => failed = Some((block.piece, span.file, e)),
                        }
                    });
                    if failed.is_some() {
                        break;
                    }
                }
                UploadMode::Buffered => {
                    let Some(data) = t.cache.get(block.piece) else {
                        if !cold.contains(&block.piece) {
                            cold.push(block.piece);
                        }
                        i += 1;
                        continue;
                    };
                    let start = block.offset as usize;
                    conn.send.queue_small(&header);
                    conn.send
                        .queue(data.slice(start..start + block.len as usize));
                }
            }
            s.served(i);
            caps::spend(
                caps::gates(&mut self.throttles, t, Way::Up),
                u64::from(block.len),
            );
            t.stats.up.add(u64::from(block.len));
        }
        if let Some((piece, file, e)) = failed {
            log::error!("cannot open file {file} to serve it: {e}; closing the connection");
            t.set_have(piece, false);
            t.warm.remove(&piece.0);
            return self.close(key, CloseReason::DiskError);
        }
        // Start a read or prefetch of each cold piece (once), and wake this connection
        // when it is done.
        let mut jobs = Vec::new();
        for piece in cold {
            let waiters = t.reads.entry(piece.0).or_insert_with(|| {
                jobs.push(piece);
                Vec::new()
            });
            if !waiters.contains(&id) {
                waiters.push(id);
            }
        }
        let (torrent, storage) = (t.id, Arc::clone(&t.storage));
        for piece in jobs {
            let storage = Arc::clone(&storage);
            let job = match mode {
                UploadMode::Sendfile => Job::PrefetchPiece {
                    torrent,
                    storage,
                    piece,
                },
                UploadMode::Buffered => Job::ReadPiece {
                    torrent,
                    storage,
                    piece,
                },
            };
            self.submit(job);
        }
        if self.conns.get(key).is_some_and(|c| c.send.queued() > 0) {
            self.want_write(key, now);
        }
    }

    /// A piece was read into memory (buffered mode) or made resident (sendfile mode):
    /// serve the connections that waited for it. A piece that cannot be read is no
    /// longer advertised, and its waiters are closed.
    pub(crate) fn on_piece_ready(
        &mut self,
        torrent: TorrentId,
        piece: PieceIndex,
        result: Result<Option<Bytes>, crate::disk::ReadError>,
        now: Instant,
    ) {
        let Some(tkey) = self.torrent_slot(torrent) else {
            return;
        };
        let t = &mut self.torrents[tkey];
        let waiters = t.reads.remove(&piece.0).unwrap_or_default();
        match result {
            Ok(data) => {
                match data {
                    Some(data) => t.cache.insert(piece, data),
                    None => {
                        t.warm.insert(piece.0, now);
                    }
                }
                for key in self.live_all(waiters) {
                    self.serve_requests(key, now);
                }
            }
            Err(e) => {
                let path = t.storage.file_path(e.file());
                // Once per piece: it leaves `have`, so it is not read for upload again.
                self.events.push_back(EngineEvent::Warning {
                    torrent: Some(t.id),
                    message: format!(
                        "{}: cannot read piece {} for upload ({}: {}); no longer offering it",
                        t.name(),
                        piece.0,
                        path.display(),
                        e
                    ),
                });
                // Data we claimed is gone: stop advertising it until rechecked, answer
                // the requests for it with BEP 6 rejects (peers without the fast
                // extension just never get them) and go on serving the rest.
                t.set_have(piece, false);
                t.warm.remove(&piece.0);
                t.cache.remove(piece);
                for key in self.live_all(waiters) {
                    self.drop_requests_for(key, piece);
                    self.serve_requests(key, now);
                }
            }
        }
    }

    /// Removes connection `key`'s requests for `piece`, rejecting them when the peer
    /// speaks the fast extension.
    fn drop_requests_for(&mut self, key: usize, piece: PieceIndex) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let ConnState::Active(s) = &mut conn.state else {
            return;
        };
        s.reject_requests_for(piece, &mut conn.send);
    }

    /// Forgets warm pieces older than [`WARM_FOR`] (the per-second sweep).
    pub(crate) fn expire_warm(&mut self, now: Instant) {
        for (_, t) in self.torrents.iter_mut() {
            t.warm.retain(|_, at| now.duration_since(*at) < WARM_FOR);
        }
    }
}
