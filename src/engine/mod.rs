//! The engine: every torrent, every peer connection's protocol state, and all the
//! decisions about them (handshakes, requests, uploads, choking, bans, dialling,
//! resume records, progress), with no socket, poller or thread of its own.
//!
//! The reactor owns the sockets and feeds the engine: bytes it read into a
//! connection's receive buffer ([`Engine::on_input`]), a connect that completed
//! ([`Engine::on_connected`]), bytes written ([`Engine::on_written`]), worker
//! completions ([`Engine::on_completion`]) and timer ticks. The engine answers through
//! queues the reactor drains each turn: connections with output to write
//! ([`Engine::take_dirty`]), peers to dial ([`Engine::take_dials`]), jobs for the
//! worker pool ([`Engine::next_job`]), slots freed ([`Engine::take_freed`]) and a
//! wish to shut down ([`Engine::take_shutdown_wanted`]).
//!
//! ```text
//!            reactor (sockets, poll, timers, pool)
//!   read ──► Engine::on_input ─► peer::protocol ─► answers in Connection::send
//!   write ◄─ take_dirty ◄────────────────────────┘        effects ─► picker, choker,
//!   connect ◄─ take_dials            jobs ─► next_job ─► workers ─► on_completion
//! ```
//!
//! Depends on `peer`, `torrent`, `tracker` (the per-torrent client core), `workers`
//! (job and completion types only), `resume`, `limit`, `stats` and `types`. Invariants:
//! - a connection slot and every list naming it agree: [`Engine::close`] removes it
//!   from all of them at once, and its slot is freed by [`Engine::reap_closed`] at the
//!   end of the turn, when the reactor drops its socket;
//! - a torrent is referenced by its [`TorrentId`] wherever it outlives a call (jobs,
//!   completions); a connection by its [`ConnKey`].

mod caps;
mod check;
mod control;
mod discovery;
mod housekeeping;
mod magnet;
mod metadata;
mod peers;
mod pex;
mod serve;
pub mod store;
mod views;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::bitfield::Bitfield;
use crate::error::{Error, Result};
use crate::limit::Throttles;
use crate::peer::close::CloseReason;
use crate::peer::conn::{ConnState, Connection};
use crate::peer::ext::{Extension, Registry};
use crate::peer::session::PeerSession;
use crate::rng::Rng;
use crate::stats::EngineStats;
use crate::torrent::peer_list::PeerSource;
use crate::torrent::picker::Picker;
use crate::torrent::state::{Torrent, TorrentState};
use crate::torrent::storage::Storage;
use crate::tracker::client::{AnnounceParams, ClientEvent, TrackerClient};
use crate::tracker::server::TrackerConfig;
use crate::types::{ConnKey, InfoHash, PeerId, PieceIndex, TorrentId};
use crate::wire::metainfo::Metainfo;
use crate::workers::{Job, Task, TaskOutput};
pub use caps::TorrentCaps;
pub use control::{AddError, EngineSnapshot, TorrentView};
pub use discovery::{DhtStatus, DhtTorrent};
pub use magnet::{Fetching, MagnetSpec};
pub use pex::PexCounters;
pub use serve::UploadMode;
pub(crate) use serve::high_water;
pub use views::{FileView, PeerInfo, client_name};

/// A tracker server to run beside the engine on the reactor, with its sockets already
/// bound (so a torrent can name their ports before the engine starts). The reactor
/// takes it out of the [`EngineConfig`].
#[derive(Debug)]
pub struct TrackerServerSetup {
    /// HTTP listeners.
    pub http: Vec<std::net::TcpListener>,
    /// UDP sockets.
    pub udp: Vec<std::net::UdpSocket>,
    /// Swarm limits and intervals.
    pub config: TrackerConfig,
    /// Most HTTP connections open at once; more are closed on accept.
    pub max_http_connections: usize,
}

/// What the engine should do, from the command line.
#[derive(Debug)]
pub struct EngineConfig {
    /// Addresses to listen on for incoming peers.
    pub listen: Vec<SocketAddr>,
    /// Peers to connect to (every torrent is offered to each).
    pub peers: Vec<SocketAddr>,
    /// Most connected peers in total.
    pub max_peers: usize,
    /// Peers unchoked at once per torrent (one of them the optimistic unchoke).
    pub upload_slots: usize,
    /// Worker threads.
    pub workers: usize,
    /// Where resume records go; `None` disables them.
    pub state_dir: Option<PathBuf>,
    /// Total upload limit in bytes per second.
    pub max_upload_rate: Option<u64>,
    /// Total download limit in bytes per second.
    pub max_download_rate: Option<u64>,
    /// Stop once every torrent is complete (plain `download`).
    pub exit_when_complete: bool,
    /// Print "listening on ..." lines to stdout when ready (tests wait on them).
    pub announce_listen: bool,
    /// Trackers every torrent announces to besides its own (each a tier of its own).
    pub extra_trackers: Vec<String>,
    /// A tracker server to run in this process.
    pub tracker_server: Option<TrackerServerSetup>,
    /// How blocks are sent to peers.
    pub upload_mode: UploadMode,
    /// Keep latency histograms and print them at exit.
    pub stats: bool,
    /// Give up (stop, the torrent incomplete) when an incomplete torrent has received
    /// no payload for this long (`download --timeout`).
    pub stall_timeout: Option<Duration>,
    /// Bounds, timeouts and intervals.
    pub limits: crate::config::Limits,
    /// A long-running service (the daemon): a torrent that fails or completes stops
    /// alone; only a signal ends the run.
    pub service: bool,
    /// The DHT node, unless it is off (`--no-dht`).
    pub dht: Option<DhtSetup>,
    /// Local service discovery (BEP 14) on the peer listeners' networks, unless it is
    /// off (`--no-lsd`).
    pub lsd: bool,
    /// Peer exchange (BEP 11) with the peers of public torrents, unless it is off
    /// (`--no-pex`).
    pub pex: bool,
}

/// How the DHT node runs (BEP 5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhtSetup {
    /// UDP addresses it listens on; empty: the peer listeners' addresses (the peer port
    /// over UDP).
    pub listen: Vec<SocketAddr>,
    /// Where it joins the DHT: `HOST:PORT` of routers or nodes, resolved on the
    /// resolver thread (literal addresses are not).
    pub bootstrap: Vec<String>,
    /// File its routing table is saved to and read back from at the next start.
    pub table_file: Option<PathBuf>,
}

/// A torrent to run, with what is already verified on disk.
#[derive(Debug)]
pub struct TorrentSpec {
    /// The metainfo.
    pub meta: Arc<Metainfo>,
    /// Its storage.
    pub storage: Arc<Storage>,
    /// Pieces verified on disk, or `None` to find them by hashing the data on the
    /// workers first (the torrent starts in `TorrentState::Checking`).
    pub have: Option<Bitfield>,
    /// Seeding data that should be there: a check that verifies no piece fails the
    /// torrent (and the run), one that verifies only some warns.
    pub require_data: bool,
    /// Start paused: after its check, or at once when `have` is known.
    pub paused: bool,
    /// Its own rate limits and connection cap, in force from the moment it is added.
    pub caps: TorrentCaps,
}

/// What a run did, per torrent.
#[derive(Debug, Clone)]
pub struct TorrentSummary {
    /// Torrent name.
    pub name: String,
    /// Info-hash.
    pub info_hash: InfoHash,
    /// Whether every piece is verified.
    pub complete: bool,
    /// Payload bytes downloaded.
    pub downloaded: u64,
    /// Payload bytes uploaded.
    pub uploaded: u64,
    /// Pieces that failed their hash check.
    pub hash_failures: u32,
    /// Peers that sent us data.
    pub peers_used: usize,
    /// Seconds from start to completion (or to the end of the run).
    pub seconds: f64,
    /// Why nothing moves, when the torrent is incomplete with no peers at the end.
    pub stalled: Option<String>,
    /// Why the torrent stopped, when it failed (its data did not check out).
    pub failed: Option<String>,
}

/// What the engine tells whoever runs it, beyond its snapshots: the CLI prints these as
/// `hivebt: warning: ...` and `hivebt: error: ...`; the daemon will log and keep them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// News an operator may want (a magnet's metadata arrived and was saved).
    Info {
        /// The torrent it is about, if one.
        torrent: Option<TorrentId>,
        /// What happened, naming the torrent.
        message: String,
    },
    /// Something an operator should see; the torrent goes on.
    Warning {
        /// The torrent it is about, if one.
        torrent: Option<TorrentId>,
        /// What happened, naming the torrent.
        message: String,
    },
    /// The torrent, or the run, stops because of it.
    Error {
        /// The torrent it is about, if one.
        torrent: Option<TorrentId>,
        /// What happened, naming the torrent.
        message: String,
    },
}

impl fmt::Display for EngineEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineEvent::Info { message, .. } => f.write_str(message),
            EngineEvent::Warning { message, .. } => write!(f, "warning: {message}"),
            EngineEvent::Error { message, .. } => write!(f, "error: {message}"),
        }
    }
}

/// A peer the engine wants dialled: the reactor connects a socket for connection
/// `key`, already in the engine as `Connecting`, or closes it as `connect_failed`.
#[derive(Debug, Clone, Copy)]
pub struct Dial {
    /// The connection's slot.
    pub key: usize,
    /// Where to connect.
    pub addr: SocketAddr,
}

/// A picker for `storage`'s pieces, `have` already verified.
fn new_picker(storage: &Storage, have: &Bitfield, seed: u64) -> Result<Picker> {
    Picker::new(
        storage.layout.piece_count(),
        storage.layout.piece_length,
        storage.layout.total_length,
        |p| have.get(p),
        seed,
    )
    .map_err(|e| Error::Failed(format!("internal error: {e:?}")))
}

/// The tracker client of a torrent, if it has trackers (its own or the extra ones).
#[allow(clippy::too_many_arguments)]
fn new_tracker(
    config: &EngineConfig,
    meta: &Metainfo,
    storage: &Storage,
    have: &Bitfield,
    peer_id: PeerId,
    listen_port: Option<u16>,
    random: &mut impl FnMut() -> u64,
    now: Instant,
) -> Option<TrackerClient> {
    let mut tiers = meta.tracker_tiers();
    tiers.extend(config.extra_trackers.iter().map(|u| vec![u.clone()]));
    if tiers.is_empty() {
        return None;
    }
    let left: u64 = (0..storage.layout.piece_count())
        .map(PieceIndex)
        .filter(|&p| !have.get(p))
        .map(|p| storage.layout.piece_len(p))
        .sum();
    let params = AnnounceParams {
        info_hash: meta.info_hash,
        peer_id,
        port: listen_port.unwrap_or(0),
        key: random() as u32,
        numwant: None,
        left,
    };
    Some(TrackerClient::new(params, tiers, random(), now))
}

/// Every torrent and peer connection, and what to do with them.
pub struct Engine {
    /// Peer connections without their sockets, by slot (the reactor keeps each socket
    /// under the same slot).
    pub(crate) conns: Slab<Connection>,
    pub(crate) torrents: Slab<Torrent>,
    by_hash: HashMap<InfoHash, usize>,
    pub(crate) config: EngineConfig,
    pub(crate) peer_id: PeerId,
    /// Connections closed this turn (with whether they were active), freed at its end.
    closing: Vec<(usize, bool)>,
    /// Slots freed since the reactor last asked, whose sockets it must drop.
    freed: Vec<usize>,
    /// Connections with output queued since the reactor last asked.
    dirty: Vec<usize>,
    /// Peers to dial.
    dials: Vec<Dial>,
    /// Torrents whose tracker client has something new to send (completion).
    tracker_changed: Vec<usize>,
    /// Torrents removed since the reactor last asked (it forgets their tracker I/O).
    removed: Vec<TorrentId>,
    /// Jobs for the worker pool, oldest first.
    jobs: VecDeque<Job>,
    /// Front tasks done on the workers, for the front to collect.
    tasks_done: VecDeque<(u64, TaskOutput)>,
    /// Events for whoever runs the engine, oldest first.
    events: VecDeque<EngineEvent>,
    /// The rate limits changed since the reactor last asked.
    limits_changed: bool,
    /// Generation counter for connection and torrent slots.
    next_gen: u32,
    pub(crate) shutting_down: bool,
    /// When stopping: the latest instant to wait for `stopped` announces.
    stop_deadline: Option<Instant>,
    /// Something inside the engine (a fatal write, a stall, completion) asks the run to
    /// end; the reactor starts the shutdown (its trackers announce `stopped`).
    shutdown_wanted: bool,
    /// Drives the choker's optimistic unchoke.
    rng: Rng,
    /// Port of the first listener, advertised in extension handshakes (`p`).
    pub(crate) listen_port: Option<u16>,
    pub(crate) close_counts: HashMap<CloseReason, u64>,
    /// The session's upload and download limits, with the connections waiting for
    /// their tokens.
    throttles: Throttles<ConnKey>,
    /// Torrents with a rate limit of their own, refilled beside the session's.
    rate_capped: Vec<TorrentId>,
    /// Files open for `sendfile`.
    serve_files: serve::ServeFiles,
    /// Latency histograms, with `--stats`.
    pub(crate) stats: Option<Box<EngineStats>>,
    /// The extensions offered to peers (BEP 10): `ut_metadata` (BEP 9) and `ut_pex`
    /// (BEP 11), before a torrent's own rules (see `pex::offered`).
    extensions: Registry,
    /// Resume records being written on the workers.
    resume: housekeeping::ResumeSaves,
    /// The DHT's figures at its last tick; `None` while it is off.
    dht: Option<DhtStatus>,
    /// Peer exchange totals.
    pex: PexCounters,
    /// Addresses trackers saw us at since the reactor last asked (for the DHT).
    external_ips: Vec<IpAddr>,
}

impl Engine {
    /// An engine for `specs` (a torrent named twice runs once), with our `peer_id` and
    /// the port peers can reach us on. `random` seeds the engine's generator.
    pub fn new(
        config: EngineConfig,
        specs: Vec<TorrentSpec>,
        peer_id: PeerId,
        listen_port: Option<u16>,
        mut random: impl FnMut() -> u64,
        now: Instant,
    ) -> Result<Engine> {
        let mut engine = Engine {
            conns: Slab::new(),
            torrents: Slab::new(),
            by_hash: HashMap::new(),
            peer_id,
            closing: Vec::new(),
            freed: Vec::new(),
            dirty: Vec::new(),
            dials: Vec::new(),
            tracker_changed: Vec::new(),
            removed: Vec::new(),
            jobs: VecDeque::new(),
            tasks_done: VecDeque::new(),
            events: VecDeque::new(),
            limits_changed: false,
            next_gen: 0,
            shutting_down: false,
            stop_deadline: None,
            shutdown_wanted: false,
            rng: Rng::new(random()),
            listen_port,
            close_counts: HashMap::new(),
            throttles: Throttles::new(config.max_upload_rate, config.max_download_rate, now),
            rate_capped: Vec::new(),
            serve_files: serve::ServeFiles::default(),
            stats: config.stats.then(|| Box::new(EngineStats::new())),
            extensions: if config.pex {
                Registry::new(&[Extension::UtMetadata, Extension::UtPex])
            } else {
                Registry::new(&[Extension::UtMetadata])
            },
            resume: Default::default(),
            dht: None,
            pex: PexCounters::default(),
            external_ips: Vec::new(),
            config,
        };
        for spec in specs {
            match engine.add(spec, now) {
                Ok(_) | Err(AddError::Duplicate(_)) => {}
                Err(AddError::Invalid(why)) => return Err(Error::Failed(why)),
            }
        }
        Ok(engine)
    }

    /// Torrent `id`, if it is still the torrent in its slot.
    pub(crate) fn torrent_ref(&self, id: TorrentId) -> Option<&Torrent> {
        self.torrents.get(id.slot as usize).filter(|t| t.id == id)
    }

    /// Torrent `id`, if it is still the torrent in its slot.
    pub(crate) fn torrent_mut(&mut self, id: TorrentId) -> Option<&mut Torrent> {
        self.torrents
            .get_mut(id.slot as usize)
            .filter(|t| t.id == id)
    }

    /// Torrent `id`'s tracker client, its progress brought up to date, for the reactor
    /// to drive (timeouts, datagrams and requests to send).
    pub(crate) fn tracker_client(&mut self, id: TorrentId) -> Option<&mut TrackerClient> {
        let t = self.torrent_mut(id)?;
        let left = t.storage.layout.total_length - t.bytes_done();
        let (up, down) = (t.stats.up.total(), t.stats.down.total());
        let client = t.tracker.as_mut()?;
        client.set_progress(up, down, left);
        Some(client)
    }

    /// What torrent `id`'s tracker client reported: the peers it learned go to its
    /// peer list and are dialled (a few per second), the rest is logged.
    pub(crate) fn on_tracker_events(
        &mut self,
        id: TorrentId,
        events: Vec<ClientEvent>,
        now: Instant,
    ) {
        let mut peers: Option<Vec<SocketAddr>> = None;
        for e in events {
            match e {
                ClientEvent::Peers(addrs) => {
                    log::debug!("tracker gave {} peers", addrs.len());
                    peers.get_or_insert_default().extend(addrs);
                }
                ClientEvent::Warning { url, message } => log::warn!("tracker {url}: {message}"),
                ClientEvent::Error { url, message } => log::warn!("tracker {url}: {message}"),
                ClientEvent::Swarm {
                    url,
                    complete,
                    incomplete,
                } => log::debug!("tracker {url}: {complete:?} seeds, {incomplete:?} leechers"),
                ClientEvent::ExternalIp(ip) => self.external_ips.push(ip),
            }
        }
        if let Some(peers) = peers {
            self.learn_peers(id, peers, PeerSource::Tracker, now);
        }
    }

    /// Addresses trackers said they saw us at since the last call (BEP 24).
    pub fn take_external_ips(&mut self) -> Vec<IpAddr> {
        std::mem::take(&mut self.external_ips)
    }

    /// Whether rate limits are set, the session's or a torrent's (the reactor then
    /// refills them on a timer).
    pub fn has_limits(&self) -> bool {
        !self.throttles.is_empty() || !self.rate_capped.is_empty()
    }

    /// The slot of connection `k`, if it is still the connection in that slot.
    pub(crate) fn live(&self, k: ConnKey) -> Option<usize> {
        let slot = k.slot as usize;
        self.conns.get(slot).filter(|c| c.id == k).map(|_| slot)
    }

    /// The slots of those of `keys` that are still live.
    fn live_all(&self, keys: Vec<ConnKey>) -> Vec<usize> {
        keys.into_iter().filter_map(|k| self.live(k)).collect()
    }

    /// The session of connection `k`, if it is live and active.
    fn active(&self, k: ConnKey) -> Option<&PeerSession> {
        self.conns.get(self.live(k)?)?.session()
    }

    /// Connection `key` has output queued: the reactor writes it this turn.
    fn want_write(&mut self, key: usize, _now: Instant) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.write_wanted {
                c.write_wanted = true;
                self.dirty.push(key);
            }
        }
    }

    /// Connections with output to write, oldest first: each once, and none the
    /// reactor wrote since it asked (see `Connection::write_wanted`).
    pub fn take_dirty(&mut self) -> Vec<usize> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter(|&key| {
                self.conns
                    .get_mut(key)
                    .is_some_and(|c| std::mem::take(&mut c.write_wanted))
            })
            .collect()
    }

    /// Whether any connection waits to be written.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The oldest event not taken yet.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// Peers to dial.
    pub fn take_dials(&mut self) -> Vec<Dial> {
        std::mem::take(&mut self.dials)
    }

    /// Torrents whose tracker client has something new to send: the reactor re-arms
    /// their tracker timers.
    pub fn take_tracker_changes(&mut self) -> Vec<TorrentId> {
        let slots = std::mem::take(&mut self.tracker_changed);
        slots
            .into_iter()
            .filter_map(|s| self.torrents.get(s).map(|t| t.id))
            .collect()
    }

    /// Torrents removed since the last call.
    pub fn take_removed(&mut self) -> Vec<TorrentId> {
        std::mem::take(&mut self.removed)
    }

    /// Slots freed whose sockets the reactor must drop.
    pub fn take_freed(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.freed)
    }

    /// The latency histograms, when kept (`EngineConfig::stats`).
    pub fn latency(&self) -> Option<&EngineStats> {
        self.stats.as_deref()
    }

    /// Connections closed so far, by reason.
    pub fn close_counts(&self) -> &HashMap<CloseReason, u64> {
        &self.close_counts
    }

    /// Whether the engine asked the run to end since the last call.
    pub fn take_shutdown_wanted(&mut self) -> bool {
        std::mem::take(&mut self.shutdown_wanted) && !self.config.service
    }

    /// The oldest job for the pool; [`Engine::unsubmit`] puts it back if the pool is
    /// full.
    pub fn next_job(&mut self) -> Option<Job> {
        self.jobs.pop_front()
    }

    /// Puts back a job the pool had no room for, first in line.
    pub fn unsubmit(&mut self, job: Job) {
        self.jobs.push_front(job);
    }

    /// Jobs waiting for the pool.
    pub fn jobs_waiting(&self) -> usize {
        self.jobs.len()
    }

    fn submit(&mut self, job: Job) {
        self.jobs.push_back(job);
    }

    /// Queues a front's task for the workers, behind the jobs already waiting.
    pub fn submit_task(&mut self, task: Task) {
        self.jobs.push_back(Job::Task(task));
    }

    /// A front task the workers finished, with its tag.
    pub fn take_task_done(&mut self) -> Option<(u64, TaskOutput)> {
        self.tasks_done.pop_front()
    }

    /// 64 pseudo-random bits (tie-breaks, tracker keys), from the engine's generator.
    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A fresh connection generation.
    fn next_generation(&mut self) -> u32 {
        self.next_gen = self.next_gen.wrapping_add(1);
        self.next_gen
    }

    /// The id the next torrent inserted gets: the slab's next slot, a new generation.
    fn next_torrent_id(&mut self) -> TorrentId {
        TorrentId {
            slot: self.torrents.vacant_key() as u32,
            generation: self.next_generation(),
        }
    }

    /// Whether any torrent banned `ip` as a whole.
    fn is_banned(&self, ip: IpAddr) -> bool {
        self.torrents.iter().any(|(_, t)| t.bans.address_banned(ip))
    }

    /// Whether an incoming connection from `addr` may be taken: not while shutting
    /// down, not from a banned address, and at `--max-peers` only if an idle incoming
    /// peer can be evicted (see `Engine::evict_useless`). Counts a refusal.
    pub fn admit(&mut self, addr: SocketAddr, now: Instant) -> bool {
        let full = self.conns.len() >= self.config.max_peers;
        if self.shutting_down || self.is_banned(addr.ip()) || (full && !self.evict_useless(now)) {
            *self
                .close_counts
                .entry(CloseReason::TooManyPeers)
                .or_default() += 1;
            return false;
        }
        true
    }

    /// At `--max-peers`, closes the longest-connected incoming peer that has been
    /// connected for `Limits::evict_after` with neither side interested (it uses a slot and
    /// exchanges nothing: an idle flood, a seed beside our seed), so a new peer can be
    /// taken. False when no connection qualifies. O(connections), only when full.
    fn evict_useless(&mut self, now: Instant) -> bool {
        let evict_after = self.config.limits.evict_after;
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| !c.outgoing && now.duration_since(c.started_at) >= evict_after)
            .filter(|(_, c)| {
                c.session()
                    .is_some_and(|s| !s.peer_interested() && !s.am_interested())
            })
            .min_by_key(|(_, c)| c.started_at)
            .map(|(k, _)| k);
        let Some(key) = victim else { return false };
        self.close(key, CloseReason::Evicted);
        self.reap_closed();
        true
    }

    /// Adds a connection (an accepted one, or one being dialled for torrent `torrent`)
    /// and returns its slot; the reactor puts its socket under the same slot.
    pub fn add_conn(
        &mut self,
        addr: SocketAddr,
        outgoing: bool,
        torrent: Option<usize>,
        now: Instant,
    ) -> usize {
        let generation = self.next_generation();
        let entry = self.conns.vacant_entry();
        let id = ConnKey {
            slot: entry.key() as u32,
            generation,
        };
        entry
            .insert(Connection::new(id, addr, outgoing, torrent, now))
            .id
            .slot as usize
    }

    /// Asks for a connection to `addr` for torrent `torrent`; false at `--max-peers`
    /// or at the torrent's own connection cap.
    fn dial(&mut self, addr: SocketAddr, torrent: usize, now: Instant) -> bool {
        if self.conns.len() >= self.config.max_peers || self.torrent_full(torrent) {
            return false;
        }
        let key = self.add_conn(addr, true, Some(torrent), now);
        self.dials.push(Dial { key, addr });
        true
    }

    /// Closes connection `key` for `reason`. It leaves everything that names it at
    /// once (its torrent's peer list, picker and choker, the read waiters, the
    /// throttled lists) and turns `Closing`; its slot is freed at the end of the turn
    /// ([`Engine::reap_closed`]), so no stale event reaches a connection that reuses it.
    pub fn close(&mut self, key: usize, reason: CloseReason) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.is_closing() {
            return;
        }
        let mut state = std::mem::replace(&mut conn.state, ConnState::Closing(reason));
        let was_active = matches!(state, ConnState::Active(_));
        let id = conn.id;
        if let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) {
            t.peers.retain(|&k| k != id);
            for waiters in t.reads.values_mut() {
                waiters.retain(|&k| k != id);
            }
            t.choker.forget(id);
            if let Some(caps) = t.caps.as_deref_mut() {
                caps.throttles.forget(id);
            }
            if let ConnState::Active(session) = &mut state {
                session.detach(&mut t.picker);
            }
        }
        if let (ConnState::Fetching(p), Some(tkey)) = (&state, conn.torrent) {
            let tag = p.tag();
            self.on_fetching_closed(tkey, tag, Instant::now());
        }
        self.throttles.forget(id);
        self.closing.push((key, was_active));
    }

    /// Frees the slots of the connections closed this turn (their sockets go in
    /// [`Engine::take_freed`]) and schedules redials of configured peers.
    pub fn reap_closed(&mut self) {
        let now = Instant::now();
        for (key, was_active) in std::mem::take(&mut self.closing) {
            let Some(conn) = self.conns.try_remove(key) else {
                continue;
            };
            self.freed.push(key);
            let ConnState::Closing(reason) = conn.state else {
                continue;
            };
            *self.close_counts.entry(reason).or_default() += 1;
            log::debug!("closed {} ({reason})", conn.addr);
            if let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) {
                let backoff = |n| housekeeping::reconnect_delay(reason, was_active, n);
                t.peer_list.on_closed(conn.addr, was_active, now, backoff);
            }
        }
    }

    /// Stops taking new work (no dials, no accepts) and tells every tracker client we
    /// leave; returns the torrents whose client now has a `stopped` announce to send.
    /// Does nothing, and returns none, if the engine is stopping already.
    pub fn begin_shutdown(&mut self, now: Instant) -> Vec<TorrentId> {
        if self.shutting_down {
            return Vec::new();
        }
        self.shutting_down = true;
        let mut announcing = Vec::new();
        for (_, t) in self.torrents.iter_mut() {
            if let Some(client) = t.tracker.as_mut() {
                let deadline = client.on_stop(now);
                self.stop_deadline = Some(self.stop_deadline.map_or(deadline, |d| d.max(deadline)));
                announcing.push(t.id);
            }
        }
        announcing
    }

    /// Whether the run may end: stopping, nothing left to write, and every `stopped`
    /// announce answered or past its deadline. A run that is not stopping never ends.
    pub fn finished(&self, now: Instant) -> bool {
        if !self.shutting_down || self.writes_pending() {
            return false;
        }
        let announcing = self
            .torrents
            .iter()
            .any(|(_, t)| t.tracker.as_ref().is_some_and(|c| !c.is_stopped()));
        !announcing || self.stop_deadline.is_none_or(|d| now >= d)
    }

    /// Whether pieces or resume records are still being written, or jobs wait for the
    /// pool.
    pub fn writes_pending(&self) -> bool {
        !self.jobs.is_empty()
            || self.resume.busy()
            || self.torrents.iter().any(|(_, t)| t.assembly.writing())
    }

    /// Closes every connection, writes every resume record and returns what each
    /// torrent did (the stall reasons are taken before the connections close).
    pub fn finish(&mut self) -> Vec<TorrentSummary> {
        let stalled: HashMap<usize, String> = self
            .torrents
            .iter()
            .filter_map(|(key, _)| Some((key, self.stall_reason(key)?)))
            .collect();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key, CloseReason::Shutdown);
        }
        self.reap_closed();
        self.save_resume_now();
        if let Some(stats) = &self.stats {
            eprint!("{}", stats.render());
        }
        let now = Instant::now();
        self.torrents
            .iter()
            .map(|(key, t)| TorrentSummary {
                stalled: stalled.get(&key).cloned(),
                failed: match &t.state {
                    TorrentState::Failed(why) => Some(why.clone()),
                    _ => None,
                },
                name: t.name(),
                info_hash: t.meta.info_hash,
                complete: t.complete(),
                downloaded: t.stats.down.total(),
                uploaded: t.stats.up.total(),
                hash_failures: t.stats.hash_failures,
                peers_used: t.stats.peers_used.len(),
                seconds: t
                    .stats
                    .completed_at
                    .unwrap_or(now)
                    .duration_since(t.stats.started_at)
                    .as_secs_f64(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
