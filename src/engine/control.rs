//! The engine's control seam: the calls every front makes to change torrents while the
//! engine runs (the one-shot commands today; the daemon, its API dialects and the watch
//! folder next), and the read-only views they render. None of them blocks: a torrent
//! whose data must be checked is added in `Checking` and hashed on the workers.
//!
//! Every torrent is named by its [`TorrentId`]; a call with an id whose torrent is
//! gone (its slot reused by another) finds nothing and changes nothing.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::{Engine, TorrentCaps, TorrentSpec, new_picker};
use crate::bitfield::Bitfield;
use crate::peer::close::CloseReason;
use crate::torrent::cache::UploadCache;
use crate::torrent::state::{Torrent, TorrentState};
use crate::torrent::storage::Storage;
use crate::types::{InfoHash, TorrentId};

/// Why a torrent was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddError {
    /// A torrent with the same info-hash is already in the engine.
    Duplicate(TorrentId),
    /// Its metainfo cannot be run (a piece layout the picker refuses).
    Invalid(String),
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::Duplicate(_) => f.write_str("the torrent is already added"),
            AddError::Invalid(why) => write!(f, "the torrent cannot be run: {why}"),
        }
    }
}

impl std::error::Error for AddError {}

/// One torrent as a front shows it. Plain data, built on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct TorrentView {
    /// Its id.
    pub id: TorrentId,
    /// Its info-hash.
    pub info_hash: InfoHash,
    /// Its name.
    pub name: String,
    /// Where it is in its life.
    pub state: TorrentState,
    /// Bytes verified on disk.
    pub bytes_done: u64,
    /// Bytes in all.
    pub total_bytes: u64,
    /// Payload bytes received and sent per second, over the last seconds.
    pub down_rate: u64,
    /// See `down_rate`.
    pub up_rate: u64,
    /// Payload bytes received and sent since it was added.
    pub downloaded: u64,
    /// See `downloaded`.
    pub uploaded: u64,
    /// Connected peers.
    pub peers: usize,
    /// Connected peers that have every piece.
    pub seeds: usize,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// Pieces in all.
    pub pieces: u32,
    /// It completed in this run (it was not complete when added).
    pub completed_in_run: bool,
    /// Why nothing moves, when it is active, incomplete and without peers.
    pub stalled: Option<String>,
}

impl TorrentView {
    /// Every piece is verified. Never for a magnet still fetching its metadata (it
    /// has no pieces yet).
    pub fn is_complete(&self) -> bool {
        self.pieces > 0 && self.bytes_done == self.total_bytes
    }
}

/// The whole engine as a front shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineSnapshot {
    /// Every torrent, in slot order.
    pub torrents: Vec<TorrentView>,
    /// Peer connections open (any state).
    pub connections: usize,
    /// Jobs waiting for the worker pool.
    pub jobs_waiting: usize,
    /// The DHT at its last tick; `None` when it is off.
    pub dht: Option<super::DhtStatus>,
}

impl Engine {
    /// Adds a torrent. With `spec.have` it starts active at once; without, it checks
    /// its data on the workers first. Configured peers (`--peer`) are dialled for it.
    pub fn add(&mut self, spec: TorrentSpec, now: Instant) -> Result<TorrentId, AddError> {
        if let Some(&slot) = self.by_hash.get(&spec.meta.info_hash) {
            return Err(AddError::Duplicate(self.torrents[slot].id));
        }
        let pieces = spec.storage.layout.piece_count();
        let caps = spec.caps;
        let (state, have) = match spec.have {
            Some(have) if spec.paused => (TorrentState::Paused, have),
            Some(have) => (TorrentState::Active, have),
            None => (
                TorrentState::Checking { next: 0, done: 0 },
                Bitfield::new(pieces),
            ),
        };
        let seed = self.random();
        let picker =
            new_picker(&spec.storage, &have, seed).map_err(|e| AddError::Invalid(e.to_string()))?;
        let id = self.next_torrent_id();
        let slot = id.slot as usize;
        let mut torrent = Torrent::new(
            id,
            state,
            spec.meta,
            spec.storage,
            have,
            picker,
            UploadCache::new(self.config.limits.piece_cache_bytes),
            now,
        );
        torrent.require_data = spec.require_data;
        torrent.start_paused = spec.paused;
        let inserted = self.torrents.insert(torrent);
        debug_assert_eq!(inserted, slot);
        self.by_hash
            .insert(self.torrents[slot].meta.info_hash, slot);
        if caps != TorrentCaps::default() {
            self.set_torrent_caps(id, caps, now);
        }
        for &addr in &self.config.peers {
            self.torrents[slot].peer_list.keep(addr, now);
        }
        match self.torrents[slot].state {
            TorrentState::Active => self.start_tracker(slot, now),
            TorrentState::Checking { .. } => self.pump_check(slot),
            _ => {}
        }
        Ok(id)
    }

    /// Removes torrent `id`: its connections close, its tracker client goes (without
    /// a `stopped` announce), jobs still out for it are ignored when they come back.
    /// Returns its storage, for a caller that also deletes the data.
    pub fn remove(&mut self, id: TorrentId) -> Option<Arc<Storage>> {
        let slot = self.torrent_slot(id)?;
        self.close_peers_of(slot, CloseReason::Shutdown);
        self.tracker_changed.retain(|&s| s != slot);
        self.rate_capped.retain(|&t| t != id);
        let t = self.torrents.remove(slot);
        self.by_hash.remove(&t.meta.info_hash);
        self.removed.push(id);
        // A magnet still fetching has no files of its own: its placeholder's one
        // file must never be deleted (something else may have that name).
        t.fetch.is_none().then_some(t.storage)
    }

    /// Pauses torrent `id`: its connections close, its trackers are told `stopped`,
    /// nothing is dialled or accepted for it (a magnet stops fetching its metadata).
    /// False if it is neither active nor fetching.
    pub fn pause(&mut self, id: TorrentId, now: Instant) -> bool {
        let Some(slot) = self.torrent_slot(id) else {
            return false;
        };
        if !self.torrents[slot].is_running() {
            return false;
        }
        self.close_peers_of(slot, CloseReason::Shutdown);
        let t = &mut self.torrents[slot];
        t.state = TorrentState::Paused;
        t.resume_dirty = true;
        if let Some(client) = t.tracker.as_mut() {
            client.on_stop(now);
            self.tracker_changed.push(slot);
        }
        true
    }

    /// Resumes a paused torrent: active again, with a fresh tracker client (it
    /// announces `started`). False if it is not paused.
    pub fn resume(&mut self, id: TorrentId, now: Instant) -> bool {
        let Some(slot) = self.torrent_slot(id) else {
            return false;
        };
        if self.torrents[slot].state != TorrentState::Paused {
            return false;
        }
        let t = &mut self.torrents[slot];
        t.state = if t.fetch.is_some() {
            TorrentState::FetchingMetadata
        } else {
            TorrentState::Active
        };
        t.stats.progress_at = now;
        t.peer_list.retry_kept_now(now);
        self.start_tracker(slot, now);
        if !self.shutting_down {
            self.reconnect_known(now);
        }
        true
    }

    /// Forgets what torrent `id` has verified and hashes its data again on the
    /// workers (its connections close). False while it checks already or has pieces
    /// out being written.
    pub fn recheck(&mut self, id: TorrentId, now: Instant) -> bool {
        let Some(slot) = self.torrent_slot(id) else {
            return false;
        };
        let t = &self.torrents[slot];
        if matches!(t.state, TorrentState::Checking { .. })
            || t.assembly.writing()
            || t.fetch.is_some()
        {
            return false;
        }
        self.close_peers_of(slot, CloseReason::Shutdown);
        let t = &mut self.torrents[slot];
        if let Some(client) = t.tracker.as_mut() {
            client.on_stop(now);
            self.tracker_changed.push(slot);
        }
        t.assembly = Default::default();
        let empty = Bitfield::new(t.storage.layout.piece_count());
        let seed = self.random();
        let t = &mut self.torrents[slot];
        match new_picker(&t.storage, &empty, seed) {
            Ok(picker) => t.reset_have(picker),
            Err(e) => {
                t.state = TorrentState::Failed(e.to_string());
                return true;
            }
        }
        t.cache.clear();
        t.warm.clear();
        t.state = TorrentState::Checking { next: 0, done: 0 };
        self.pump_check(slot);
        true
    }

    /// Sets the total upload and download limits, in bytes per second (`None` or 0:
    /// unlimited). Connections held back by a limit that changed go on at once; a
    /// limit set to what it was keeps its tokens (a reload does not make a burst).
    pub fn set_rate_limits(&mut self, up: Option<u64>, down: Option<u64>, now: Instant) {
        let (up, down) = (up.filter(|&r| r > 0), down.filter(|&r| r > 0));
        self.config.max_upload_rate = up;
        self.config.max_download_rate = down;
        let woken = self.throttles.set(up, down, now);
        self.limits_changed = true;
        self.wake(woken, now);
    }

    /// Sets torrent `id`'s own limits (see [`TorrentCaps`]); they apply beside the
    /// session's. Connections held back by a rate that changed go on at once. A
    /// connection cap below what the torrent holds closes the least useful connections
    /// (`Engine::shed_excess`); a higher one lets the next per-second sweep dial more.
    /// False if the torrent is gone.
    pub fn set_torrent_caps(&mut self, id: TorrentId, caps: TorrentCaps, now: Instant) -> bool {
        let Some(slot) = self.torrent_slot(id) else {
            return false;
        };
        let t = &mut self.torrents[slot];
        let own = t.caps.get_or_insert_with(Default::default);
        let woken = own.throttles.set(caps.up, caps.down, now);
        own.max_connections = caps.max_connections.filter(|&n| n > 0);
        let rated = !own.throttles.is_empty();
        if own.is_empty() {
            t.caps = None;
        }
        self.rate_capped.retain(|&t| t != id);
        if rated {
            self.rate_capped.push(id);
        }
        self.limits_changed = true;
        self.wake(woken, now);
        self.shed_excess(slot);
        true
    }

    /// Whether the rate limits changed since the last call (the reactor then makes
    /// sure their refill timer runs).
    pub fn take_limits_changed(&mut self) -> bool {
        std::mem::take(&mut self.limits_changed)
    }

    /// Torrent `id` as a front shows it.
    pub fn torrent(&self, id: TorrentId) -> Option<TorrentView> {
        let slot = self.torrent_slot(id)?;
        Some(self.view(slot))
    }

    /// Every torrent and the engine's totals.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            torrents: self.torrents.iter().map(|(k, _)| self.view(k)).collect(),
            connections: self.conns.len(),
            jobs_waiting: self.jobs.len(),
            dht: self.dht_status(),
        }
    }

    /// The torrent with this info-hash.
    pub fn find(&self, info_hash: &InfoHash) -> Option<TorrentId> {
        self.by_hash.get(info_hash).map(|&s| self.torrents[s].id)
    }

    /// Closes every connection of torrent `slot`, and the ones still waiting in a
    /// handshake that names it.
    pub(super) fn close_peers_of(&mut self, slot: usize, reason: CloseReason) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.torrent == Some(slot))
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.close(key, reason);
        }
        self.refuse_waiting(slot);
    }
}

impl Engine {
    fn view(&self, slot: usize) -> TorrentView {
        let t = &self.torrents[slot];
        let mut v = view(t);
        v.stalled = self.stall_reason(slot);
        v.seeds = self.seeds_of(slot);
        v
    }
}

fn view(t: &Torrent) -> TorrentView {
    // A magnet's placeholder has no size or pieces to show.
    let fetching = t.fetch.is_some();
    TorrentView {
        id: t.id,
        info_hash: t.meta.info_hash,
        name: t.name(),
        state: t.state.clone(),
        bytes_done: t.bytes_done(),
        total_bytes: if fetching {
            0
        } else {
            t.storage.layout.total_length
        },
        down_rate: t.stats.down.per_second(),
        up_rate: t.stats.up.per_second(),
        downloaded: t.stats.down.total(),
        uploaded: t.stats.up.total(),
        peers: t.peers.len(),
        seeds: 0,
        hash_failures: t.stats.hash_failures,
        pieces: if fetching {
            0
        } else {
            t.storage.layout.piece_count()
        },
        completed_in_run: t.stats.completed_at.is_some(),
        stalled: None,
    }
}
