//! The reactor: the one thread that owns every socket, the timer heap and the worker
//! pool, driving the [`Engine`] (every torrent and peer decision) and the tracker cores
//! from a hand-rolled `mio::Poll` loop.
//!
//! This is the only module that imports mio's networking and socket options. Each turn
//! (see `Reactor::run`): poll with the earliest deadline of the timer heap as timeout
//! (zero when a connection still has budgeted work or output waits) -> read the clock
//! once -> dispatch events (waker: completions to the engine; signal pipe: start
//! shutdown; listener: accept until `WouldBlock`; peer: read into the engine's buffer,
//! let it handle the input, write; UDP endpoint: flush its queue, read until
//! `WouldBlock` and route each datagram; HTTP connection: read, serve, write) -> drive
//! connections that ran out of their per-wake byte budget -> fire due timers (the
//! engine's per-second sweep, rechoke, resume records, progress, rate-limit refills,
//! each tracker client's next deadline) -> apply what the engine asked for (dial,
//! write, jobs to the pool, tracker timers, shutdown) -> drop the sockets of the peer
//! and HTTP connections closed during the turn. Removal is deferred to the end of the
//! turn so a stale event never reaches a connection that reused a slot.
//!
//! Edge-triggered readiness: reads go until `WouldBlock` (or the budget), writes until
//! `WouldBlock` or the queue empties, and output is written as soon as it is queued.

mod dht;
mod http;
mod http_fetch;
mod http_machine;
mod lsd;
mod socket;
pub use socket::tcp_listener;
mod trackers;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::api::ApiService;
pub use crate::engine::{
    DhtSetup, EngineConfig, TorrentSpec, TorrentSummary, TrackerServerSetup, UploadMode,
};
use crate::engine::{Engine, EngineEvent, EngineSnapshot, MagnetSpec};
use crate::error::{Error, Result};
use crate::limit::REFILL_INTERVAL;
use crate::peer::close::CloseReason;
use crate::peer::conn::ConnState;
use crate::resolver::Resolver;
use crate::rng::{self, Rng};
use crate::stats::Metric;
use crate::timer::Timers;
use crate::tracker::server::TrackerService;
use crate::types::{ConnKey, PeerId, TorrentId};
use crate::workers::WorkerPool;

const WAKE: Token = Token(0);
const SIGNALS: Token = Token(1);
const HANGUP: Token = Token(2);
const LISTENER_BASE: usize = 3;
const CONN_BASE: usize = 1 << 20;

/// The socket of one peer connection, under the slot of its [`Connection`] in the
/// engine.
#[derive(Debug)]
struct Sock {
    stream: TcpStream,
    /// The socket may have more to read than the last pass took.
    read_pending: bool,
    /// The last write stopped at `WouldBlock`: wait for a writable edge.
    write_blocked: bool,
}

/// What the connections a listener accepts are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepts {
    /// BitTorrent peers, handed to the engine.
    Peers,
    /// HTTP requests for a service.
    Http(http::HttpService),
}

/// The reactor: all connections, torrents and the worker pool.
pub struct Reactor {
    poll: Poll,
    /// Every TCP listener, peer or HTTP, with what it accepts; token
    /// `LISTENER_BASE + index`.
    listeners: Vec<(TcpListener, Accepts)>,
    signals: UnixStream,
    /// Peer sockets by connection slot.
    socks: Vec<Option<Sock>>,
    pool: WorkerPool,
    /// Connections whose last read stopped at the budget, to read again this turn.
    busy: Vec<ConnKey>,
    timers: Timers<Tick>,
    waker: Arc<Waker>,
    resolver: Option<Resolver>,
    tracker_server: Option<TrackerService>,
    /// Every UDP socket: the tracker server's and the tracker clients'.
    udp: udp::UdpEndpoints,
    /// HTTP server connections.
    http: http::HttpServers,
    http_fetches: Slab<http_fetch::HttpFetch>,
    tracker_io: trackers::TrackerIo,
    /// Torrents, peer connections and their protocol state.
    engine: Engine,
    /// The `listening on` lines are still to be printed: they wait until no torrent is
    /// checking its data, so a peer that reads them finds every torrent running.
    listening_unannounced: bool,
    /// Shown what every torrent does, at the progress interval (the CLI renders it).
    progress: Option<ProgressFn>,
    /// Shown the engine's events; without one they go to stderr as `hivebt: ...`.
    events: Option<EventFn>,
    /// The rate-limit refill timer runs (from the first limit on, it keeps running).
    refill_armed: bool,
    /// The daemon's API and session, when this is the daemon.
    api: Option<ApiService>,
    /// SIGHUP's pipe, when this is the daemon (the configuration is reloaded).
    hangup: Option<UnixStream>,
    /// The DHT node(s), unless the DHT is off.
    dht: Option<dht::DhtIo>,
    lsd: Option<lsd::LsdIo>,
}

/// What the reactor hands the engine's events to.
pub type EventFn = Box<dyn FnMut(&EngineEvent)>;

/// What the reactor hands the engine's snapshot to, at the progress interval.
pub type ProgressFn = Box<dyn FnMut(&EngineSnapshot, Instant)>;

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
    Tracker(TorrentId),
    /// Tick the DHT nodes; start the torrents' lookups that are due.
    Dht,
}

fn setup_err(what: &str, e: io::Error) -> Error {
    Error::Failed(format!("{what}: {e}"))
}

impl Reactor {
    /// Binds the listeners, starts the workers and registers the torrents.
    pub fn new(config: EngineConfig, specs: Vec<TorrentSpec>) -> Result<Reactor> {
        Reactor::with_magnets(config, specs, Vec::new())
    }

    /// As [`Reactor::new`], with torrents known only by magnet link besides.
    pub fn with_magnets(
        config: EngineConfig,
        specs: Vec<TorrentSpec>,
        magnets: Vec<MagnetSpec>,
    ) -> Result<Reactor> {
        let poll = Poll::new().map_err(|e| setup_err("cannot create the poller", e))?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(|e| setup_err("waker", e))?);
        let pool = WorkerPool::new(
            config.workers,
            config.workers * config.limits.jobs_per_worker,
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
        for addr in &config.listen {
            let l = match socket::tcp_listener(*addr) {
                Ok(l) => l,
                // `[::]` beside another address on a host without IPv6: peers reach us
                // on the others.
                Err(e) if config.listen.len() > 1 && socket::no_ipv6(*addr, &e) => {
                    log::warn!("not listening on {addr}: this host has no IPv6 ({e})");
                    continue;
                }
                Err(e) => return Err(Error::Failed(format!("cannot listen on {addr}: {e}"))),
            };
            l.set_nonblocking(true)
                .map_err(|e| setup_err("listener", e))?;
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(
                    &mut l,
                    Token(LISTENER_BASE + listeners.len()),
                    Interest::READABLE,
                )
                .map_err(|e| setup_err("listener", e))?;
            listeners.push((l, Accepts::Peers));
        }

        let now = Instant::now();
        let mut config = config;
        let mut http_servers = http::HttpServers::default();
        let mut udp_endpoints = udp::UdpEndpoints::default();
        let mut tracker_server = None;
        if let Some(setup) = config.tracker_server.take() {
            for l in setup.http {
                l.set_nonblocking(true)
                    .map_err(|e| setup_err("tracker listener", e))?;
                let mut l = TcpListener::from_std(l);
                let token = Token(LISTENER_BASE + listeners.len());
                poll.registry()
                    .register(&mut l, token, Interest::READABLE)
                    .map_err(|e| setup_err("tracker listener", e))?;
                listeners.push((l, Accepts::Http(http::HttpService::Tracker)));
            }
            for u in setup.udp {
                u.set_nonblocking(true)
                    .map_err(|e| setup_err("tracker socket", e))?;
                let roles = udp::Roles {
                    tracker_server: true,
                    tracker_clients: false,
                    dht: false,
                    lsd: false,
                };
                udp_endpoints
                    .add(UdpSocket::from_std(u), roles, poll.registry())
                    .map_err(|e| setup_err("tracker socket", e))?;
            }
            http_servers.set_max_connections(setup.max_http_connections);
            let mut secret = [0u8; 16];
            secret[..8].copy_from_slice(&rng::os_u64().to_le_bytes());
            secret[8..].copy_from_slice(&rng::os_u64().to_le_bytes());
            let seed = rng::os_u64();
            tracker_server = Some(TrackerService::new(setup.config, seed, secret, now));
        }
        // A service adds torrents (with trackers) at any time.
        let any_trackers = config.service
            || !config.extra_trackers.is_empty()
            || specs.iter().any(|s| !s.meta.tracker_tiers().is_empty())
            || magnets.iter().any(|m| !m.link.trackers.is_empty());
        if any_trackers {
            for ipv6 in [false, true] {
                let Some(u) = trackers::client_socket(ipv6) else {
                    continue;
                };
                let roles = udp::Roles {
                    tracker_server: false,
                    tracker_clients: true,
                    dht: false,
                    lsd: false,
                };
                udp_endpoints
                    .add(u, roles, poll.registry())
                    .map_err(|e| setup_err("tracker client socket", e))?;
            }
        }
        let peer_id = PeerId::generate();
        let listen_port = listeners
            .iter()
            .find(|(_, a)| *a == Accepts::Peers)
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port());
        let announce_listen = config.announce_listen;
        let dht = match config.dht.clone() {
            Some(setup) => {
                let peer_addrs: Vec<SocketAddr> = listeners
                    .iter()
                    .filter(|(_, a)| *a == Accepts::Peers)
                    .filter_map(|(l, _)| l.local_addr().ok())
                    .collect();
                dht::DhtIo::new(
                    setup,
                    &peer_addrs,
                    listen_port,
                    &mut udp_endpoints,
                    poll.registry(),
                    now,
                )
                .map_err(Error::Failed)?
            }
            None => None,
        };
        let lsd = if config.lsd {
            let peer_addrs: Vec<SocketAddr> = listeners
                .iter()
                .filter(|(_, a)| *a == Accepts::Peers)
                .filter_map(|(l, _)| l.local_addr().ok())
                .collect();
            lsd::LsdIo::new(&peer_addrs, &mut udp_endpoints, poll.registry(), now)
        } else {
            None
        };
        let mut seeds = Rng::from_os();
        let random = move || seeds.next_u64();
        let mut engine = Engine::new(config, specs, peer_id, listen_port, random, now)?;
        for m in magnets {
            let hash = m.link.info_hash;
            if let Err(e) = engine.add_magnet(m, now) {
                return Err(Error::BadInput(format!("{hash}: {e}")));
            }
        }
        let mut reactor = Reactor {
            poll,
            listeners,
            signals,
            socks: Vec::new(),
            pool,
            busy: Vec::new(),
            timers: Timers::new(),
            waker,
            resolver: None,
            tracker_server,
            udp: udp_endpoints,
            http: http_servers,
            http_fetches: Slab::new(),
            tracker_io: Default::default(),
            listening_unannounced: announce_listen,
            progress: None,
            events: None,
            refill_armed: false,
            api: None,
            hangup: None,
            dht,
            lsd,
            engine,
        };
        reactor.announce_listening();
        if announce_listen {
            for a in reactor.addrs_of(Accepts::Http(http::HttpService::Tracker)) {
                println!("tracker http on {a}");
            }
            for a in reactor.udp.server_addrs() {
                println!("tracker udp on {a}");
            }
            for a in reactor.dht.iter().flat_map(|d| d.local_addrs()) {
                println!("dht on {a}");
            }
        }
        reactor.timers.schedule(now, Tick::Second);
        reactor.timers.schedule(
            now + reactor.engine.config.limits.rechoke_interval,
            Tick::Rechoke,
        );
        let resume_at = now + reactor.engine.config.limits.resume_interval;
        reactor.timers.schedule(resume_at, Tick::Resume);
        reactor.timers.schedule(now, Tick::Progress);
        if reactor.engine.has_limits() {
            reactor.timers.schedule(now + REFILL_INTERVAL, Tick::Refill);
            reactor.refill_armed = true;
        }
        let ids: Vec<TorrentId> = reactor.engine.torrents.iter().map(|(_, t)| t.id).collect();
        for id in ids {
            reactor.arm_tracker(id, now);
        }
        reactor.start_dht(now);
        Ok(reactor)
    }

    /// Prints `listening on ADDR` for each peer listener once no torrent is checking.
    fn announce_listening(&mut self) {
        if !self.listening_unannounced || !self.engine.all_checked() {
            return;
        }
        self.listening_unannounced = false;
        for bound in self.listen_addrs() {
            println!("listening on {bound}");
        }
    }

    /// Serves the daemon's API on `listeners` (already bound), at most
    /// `max_connections` HTTP connections open at once.
    pub fn serve_api(
        &mut self,
        listeners: Vec<std::net::TcpListener>,
        service: ApiService,
        max_connections: usize,
    ) -> Result<()> {
        for l in listeners {
            l.set_nonblocking(true)
                .map_err(|e| setup_err("API listener", e))?;
            let mut l = TcpListener::from_std(l);
            let token = Token(LISTENER_BASE + self.listeners.len());
            self.poll
                .registry()
                .register(&mut l, token, Interest::READABLE)
                .map_err(|e| setup_err("API listener", e))?;
            self.listeners
                .push((l, Accepts::Http(http::HttpService::Api)));
        }
        self.http.set_max_connections(max_connections);
        self.api = Some(service);
        let (read, write) =
            StdUnixStream::pair().map_err(|e| setup_err("cannot create the SIGHUP pipe", e))?;
        for end in [&read, &write] {
            end.set_nonblocking(true)
                .map_err(|e| setup_err("SIGHUP pipe", e))?;
        }
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGHUP, write)
            .map_err(|e| setup_err("cannot install the SIGHUP handler", e))?;
        let mut read = UnixStream::from_std(read);
        self.poll
            .registry()
            .register(&mut read, HANGUP, Interest::READABLE)
            .map_err(|e| setup_err("SIGHUP pipe", e))?;
        self.hangup = Some(read);
        Ok(())
    }

    /// Local addresses the API listens on.
    pub fn api_addrs(&self) -> Vec<SocketAddr> {
        self.addrs_of(Accepts::Http(http::HttpService::Api))
    }

    /// Hands `show` every event of the engine instead of printing it.
    pub fn on_event(&mut self, show: EventFn) {
        self.events = Some(show);
    }

    /// Hands `show` the engine's snapshot at every progress interval.
    pub fn on_progress(&mut self, show: ProgressFn) {
        self.progress = Some(show);
    }

    /// Local addresses the peer listeners are bound to.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.addrs_of(Accepts::Peers)
    }

    /// Local addresses of the listeners accepting `what`.
    fn addrs_of(&self, what: Accepts) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(_, a)| *a == what)
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Runs until a signal, or until every torrent is complete when
    /// `exit_when_complete`; flushes pending writes and resume records before returning.
    pub fn run(mut self) -> Result<Vec<TorrentSummary>> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let timeout = match self.timers.next_deadline() {
                _ if !self.busy.is_empty() || self.engine.has_dirty() => Duration::ZERO,
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
                    HANGUP => self.on_hangup(),
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
                    Token(t) => self.on_accept(t - LISTENER_BASE, now),
                }
            }
            for ck in std::mem::take(&mut self.busy) {
                if let Some(key) = self.engine.live(ck) {
                    self.on_readable(key, now);
                }
            }
            while let Some(tick) = self.timers.pop_due(now) {
                self.on_tick(tick, now);
            }
            if let Some(server) = self.tracker_server.as_mut() {
                // Expiry runs in bounded steps, one per turn while a pass is under way.
                server.handle_timeout(now);
            }
            self.apply_engine_output(now);
            self.engine.reap_closed();
            self.drop_freed();
            self.reap_http();
            if let Some(stats) = self.engine.stats.as_deref_mut() {
                stats.record(Metric::ReactorLoop, now.elapsed());
            }
            if self.finished() {
                break;
            }
        }
        self.finish_run()
    }

    /// True when the run should end (see [`Engine::finished`]), and no session write
    /// of the API is under way.
    fn finished(&self) -> bool {
        self.engine.finished(Instant::now()) && self.api.as_ref().is_none_or(|a| !a.writing())
    }

    fn finish_run(mut self) -> Result<Vec<TorrentSummary>> {
        if let Some(api) = self.api.as_mut() {
            api.save_all(&self.engine);
        }
        self.save_dht_now();
        let summaries = self.engine.finish();
        self.drop_freed();
        if self.udp.dropped() > 0 {
            log::warn!(
                "{} UDP datagrams dropped at the send queue's bound",
                self.udp.dropped()
            );
        }
        Ok(summaries)
    }

    fn on_signal(&mut self, now: Instant) {
        let mut buf = [0u8; 64];
        while let Ok(n) = io::Read::read(&mut self.signals, &mut buf) {
            if n == 0 {
                break;
            }
        }
        if !self.engine.shutting_down {
            eprintln!("hivebt: stopping (flushing data and resume records)");
        }
        self.begin_shutdown(now);
    }

    /// SIGHUP: the daemon reads its configuration again.
    fn on_hangup(&mut self) {
        let mut buf = [0u8; 64];
        if let Some(pipe) = self.hangup.as_mut() {
            while let Ok(n) = io::Read::read(pipe, &mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
        if let Some(api) = self.api.as_mut() {
            api.on_reload(&mut self.engine);
        }
    }

    /// Stops taking new work and tells the trackers we leave; the loop ends once
    /// pending writes finish and the `stopped` announces are answered or time out.
    fn begin_shutdown(&mut self, now: Instant) {
        if let Some(api) = self.api.as_mut() {
            api.on_shutdown();
        }
        for id in self.engine.begin_shutdown(now) {
            self.pump_tracker(id, now);
        }
    }

    /// Accepts connections on listener `index` until `WouldBlock`, handing each to the
    /// engine (a peer) or the HTTP server (with the listener's service).
    fn on_accept(&mut self, index: usize, now: Instant) {
        loop {
            let Some((listener, accepts)) = self.listeners.get(index) else {
                return;
            };
            let accepts = *accepts;
            let Some((stream, addr)) = try_accept(listener) else {
                return;
            };
            match accepts {
                Accepts::Peers => self.take_peer(stream, addr, now),
                Accepts::Http(service) => self.take_http(stream, addr, service, now),
            }
        }
    }

    /// An accepted peer connection: the engine admits it (perhaps evicting another)
    /// or it is dropped.
    fn take_peer(&mut self, stream: TcpStream, addr: SocketAddr, now: Instant) {
        let admitted = self.engine.admit(addr, now);
        // An eviction freed a slot the new connection may take: drop its socket first.
        self.drop_freed();
        if admitted {
            let key = self.engine.add_conn(addr, false, None, now);
            self.insert_sock(key, stream, addr);
        }
    }

    /// Registers `stream` for the engine's connection `key`; if that fails the
    /// connection is closed.
    fn insert_sock(&mut self, key: usize, mut stream: TcpStream, addr: SocketAddr) -> bool {
        let _ = stream.set_nodelay(true);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(CONN_BASE + key), interest)
        {
            log::warn!("cannot register {addr}: {e}");
            // Closed like a failed socket, so a configured peer is retried with backoff.
            self.engine.close(key, CloseReason::SocketError);
            return false;
        }
        if self.socks.len() <= key {
            self.socks.resize_with(key + 1, || None);
        }
        self.socks[key] = Some(Sock {
            stream,
            read_pending: false,
            write_blocked: false,
        });
        true
    }

    /// Deregisters and drops the sockets of the connections the engine freed.
    fn drop_freed(&mut self) {
        for key in self.engine.take_freed() {
            if let Some(mut sock) = self.socks.get_mut(key).and_then(Option::take) {
                let _ = self.poll.registry().deregister(&mut sock.stream);
            }
        }
    }

    /// Carries out what the engine asked for this turn: dials, writes, jobs for the
    /// pool and a shutdown.
    fn apply_engine_output(&mut self, now: Instant) {
        for dial in self.engine.take_dials() {
            match TcpStream::connect(dial.addr) {
                Ok(stream) => {
                    self.insert_sock(dial.key, stream, dial.addr);
                }
                Err(e) => {
                    log::debug!("connect to {} failed: {e}", dial.addr);
                    self.engine.close(dial.key, CloseReason::ConnectFailed);
                }
            }
        }
        while let Some((tag, output)) = self.engine.take_task_done() {
            if tag == dht::SAVE_TAG {
                if let Ok(Err(e)) = output
                    .downcast::<std::result::Result<(), String>>()
                    .map(|r| *r)
                {
                    log::warn!("{e}");
                }
            } else if let Some(api) = self.api.as_mut() {
                api.on_task_done(&mut self.engine, tag, output, now);
            }
        }
        self.pump_api(now);
        // Once each: a write that refills the queue asks again, for the next turn.
        for key in self.engine.take_dirty() {
            self.flush(key, now);
        }
        while let Some(job) = self.engine.next_job() {
            if let Err(job) = self.pool.try_submit(job) {
                self.engine.unsubmit(job);
                break;
            }
        }
        for id in self.engine.take_removed() {
            self.forget_tracker(id);
        }
        for id in self.engine.take_tracker_changes() {
            self.arm_tracker(id, now);
        }
        while let Some(event) = self.engine.poll_event() {
            match self.events.as_mut() {
                Some(show) => show(&event),
                None => eprintln!("hivebt: {event}"),
            }
        }
        if self.engine.take_limits_changed() && self.engine.has_limits() && !self.refill_armed {
            self.timers.schedule(now + REFILL_INTERVAL, Tick::Refill);
            self.refill_armed = true;
        }
        self.announce_listening();
        if self.engine.take_shutdown_wanted() {
            self.begin_shutdown(now);
        }
    }

    fn on_writable(&mut self, key: usize, now: Instant) {
        let (Some(Some(sock)), Some(conn)) = (self.socks.get_mut(key), self.engine.conns.get(key))
        else {
            return;
        };
        if let ConnState::Connecting = conn.state {
            let failed =
                !matches!(sock.stream.take_error(), Ok(None)) || sock.stream.peer_addr().is_err();
            if failed {
                return self.engine.close(key, CloseReason::ConnectFailed);
            }
            self.engine.on_connected(key, now);
        }
        self.flush(key, now);
    }

    /// Writes what is queued; closes on error. The engine refills uploads when the
    /// queue drains.
    fn flush(&mut self, key: usize, now: Instant) {
        let (Some(Some(sock)), Some(conn)) =
            (self.socks.get_mut(key), self.engine.conns.get_mut(key))
        else {
            return;
        };
        if matches!(conn.state, ConnState::Connecting) {
            return;
        }
        // Whatever the engine asked to be written goes now.
        conn.write_wanted = false;
        match conn.send.write_to(&mut sock.stream) {
            Ok(n) => {
                sock.write_blocked = conn.send.queued() > 0;
                self.engine.on_written(key, n, now);
            }
            Err(_) => self.engine.close(key, CloseReason::SocketError),
        }
    }

    fn on_readable(&mut self, key: usize, now: Instant) {
        let (Some(Some(sock)), Some(conn)) =
            (self.socks.get_mut(key), self.engine.conns.get_mut(key))
        else {
            return;
        };
        if matches!(conn.state, ConnState::Connecting | ConnState::Closing(_)) {
            return;
        }
        let max = conn.max_frame as usize + 4;
        let pass =
            match conn
                .recv
                .read_from(&mut sock.stream, self.engine.config.limits.read_budget, max)
            {
                Ok(p) => p,
                Err(_) => return self.engine.close(key, CloseReason::SocketError),
            };
        sock.read_pending = !pass.drained && !pass.eof;
        let (pending, id) = (sock.read_pending, conn.id);
        self.engine.on_input(key, pass, now);
        if pending && !self.busy.contains(&id) {
            self.busy.push(id);
        }
        self.flush(key, now);
    }

    /// The per-second sweep: the engine's, idle buffers given back, then the trackers'
    /// and the HTTP connections'.
    fn second_tick(&mut self, now: Instant) {
        self.engine.second_tick(now);
        if let Some(api) = self.api.as_mut() {
            api.on_second(&mut self.engine, now);
        }
        for (key, conn) in self.engine.conns.iter_mut() {
            // An idle connection gives its buffers back; a busy reader keeps its own.
            let reading = self
                .socks
                .get(key)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.read_pending);
            if !reading {
                conn.recv.release_if_empty();
            }
            conn.send.release_if_empty();
        }
        self.expire_http_conns(now);
        self.expire_fetches(now);
    }

    fn on_tick(&mut self, tick: Tick, now: Instant) {
        let again = match tick {
            Tick::Second => {
                self.second_tick(now);
                self.lsd_second(now);
                Duration::from_secs(1)
            }
            Tick::Rechoke => {
                self.engine.rechoke_all(now);
                self.engine.config.limits.rechoke_interval
            }
            Tick::Resume => {
                self.engine.save_resume(false);
                self.engine.config.limits.resume_interval
            }
            Tick::Progress => {
                if let Some(show) = self.progress.as_mut() {
                    show(&self.engine.snapshot(), now);
                }
                crate::progress::transfer_interval()
            }
            Tick::Refill => {
                self.engine.refill_limits(now);
                REFILL_INTERVAL
            }
            Tick::Tracker(key) => return self.on_tracker_timer(key, now),
            Tick::Dht => return self.on_dht_tick(now),
        };
        self.timers.schedule(now + again, tick);
    }

    /// Hands worker completions to the engine.
    fn on_completions(&mut self, now: Instant) -> Result<()> {
        let done = self
            .pool
            .drain()
            .map_err(|_| Error::Failed("worker threads stopped unexpectedly".into()))?;
        for (c, timing) in done {
            self.engine.on_completion(c, timing, now);
        }
        Ok(())
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
