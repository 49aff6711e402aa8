//! The reactor: the one thread that owns every socket, all torrents and the worker
//! pool's completions, driving them from a hand-rolled `mio::Poll` loop.
//!
//! This is the only module that imports mio's networking and socket options. Each turn
//! (see `Reactor::run`): poll with the earliest deadline of the timer heap as timeout
//! (zero when a connection still has budgeted work) -> read the clock once -> dispatch
//! events (waker: drain completions; signal pipe: start shutdown; listener: accept until
//! `WouldBlock`; peer: read, decode and handle, write; UDP endpoint: flush its queue,
//! read until `WouldBlock` and route each datagram; HTTP connection: read, serve,
//! write) -> drive connections that ran out of their per-wake byte budget -> fire due
//! timers (the per-second sweep, rechoke, resume records, progress, rate-limit refills,
//! each tracker client's next deadline) -> submit backlogged jobs -> close the peer and
//! HTTP connections collected during the turn. Removal is deferred to the end of the turn so
//! a stale event never reaches a connection that reused a slot; a closing connection is
//! removed from every list that names it (read waiters, the torrent's peers) in the same
//! step, and worker completions name torrents by a tag checked on arrival.
//!
//! Edge-triggered readiness: reads go until `WouldBlock` (or the budget), writes until
//! `WouldBlock` or the queue empties, and output is written as soon as it is queued.

mod housekeeping;
mod http;
mod http_fetch;
mod http_machine;
mod peers;
mod serve;
mod trackers;
mod udp;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::bitfield::Bitfield;
use crate::error::{Error, Result};
use crate::limit::{REFILL_INTERVAL, TokenBucket};
use crate::peer::close::CloseReason;
use crate::peer::conn::{RecvBuf, SendQueue};
use crate::peer::session::PeerSession;
use crate::resolver::Resolver;
use crate::stats::{EngineStats, Metric};
use crate::timer::Timers;
use crate::torrent::choker::Choker;
use crate::torrent::picker::{PeerKey, Picker};
use crate::torrent::state::Torrent;
use crate::torrent::storage::Storage;
use crate::tracker::client::{AnnounceParams, TrackerClient};
use crate::tracker::server::{TrackerConfig, TrackerService};
use crate::types::PieceIndex;
use crate::types::{InfoHash, PeerId};
use crate::wire::metainfo::Metainfo;
use crate::workers::{Job, WorkerPool};
use housekeeping::{KnownPeer, reconnect_delay};
pub use serve::UploadMode;

const WAKE: Token = Token(0);
const SIGNALS: Token = Token(1);
const LISTENER_BASE: usize = 2;
const HTTP_LISTEN_BASE: usize = 1000;
const CONN_BASE: usize = 1 << 20;

/// Bytes read from one connection per wake before others get their turn.
const READ_BUDGET: usize = 1 << 20;
/// Jobs queued to the worker pool per worker thread.
const JOBS_PER_WORKER: usize = 8;
/// A connect that has not completed by then is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A handshake that has not completed by then closes the connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// A connection that received nothing for this long is closed.
const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(180);
/// An incoming peer connected this long with neither side interested may be closed to
/// make room for a new one at `--max-peers` (long enough for a new peer to send its
/// bitfield and `interested`).
const EVICT_AFTER: Duration = Duration::from_secs(10);
/// An idle connection gets a keep-alive this often.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How often unchoke slots are reassigned.
const RECHOKE_INTERVAL: Duration = Duration::from_secs(crate::config::RECHOKE_INTERVAL_SECS);
/// How often a changed resume record is written while running.
const RESUME_INTERVAL: Duration = Duration::from_secs(10);
/// Wait before connecting again to a configured peer that dropped.
const RECONNECT_DELAY: Duration = Duration::from_secs(5);
/// Bytes of piece cache per torrent for serving uploads.
const PIECE_CACHE_BYTES: usize = 32 << 20;

/// A tracker server to run on the reactor, with its sockets already bound (so a
/// torrent can name their ports before the engine starts).
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
}

/// A torrent to run, with what is already verified on disk.
#[derive(Debug)]
pub struct TorrentSpec {
    /// The metainfo.
    pub meta: Arc<Metainfo>,
    /// Its storage.
    pub storage: Arc<Storage>,
    /// Pieces verified on disk.
    pub have: Bitfield,
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
}

/// The state of one connection.
#[derive(Debug)]
enum ConnState {
    /// Non-blocking connect in flight: only a writable event (then `take_error`) is
    /// legal; nothing is read or queued.
    Connecting,
    /// TCP is up; we wait for the peer's handshake. Outgoing connections have sent
    /// ours; incoming ones send theirs once the info-hash names a torrent of ours.
    Handshaking,
    /// Handshakes exchanged: messages flow in both directions.
    Active(Box<PeerSession>),
}

/// One peer connection in the slab.
#[derive(Debug)]
struct Conn {
    sock: TcpStream,
    addr: SocketAddr,
    outgoing: bool,
    state: ConnState,
    recv: RecvBuf,
    send: SendQueue,
    /// Slab key of the torrent, once known.
    torrent: Option<usize>,
    started_at: Instant,
    /// The socket may have more to read than the last pass took.
    read_pending: bool,
    /// The last write stopped at `WouldBlock`: wait for a writable edge.
    write_blocked: bool,
    /// The largest frame this connection accepts.
    max_frame: u32,
}

/// The reactor: all connections, torrents and the worker pool.
pub struct Reactor {
    poll: Poll,
    listeners: Vec<TcpListener>,
    signals: UnixStream,
    conns: Slab<Conn>,
    torrents: Slab<Torrent>,
    by_hash: HashMap<InfoHash, usize>,
    pool: WorkerPool,
    backlog: Vec<Job>,
    known: Vec<KnownPeer>,
    config: EngineConfig,
    peer_id: PeerId,
    closing: Vec<(usize, CloseReason)>,
    busy: Vec<usize>,
    shutting_down: bool,
    timers: Timers<Tick>,
    rng: u64,
    /// Port of the first listener, advertised in extension handshakes (`p`).
    listen_port: Option<u16>,
    close_counts: HashMap<CloseReason, u64>,
    up_limit: Option<TokenBucket>,
    down_limit: Option<TokenBucket>,
    /// Connections waiting for upload tokens.
    throttled_up: Vec<usize>,
    /// Connections waiting for download tokens.
    throttled_down: Vec<usize>,
    waker: Arc<Waker>,
    resolver: Option<Resolver>,
    tracker_server: Option<TrackerService>,
    /// Every UDP socket: the tracker server's and the tracker clients'.
    udp: udp::UdpEndpoints,
    /// HTTP listeners (each with its service) and their connections.
    http: http::HttpServers,
    http_fetches: Slab<http_fetch::HttpFetch>,
    tracker_io: trackers::TrackerIo,
    /// When shutting down: the latest instant to wait for `stopped` announces.
    stop_deadline: Option<Instant>,
    /// Files open for `sendfile`.
    serve_files: serve::ServeFiles,
    /// Latency histograms, with `--stats`.
    stats: Option<Box<EngineStats>>,
}

/// Periodic work, kept in the reactor's deadline heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    /// Per-second sweep: connection timeouts, keep-alives, request timeouts, rates,
    /// reconnects.
    Second,
    /// Reassign unchoke slots.
    Rechoke,
    /// Write changed resume records.
    Resume,
    /// Report progress.
    Progress,
    /// Top up the rate-limit buckets.
    Refill,
    /// Drive one torrent's tracker client (slab key): its `poll_timeout` is due, or a
    /// request waits to be sent.
    Tracker(usize),
}

fn setup_err(what: &str, e: io::Error) -> Error {
    Error::Failed(format!("{what}: {e}"))
}

impl Reactor {
    /// Binds the listeners, starts the workers and registers the torrents.
    pub fn new(config: EngineConfig, specs: Vec<TorrentSpec>) -> Result<Reactor> {
        let poll = Poll::new().map_err(|e| setup_err("cannot create the poller", e))?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(|e| setup_err("waker", e))?);
        let pool = WorkerPool::new(
            config.workers,
            config.workers * JOBS_PER_WORKER,
            waker.clone(),
        )
        .map_err(|e| setup_err("cannot start worker threads", e))?;

        let (sig_read, sig_write) =
            StdUnixStream::pair().map_err(|e| setup_err("cannot create the signal pipe", e))?;
        sig_read
            .set_nonblocking(true)
            .map_err(|e| setup_err("signal pipe", e))?;
        sig_write
            .set_nonblocking(true)
            .map_err(|e| setup_err("signal pipe", e))?;
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let w = sig_write
                .try_clone()
                .map_err(|e| setup_err("signal pipe", e))?;
            signal_hook::low_level::pipe::register(sig, w)
                .map_err(|e| setup_err("cannot install signal handlers", e))?;
        }
        let mut signals = UnixStream::from_std(sig_read);
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| setup_err("signal pipe", e))?;

        let mut listeners = Vec::new();
        for (i, addr) in config.listen.iter().enumerate() {
            let mut l = TcpListener::bind(*addr)
                .map_err(|e| Error::Failed(format!("cannot listen on {addr}: {e}")))?;
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)
                .map_err(|e| setup_err("listener", e))?;
            if config.announce_listen {
                if let Ok(bound) = l.local_addr() {
                    println!("listening on {bound}");
                }
            }
            listeners.push(l);
        }

        let now = Instant::now();
        let mut config = config;
        let mut http_servers = http::HttpServers::default();
        let mut udp_endpoints = udp::UdpEndpoints::default();
        let mut tracker_server = None;
        if let Some(setup) = config.tracker_server.take() {
            for (i, l) in setup.http.into_iter().enumerate() {
                l.set_nonblocking(true)
                    .map_err(|e| setup_err("tracker listener", e))?;
                let token = Token(HTTP_LISTEN_BASE + i);
                let service = http::HttpService::Tracker;
                http_servers
                    .listen(TcpListener::from_std(l), service, token, poll.registry())
                    .map_err(|e| setup_err("tracker listener", e))?;
            }
            for u in setup.udp {
                u.set_nonblocking(true)
                    .map_err(|e| setup_err("tracker socket", e))?;
                let roles = udp::Roles {
                    tracker_server: true,
                    tracker_clients: false,
                };
                udp_endpoints
                    .add(UdpSocket::from_std(u), roles, poll.registry())
                    .map_err(|e| setup_err("tracker socket", e))?;
            }
            http_servers.set_max_connections(setup.max_http_connections);
            let mut secret = [0u8; 16];
            secret[..8].copy_from_slice(&random_u64().to_le_bytes());
            secret[8..].copy_from_slice(&random_u64().to_le_bytes());
            let seed = random_u64();
            tracker_server = Some(TrackerService::new(setup.config, seed, secret, now));
        }
        let any_trackers = !config.extra_trackers.is_empty()
            || specs.iter().any(|s| !s.meta.tracker_tiers().is_empty());
        if any_trackers {
            for ipv6 in [false, true] {
                let Some(u) = trackers::client_socket(ipv6) else {
                    continue;
                };
                let roles = udp::Roles {
                    tracker_server: false,
                    tracker_clients: true,
                };
                udp_endpoints
                    .add(u, roles, poll.registry())
                    .map_err(|e| setup_err("tracker client socket", e))?;
            }
        }
        let peer_id = PeerId::generate();
        let listen_port = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port());
        let mut torrents = Slab::new();
        let mut by_hash = HashMap::new();
        for spec in specs {
            if by_hash.contains_key(&spec.meta.info_hash) {
                continue;
            }
            let pieces = spec.storage.layout.piece_count();
            let entry = torrents.vacant_entry();
            let key = entry.key();
            let picker = Picker::new(
                pieces,
                spec.storage.layout.piece_length,
                spec.storage.layout.total_length,
                |p| spec.have.get(p),
                u64::from(std::process::id()) ^ now.elapsed().as_nanos() as u64 ^ key as u64,
            )
            .map_err(|e| Error::Failed(format!("internal error: {e:?}")))?;
            by_hash.insert(spec.meta.info_hash, key);
            let mut tiers = spec.meta.tracker_tiers();
            tiers.extend(config.extra_trackers.iter().map(|u| vec![u.clone()]));
            let bytes_left: u64 = (0..pieces)
                .map(PieceIndex)
                .filter(|&p| !spec.have.get(p))
                .map(|p| spec.storage.layout.piece_len(p))
                .sum();
            let tracker = (!tiers.is_empty()).then(|| {
                let params = AnnounceParams {
                    info_hash: spec.meta.info_hash,
                    peer_id,
                    port: listen_port.unwrap_or(0),
                    key: random_u64() as u32,
                    numwant: None,
                    left: bytes_left,
                };
                TrackerClient::new(params, tiers, random_u64(), now)
            });
            entry.insert(Torrent {
                tag: key as u64,
                meta: spec.meta,
                bytes_have: Torrent::count_bytes(&spec.have, &spec.storage),
                storage: spec.storage,
                have: spec.have,
                picker,
                partials: HashMap::new(),
                writing: Default::default(),
                cache: HashMap::new(),
                cache_bytes: 0,
                cache_cap: PIECE_CACHE_BYTES,
                cache_clock: 0,
                reads: HashMap::new(),
                warm: HashMap::new(),
                peers: Vec::new(),
                bans: Default::default(),
                down: Default::default(),
                up: Default::default(),
                hash_failures: 0,
                suspects: HashMap::new(),
                resume_dirty: false,
                started_at: now,
                progress_at: now,
                progress_bytes: 0,
                completed_at: None,
                peers_used: Default::default(),
                choker: Choker::new(),
                tracker,
                candidates: Default::default(),
                dialled: HashMap::new(),
            });
        }
        let mut known = Vec::new();
        for &addr in &config.peers {
            for (key, _) in torrents.iter() {
                known.push(KnownPeer {
                    addr,
                    torrent: key,
                    connected: false,
                    retry_at: now,
                    failures: 0,
                });
            }
        }

        let mut reactor = Reactor {
            poll,
            listeners,
            signals,
            conns: Slab::new(),
            torrents,
            by_hash,
            pool,
            backlog: Vec::new(),
            known,
            peer_id,
            closing: Vec::new(),
            busy: Vec::new(),
            shutting_down: false,
            timers: Timers::new(),
            rng: u64::from(std::process::id()) | 1,
            listen_port,
            close_counts: HashMap::new(),
            up_limit: config.max_upload_rate.map(|r| TokenBucket::new(r, now)),
            down_limit: config.max_download_rate.map(|r| TokenBucket::new(r, now)),
            throttled_up: Vec::new(),
            throttled_down: Vec::new(),
            waker,
            resolver: None,
            tracker_server,
            udp: udp_endpoints,
            http: http_servers,
            http_fetches: Slab::new(),
            tracker_io: Default::default(),
            stop_deadline: None,
            serve_files: serve::ServeFiles::default(),
            stats: config.stats.then(|| Box::new(EngineStats::new())),
            config,
        };
        if reactor.config.announce_listen {
            for a in reactor.http.addrs(http::HttpService::Tracker) {
                println!("tracker http on {a}");
            }
            for a in reactor.udp.server_addrs() {
                println!("tracker udp on {a}");
            }
        }
        reactor.timers.schedule(now, Tick::Second);
        reactor
            .timers
            .schedule(now + RECHOKE_INTERVAL, Tick::Rechoke);
        reactor.timers.schedule(now + RESUME_INTERVAL, Tick::Resume);
        reactor.timers.schedule(now, Tick::Progress);
        if reactor.up_limit.is_some() || reactor.down_limit.is_some() {
            reactor.timers.schedule(now + REFILL_INTERVAL, Tick::Refill);
        }
        let keys: Vec<usize> = reactor.torrents.iter().map(|(k, _)| k).collect();
        for key in keys {
            reactor.arm_tracker(key, now);
        }
        Ok(reactor)
    }

    /// Local addresses the listeners are bound to.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Runs until a signal, or until every torrent is complete when
    /// `exit_when_complete`; flushes pending writes and resume records before returning.
    pub fn run(mut self) -> Result<Vec<TorrentSummary>> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let timeout = match self.timers.next_deadline() {
                _ if !self.busy.is_empty() => Duration::ZERO,
                Some(at) => at.saturating_duration_since(now),
                None => Duration::from_secs(1),
            };
            // Round up to whole milliseconds so we never wake just before the deadline.
            let timeout = Duration::from_millis(timeout.as_micros().div_ceil(1000) as u64);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(setup_err("poll failed", e));
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKE => {
                        self.on_completions(now)?;
                        self.on_lookups(now);
                    }
                    SIGNALS => self.on_signal(now),
                    Token(t) if t >= http_fetch::HTTP_CLIENT_BASE => {
                        self.on_fetch_event(t - http_fetch::HTTP_CLIENT_BASE, now)
                    }
                    Token(t) if t >= http::HTTP_SERVER_BASE => {
                        self.on_http_server_event(t - http::HTTP_SERVER_BASE, now)
                    }
                    Token(t) if t >= CONN_BASE => {
                        let key = t - CONN_BASE;
                        if event.is_writable() {
                            self.on_writable(key, now);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.on_readable(key, now);
                        }
                    }
                    Token(t) if t >= udp::UDP_BASE => self.on_udp_event(
                        t - udp::UDP_BASE,
                        event.is_readable(),
                        event.is_writable(),
                        now,
                    ),
                    Token(t) if t >= HTTP_LISTEN_BASE => {
                        self.on_http_accept(t - HTTP_LISTEN_BASE, now)
                    }
                    Token(t) => self.on_accept(t - LISTENER_BASE, now),
                }
            }
            for key in std::mem::take(&mut self.busy) {
                self.on_readable(key, now);
            }
            while let Some(tick) = self.timers.pop_due(now) {
                self.on_tick(tick, now);
            }
            if let Some(server) = self.tracker_server.as_mut() {
                // Expiry runs in bounded steps, one per turn while a pass is under way.
                server.handle_timeout(now);
            }
            self.submit_backlog();
            self.reap_closed();
            self.reap_http();
            if let Some(stats) = self.stats.as_deref_mut() {
                stats.record(Metric::ReactorLoop, now.elapsed());
            }
            if self.finished() {
                break;
            }
        }
        self.finish_run()
    }

    /// True when the run should end: a signal arrived (and writes drained), or every
    /// torrent completed in download-and-exit mode.
    fn finished(&self) -> bool {
        let writes_pending = self.torrents.iter().any(|(_, t)| !t.writing.is_empty());
        if writes_pending || !self.backlog.is_empty() {
            return false;
        }
        if self.shutting_down {
            // Give `stopped` announces until their deadline.
            let announcing = self
                .torrents
                .iter()
                .any(|(_, t)| t.tracker.as_ref().is_some_and(|c| !c.is_stopped()));
            return !announcing || self.stop_deadline.is_none_or(|d| Instant::now() >= d);
        }
        false
    }

    fn finish_run(mut self) -> Result<Vec<TorrentSummary>> {
        // Before the connections close, or every torrent would have no peers.
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
        self.save_resume(true);
        if self.udp.dropped() > 0 {
            log::warn!(
                "{} UDP datagrams dropped at the send queue's bound",
                self.udp.dropped()
            );
        }
        if let Some(stats) = &self.stats {
            eprint!("{}", stats.render());
        }
        let now = Instant::now();
        Ok(self
            .torrents
            .iter()
            .map(|(key, t)| TorrentSummary {
                stalled: stalled.get(&key).cloned(),
                name: t.name(),
                info_hash: t.meta.info_hash,
                complete: t.complete(),
                downloaded: t.down.total(),
                uploaded: t.up.total(),
                hash_failures: t.hash_failures,
                peers_used: t.peers_used.len(),
                seconds: t
                    .completed_at
                    .unwrap_or(now)
                    .duration_since(t.started_at)
                    .as_secs_f64(),
            })
            .collect())
    }

    fn on_signal(&mut self, now: Instant) {
        let mut buf = [0u8; 64];
        while let Ok(n) = io::Read::read(&mut self.signals, &mut buf) {
            if n == 0 {
                break;
            }
        }
        if !self.shutting_down {
            eprintln!("hivebt: stopping (flushing data and resume records)");
        }
        self.begin_shutdown(now);
    }

    /// Stops taking new work and tells the trackers we leave; the loop ends once
    /// pending writes finish and the `stopped` announces are answered or time out.
    fn begin_shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(client) = self.torrents[key].tracker.as_mut() {
                let deadline = client.on_stop(now);
                self.stop_deadline = Some(self.stop_deadline.map_or(deadline, |d| d.max(deadline)));
            }
            self.pump_tracker(key, now);
        }
    }

    fn is_banned(&self, ip: IpAddr) -> bool {
        self.torrents.iter().any(|(_, t)| t.bans.address_banned(ip))
    }

    fn on_accept(&mut self, index: usize, now: Instant) {
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let Some((sock, addr)) = try_accept(listener) else {
                return;
            };
            let full = self.conns.len() >= self.config.max_peers;
            if self.shutting_down || self.is_banned(addr.ip()) || (full && !self.evict_useless(now))
            {
                *self
                    .close_counts
                    .entry(CloseReason::TooManyPeers)
                    .or_default() += 1;
                continue;
            }
            self.insert_conn(sock, addr, false, None, now);
        }
    }

    /// At `--max-peers`, closes the longest-connected incoming peer that has been
    /// connected for [`EVICT_AFTER`] with neither side interested (it uses a slot and
    /// exchanges nothing: an idle flood, a seed beside our seed), so a new peer can be
    /// taken. False when no connection qualifies. O(connections), only when full.
    fn evict_useless(&mut self, now: Instant) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| !c.outgoing && now.duration_since(c.started_at) >= EVICT_AFTER)
            .filter(|(_, c)| match &c.state {
                ConnState::Active(s) => !s.peer_interested && !s.am_interested,
                _ => false,
            })
            .min_by_key(|(_, c)| c.started_at)
            .map(|(k, _)| k);
        let Some(key) = victim else { return false };
        self.close(key, CloseReason::Evicted);
        self.reap_closed();
        true
    }

    fn insert_conn(
        &mut self,
        mut sock: TcpStream,
        addr: SocketAddr,
        outgoing: bool,
        torrent: Option<usize>,
        now: Instant,
    ) -> Option<usize> {
        let _ = sock.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(CONN_BASE + key), interest)
        {
            log::warn!("cannot register {addr}: {e}");
            return None;
        }
        entry.insert(Conn {
            sock,
            addr,
            outgoing,
            state: if outgoing {
                ConnState::Connecting
            } else {
                ConnState::Handshaking
            },
            recv: RecvBuf::new(),
            send: SendQueue::new(),
            torrent,
            started_at: now,
            read_pending: false,
            write_blocked: false,
            max_frame: crate::wire::peer::HANDSHAKE_LEN as u32,
        });
        Some(key)
    }

    fn connect(&mut self, addr: SocketAddr, torrent: usize, now: Instant) -> bool {
        if self.conns.len() >= self.config.max_peers {
            return false;
        }
        match TcpStream::connect(addr) {
            Ok(sock) => self
                .insert_conn(sock, addr, true, Some(torrent), now)
                .is_some(),
            Err(e) => {
                log::debug!("connect to {addr} failed: {e}");
                false
            }
        }
    }

    /// Queues `key` for closing at the end of the turn.
    fn close(&mut self, key: usize, reason: CloseReason) {
        if self.conns.contains(key) && !self.closing.iter().any(|(k, _)| *k == key) {
            self.closing.push((key, reason));
        }
    }

    fn reap_closed(&mut self) {
        for (key, reason) in std::mem::take(&mut self.closing) {
            let Some(mut conn) = self.conns.try_remove(key) else {
                continue;
            };
            *self.close_counts.entry(reason).or_default() += 1;
            log::debug!("closed {} ({reason})", conn.addr);
            let _ = self.poll.registry().deregister(&mut conn.sock);
            for kp in self
                .known
                .iter_mut()
                .filter(|k| k.addr == conn.addr && Some(k.torrent) == conn.torrent)
            {
                let was_active = matches!(conn.state, ConnState::Active(_));
                kp.failures = if was_active { 0 } else { kp.failures + 1 };
                kp.connected = false;
                kp.retry_at = Instant::now() + reconnect_delay(reason, was_active, kp.failures);
            }
            let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) else {
                continue;
            };
            t.peers.retain(|&k| k != key);
            for waiters in t.reads.values_mut() {
                waiters.retain(|&k| k != key);
            }
            if let ConnState::Active(session) = &conn.state {
                for &(block, _) in &session.requests_out {
                    t.picker.on_request_dropped(PeerKey(key as u32), block);
                }
                t.picker
                    .on_peer_gone(PeerKey(key as u32), |p| session.have.get(p));
            }
        }
    }

    fn on_writable(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let ConnState::Connecting = conn.state {
            match conn.sock.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return self.close(key, CloseReason::ConnectFailed),
            }
            if conn.sock.peer_addr().is_err() {
                return self.close(key, CloseReason::ConnectFailed);
            }
            conn.state = ConnState::Handshaking;
            conn.started_at = now;
            let Some(tkey) = conn.torrent else {
                return self.close(key, CloseReason::ConnectFailed);
            };
            self.send_handshake(key, tkey);
        }
        self.flush(key, now);
    }

    /// Writes what is queued; closes on error. Refills uploads when the queue drains.
    fn flush(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if matches!(conn.state, ConnState::Connecting) {
            return;
        }
        match conn.send.write_to(&mut conn.sock) {
            Ok(n) => {
                if n > 0 {
                    if let ConnState::Active(s) = &mut conn.state {
                        s.last_send_at = now;
                    }
                }
                conn.write_blocked = conn.send.queued() > 0;
            }
            Err(_) => return self.close(key, CloseReason::SocketError),
        }
        let refill = match &conn.state {
            ConnState::Active(s) => conn.send.queued() < serve::high_water(s.up.per_second()) / 2,
            _ => false,
        };
        if refill {
            self.serve_requests(key, now);
        }
    }

    fn on_readable(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if matches!(conn.state, ConnState::Connecting) {
            return;
        }
        let max = conn.max_frame as usize + 4;
        let pass = match conn.recv.read_from(&mut conn.sock, READ_BUDGET, max) {
            Ok(p) => p,
            Err(_) => return self.close(key, CloseReason::SocketError),
        };
        conn.read_pending = !pass.drained && !pass.eof;
        if pass.bytes > 0 {
            if let ConnState::Active(s) = &mut conn.state {
                s.last_recv_at = now;
            }
        }
        self.process_input(key, now);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if pass.eof {
            return self.close(key, CloseReason::PeerClosed);
        }
        if conn.read_pending && !self.busy.contains(&key) {
            self.busy.push(key);
        }
        self.flush(key, now);
    }

    /// Hands finished jobs that did not fit in the queue to the pool.
    fn submit_backlog(&mut self) {
        while !self.backlog.is_empty() {
            let job = self.backlog.remove(0);
            if let Err(job) = self.pool.try_submit(job) {
                self.backlog.insert(0, job);
                break;
            }
        }
    }

    fn submit(&mut self, job: Job) {
        if !self.backlog.is_empty() {
            self.backlog.push(job);
            return;
        }
        if let Err(job) = self.pool.try_submit(job) {
            self.backlog.push(job);
        }
    }
}

/// The next connection on `listener`; `None` at `WouldBlock` or on an error (logged),
/// which ends the accept loop until the next readable edge. Every TCP listener, peer
/// or HTTP, is drained through this.
fn try_accept(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    loop {
        match listener.accept() {
            Ok(pair) => return Some(pair),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("accept failed: {e}");
                return None;
            }
        }
    }
}

/// 64 random bits from the operating system (for connection-id secrets, tracker keys
/// and generator seeds), falling back to std's randomly keyed hasher.
pub(crate) fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}
