//! Serving blocks to peers. Two paths, chosen by [`UploadMode`]:
//!
//! - **sendfile** (default): each block goes out as its 13-byte header (held inline in
//!   the send queue) and a file range sent with `sendfile(2)` straight from the page
//!   cache: no read into memory, no copy, no allocation per block. So that `sendfile`
//!   never waits for the disk on the reactor thread, a piece must be resident first:
//!   the reactor asks the kernel (`cachestat`, which never waits), and a piece that is
//!   not wholly cached is made resident by a worker (`Job::PrefetchPiece`: `readahead`
//!   and a read-through of what is missing). Either way it is then remembered as warm
//!   for [`WARM_FOR`]. A connection whose next block is in a cold piece waits for that
//!   prefetch; the cold pieces among its next [`LOOKAHEAD`] requests are prefetched at
//!   the same time.
//! - **buffered**: whole pieces are read on a worker into a per-torrent cache
//!   ([`super::PIECE_CACHE_BYTES`]) and blocks are sent as slices of them with
//!   vectored writes.
//!
//! Each connection keeps about half a second of its measured upload rate queued
//! ([`high_water`]), between [`MIN_HIGH_WATER`] and [`MAX_HIGH_WATER`].

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{ConnState, Reactor};
use crate::peer::close::CloseReason;
use crate::torrent::storage::Storage;
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

/// Requests past the one being waited for whose pieces are prefetched too.
const LOOKAHEAD: usize = 32;

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
}

impl ServeFiles {
    /// True when every byte of `piece` is in the page cache now: one `cachestat` per
    /// file span, which never waits for the disk. Saves the round trip through a worker
    /// for pieces that are already cached (the common case on a seed box).
    fn piece_cached(&mut self, storage: &Storage, piece: PieceIndex) -> bool {
        let range = storage.layout.piece_range(piece);
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

impl Reactor {
    /// Queues the blocks the peer asked for that can go out now; starts a prefetch (or
    /// a read) for the first that cannot. Stops at the connection's high-water mark.
    pub(super) fn serve_requests(&mut self, key: usize, now: Instant) {
        let mode = self.config.upload_mode;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(tkey) = conn.torrent else { return };
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let ConnState::Active(s) = &mut conn.state else {
            return;
        };
        let limit = high_water(s.up.per_second());
        let mut wait_for = None;
        let mut failed = None;
        while conn.send.queued() < limit {
            let Some(&block) = s.requests_in.front() else {
                break;
            };
            if let Some(limit) = &mut self.up_limit {
                if !limit.available() {
                    if !self.throttled_up.contains(&key) {
                        self.throttled_up.push(key);
                    }
                    break;
                }
            }
            let header = peer::piece_header(block.piece, block.offset, block.len);
            match mode {
                UploadMode::Sendfile => {
                    let fresh = t
                        .warm
                        .get(&block.piece.0)
                        .is_some_and(|&at| now.duration_since(at) < WARM_FOR);
                    if !fresh {
                        if !self.serve_files.piece_cached(&t.storage, block.piece) {
                            wait_for = Some(block.piece);
                            break;
                        }
                        t.warm.insert(block.piece.0, now);
                    }
                    conn.send.queue_small(&header);
                    let layout = &t.storage.layout;
                    let start = layout.piece_range(block.piece).start + u64::from(block.offset);
                    let files = &mut self.serve_files;
                    let storage = &t.storage;
                    let send = &mut conn.send;
                    layout.for_each_span(start..start + u64::from(block.len), start, |span| {
                        if layout.files[span.file].padding {
                            send.queue(Bytes::from_static(&ZEROS[..span.len as usize]));
                            return;
                        }
                        match files.get(storage, span.file) {
                            Ok(f) => send.queue_file(f, span.file_offset, span.len as u32),
                            Err(e) => failed = Some((span.file, e)),
                        }
                    });
                    if failed.is_some() {
                        break;
                    }
                }
                UploadMode::Buffered => {
                    let Some(data) = t.cached(block.piece) else {
                        wait_for = Some(block.piece);
                        break;
                    };
                    let start = block.offset as usize;
                    conn.send.queue_small(&header);
                    conn.send
                        .queue(data.slice(start..start + block.len as usize));
                }
            }
            s.requests_in.pop_front();
            if let Some(limit) = &mut self.up_limit {
                limit.spend(u64::from(block.len));
            }
            s.up.add(u64::from(block.len));
            t.up.add(u64::from(block.len));
        }
        if let Some((file, e)) = failed {
            let piece = s.requests_in.front().map(|b| b.piece);
            log::error!("cannot open file {file} to serve it: {e}; closing the connection");
            if let Some(piece) = piece {
                t.set_have(piece, false);
                t.warm.remove(&piece.0);
            }
            return self.close(key, CloseReason::Shutdown);
        }
        let mut jobs = Vec::new();
        if let Some(piece) = wait_for {
            let waiters = t.reads.entry(piece.0).or_insert_with(|| {
                jobs.push(piece);
                Vec::new()
            });
            if !waiters.contains(&key) {
                waiters.push(key);
            }
            if mode == UploadMode::Sendfile {
                for block in s.requests_in.iter().skip(1).take(LOOKAHEAD) {
                    let p = block.piece.0;
                    let fresh = t
                        .warm
                        .get(&p)
                        .is_some_and(|&at| now.duration_since(at) < WARM_FOR);
                    if fresh || t.reads.contains_key(&p) {
                        continue;
                    }
                    if self.serve_files.piece_cached(&t.storage, block.piece) {
                        t.warm.insert(p, now);
                    } else {
                        t.reads.insert(p, Vec::new());
                        jobs.push(block.piece);
                    }
                }
            }
        }
        let (tag, storage) = (t.tag, Arc::clone(&t.storage));
        for piece in jobs {
            let storage = Arc::clone(&storage);
            let job = match mode {
                UploadMode::Sendfile => Job::PrefetchPiece {
                    tag,
                    storage,
                    piece,
                },
                UploadMode::Buffered => Job::ReadPiece {
                    tag,
                    storage,
                    piece,
                },
            };
            self.submit(job);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.write_blocked && conn.send.queued() > 0 {
            match conn.send.write_to(&mut conn.sock) {
                Ok(_) => conn.write_blocked = conn.send.queued() > 0,
                Err(_) => self.close(key, CloseReason::SocketError),
            }
        }
    }

    /// A piece was read into memory (buffered mode) or made resident (sendfile mode):
    /// serve the connections that waited for it. A piece that cannot be read is no
    /// longer advertised, and its waiters are closed.
    pub(super) fn on_piece_ready(
        &mut self,
        tag: u64,
        piece: PieceIndex,
        result: Result<Option<Bytes>, crate::disk::ReadError>,
        now: Instant,
    ) {
        let Some(tkey) = self.torrent_by_tag(tag) else {
            return;
        };
        let t = &mut self.torrents[tkey];
        let waiters = t.reads.remove(&piece.0).unwrap_or_default();
        match result {
            Ok(data) => {
                match data {
                    Some(data) => t.cache_insert(piece, data),
                    None => {
                        t.warm.insert(piece.0, now);
                    }
                }
                for key in waiters {
                    self.serve_requests(key, now);
                }
            }
            Err(e) => {
                log::error!(
                    "cannot read piece {} for upload: {e:?}; not serving it",
                    piece.0
                );
                // Data we claimed is gone: stop advertising it until rechecked.
                t.set_have(piece, false);
                t.warm.remove(&piece.0);
                for key in waiters {
                    self.close(key, CloseReason::Shutdown);
                }
            }
        }
    }

    /// Forgets warm pieces older than [`WARM_FOR`] (the per-second sweep).
    pub(super) fn expire_warm(&mut self, now: Instant) {
        for (_, t) in self.torrents.iter_mut() {
            t.warm.retain(|_, at| now.duration_since(*at) < WARM_FOR);
        }
    }
}
