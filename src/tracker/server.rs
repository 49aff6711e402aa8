//! The tracker's decision core, shared by the HTTP (BEP 3, BEP 23, BEP 7, BEP 48) and
//! UDP (BEP 15) front ends: who is in which swarm, what an announce or a
//! scrape answers, when silent peers expire, and the counters behind `/stats` and
//! `/metrics`. [`ConnectionIds`] makes the stateless UDP connection ids, and
//! [`TrackerService`] wraps the core in its two front ends (BEP 15 datagrams and HTTP
//! routing) as sans-io translators.
//!
//! Owns every swarm. Depends on `types`, `config`, `json`, `siphash` and the announce
//! model in [`crate::tracker`]; the front ends also on the `wire` codecs. No I/O and no clock: `now` is an argument, and random
//! samples come from a generator seeded by the caller.
//!
//! # Announce rules
//!
//! - A peer is keyed by its address, IP and port, as opentracker keys it: the IP is the request's source (the TCP connection or the UDP
//!   datagram), or the claimed `ip` only when [`TrackerConfig::trust_claimed_ip`] is
//!   set; the port is the request's `port`. So a client can only ever change the entry
//!   of its own address, and one that restarts with a new peer id replaces its old
//!   entry. IPv4-mapped IPv6 sources are stored as IPv4. IPv4 and IPv6 peers share one
//!   swarm and answers mix them; the codecs split them by family (so a front end that
//!   can carry only one family, like a BEP 15 answer over IPv4, may send fewer than
//!   asked for).
//! - `port` 0 is refused ([`Refusal::InvalidPort`]): nobody could connect to it.
//! - `stopped` unlists the peer and answers no peers.
//! - `completed` counts one download, once per listed peer (a peer that is not listed
//!   cannot be told from a repeat, so it is not counted).
//! - A seeder (`left` 0) is sent only leechers; a leecher is sent both.
//! - The answer is a uniform random sample, in random order, of up to `numwant` other
//!   listed peers (the tracker's [`TrackerConfig::default_numwant`] if absent, never
//!   more than [`TrackerConfig::max_numwant`]), never the requester, drawn in
//!   O(`numwant`) whatever the swarm's size.
//! - Answers carry `interval`, `min interval` and the swarm's complete, incomplete and
//!   downloaded counts after the announce.
//!
//! # Limits
//!
//! - [`TrackerConfig::allow`]: an announce for an info-hash outside the list is refused
//!   ([`Refusal::NotAllowed`]); a scrape of one reports zeros.
//! - [`TrackerConfig::max_torrents`]: an announce that would create a swarm beyond it
//!   is refused ([`Refusal::TooManyTorrents`]); swarms already held keep working, and a
//!   `stopped` for an unknown torrent is answered.
//! - [`TrackerConfig::max_peers_per_torrent`] and [`TrackerConfig::max_peers`] (all
//!   swarms together): a new peer beyond either is not listed but is still answered,
//!   with peers and a warning message, so it can join the swarm through them. Peers
//!   already listed keep re-announcing as usual.
//! - A scrape answers at most [`TrackerConfig::max_scrape`] torrents.
//!
//! # Expiry
//!
//! A peer that has not announced for longer than [`TrackerConfig::peer_timeout`] is
//! dropped by [`TrackerServer::expire`]. Expiry runs in sweeps over all swarms, one
//! every [`TrackerConfig::sweep_interval`], and a sweep proceeds in steps that examine
//! at most [`TrackerConfig::expire_batch`] peers and swarms each, so a big tracker
//! never stalls the reactor: while a sweep is under way, [`TrackerServer::poll_timeout`]
//! is already due and the reactor takes one step per loop turn, between its I/O.
//! A peer is dropped at most one sweep interval plus one sweep late (two if announces
//! moved it inside its swarm during a sweep), and never early; until then it may still
//! be handed out. Announce times are kept in whole seconds since the tracker's first
//! announce (a `u32` in each packed peer entry, see `swarm`), and the timeout is
//! rounded up to whole seconds, which adds at most two seconds to that.
//! Swarms left without peers (by `stopped` or expiry) are removed by the sweep, which
//! also forgets their download counts.
//!
//! # Cost
//!
//! An announce is O(`numwant`) expected (the info-hash look-up, then a scan of at most
//! 32 packed entries or an index look-up in a large swarm, a few swaps, Floyd's
//! sampling); a scrape is O(hashes), at most `max_scrape`; an expiry step is
//! O(`expire_batch`). [`TrackerServer::memory_estimate`] and
//! [`TrackerServer::check_invariants`] walk every swarm.
//!
//! Memory: a listed IPv4 peer is a 30-byte entry (address, port, announce time and
//! `completed` mark, peer id), an IPv6 one 42 bytes; a swarm is a 72-byte struct in one
//! vector plus a 25-byte slot in the info-hash index; only a swarm with more than 32
//! peers of a family has a per-swarm index (4 bytes a slot). With 10 peers a swarm that
//! is about 45 bytes a peer, against opentracker's 62.
//!
//! # Invariants (checked by [`TrackerServer::check_invariants`])
//!
//! - the info-hash index maps exactly the swarms held, each to its position;
//! - each swarm keeps its own invariants (see `swarm`);
//! - the seeder and peer totals equal the sums over the swarms, and stay within
//!   `max_peers`;
//! - while any swarm is held, a sweep is under way or scheduled.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::{
    TRACKER_DEFAULT_NUMWANT, TRACKER_EXPIRE_BATCH, TRACKER_EXPIRE_SWEEP_SECS,
    TRACKER_INTERVAL_SECS, TRACKER_MAX_NUMWANT, TRACKER_MAX_PEERS, TRACKER_MAX_PEERS_PER_TORRENT,
    TRACKER_MAX_TORRENTS, TRACKER_MIN_INTERVAL_SECS, TRACKER_PEER_GRACE_SECS,
    TRACKER_PEER_TIMEOUT_SECS, TRACKER_SCRAPE_MAX,
};
use crate::json::Json;
use crate::tracker::{AnnounceRequest, AnnounceResponse, Event, ScrapeStats};
use crate::types::InfoHash;

mod conn_id;
mod front;
#[cfg(test)]
mod scale_tests;
mod stats;
mod swarm;
#[cfg(test)]
mod tests;

pub use conn_id::ConnectionIds;
pub use front::TrackerService;
pub use stats::{Counters, Gauges};

use crate::rng::Rng;
use swarm::{Cursor, Slot, Swarm, Tally, Tick};

/// How the tracker behaves; every default is a constant in `config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Regular re-announce interval told to clients ([`TRACKER_INTERVAL_SECS`]).
    pub interval: Duration,
    /// Shortest interval between announces told to clients
    /// ([`TRACKER_MIN_INTERVAL_SECS`]).
    pub min_interval: Duration,
    /// Silence after which a peer is dropped ([`TRACKER_PEER_TIMEOUT_SECS`]); see
    /// [`TrackerConfig::peer_timeout_for`] when changing `interval`.
    pub peer_timeout: Duration,
    /// Most swarms held ([`TRACKER_MAX_TORRENTS`]); beyond it new torrents are refused.
    pub max_torrents: usize,
    /// Most peers listed in one swarm ([`TRACKER_MAX_PEERS_PER_TORRENT`]); beyond it a
    /// new peer is answered but not listed.
    pub max_peers_per_torrent: usize,
    /// Most peers listed over all swarms ([`TRACKER_MAX_PEERS`]); beyond it a new peer
    /// is answered but not listed.
    pub max_peers: usize,
    /// Most peers in one answer ([`TRACKER_MAX_NUMWANT`]).
    pub max_numwant: u32,
    /// Peers in an answer when the client does not say ([`TRACKER_DEFAULT_NUMWANT`]).
    pub default_numwant: u32,
    /// Most torrents in one scrape answer ([`TRACKER_SCRAPE_MAX`]).
    pub max_scrape: usize,
    /// Time between the starts of expiry sweeps ([`TRACKER_EXPIRE_SWEEP_SECS`]).
    pub sweep_interval: Duration,
    /// Peers and swarms examined per expiry step ([`TRACKER_EXPIRE_BATCH`]).
    pub expire_batch: usize,
    /// The only info-hashes tracked, if set (`--allow`); `None` tracks any.
    pub allow: Option<HashSet<InfoHash>>,
    /// List peers at the `ip` they claim instead of the request's source address. Only
    /// for a tracker behind a proxy that passes the real address on; otherwise anyone
    /// could list a victim's address. Default off.
    pub trust_claimed_ip: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            interval: Duration::from_secs(TRACKER_INTERVAL_SECS),
            min_interval: Duration::from_secs(TRACKER_MIN_INTERVAL_SECS),
            peer_timeout: Duration::from_secs(TRACKER_PEER_TIMEOUT_SECS),
            max_torrents: TRACKER_MAX_TORRENTS,
            max_peers_per_torrent: TRACKER_MAX_PEERS_PER_TORRENT,
            max_peers: TRACKER_MAX_PEERS,
            max_numwant: TRACKER_MAX_NUMWANT,
            default_numwant: TRACKER_DEFAULT_NUMWANT,
            max_scrape: TRACKER_SCRAPE_MAX,
            sweep_interval: Duration::from_secs(TRACKER_EXPIRE_SWEEP_SECS),
            expire_batch: TRACKER_EXPIRE_BATCH,
            allow: None,
            trust_claimed_ip: false,
        }
    }
}

impl TrackerConfig {
    /// The peer timeout that goes with a re-announce `interval`: two intervals plus
    /// [`TRACKER_PEER_GRACE_SECS`], so one lost re-announce is forgiven and two are not.
    pub fn peer_timeout_for(interval: Duration) -> Duration {
        interval * 2 + Duration::from_secs(TRACKER_PEER_GRACE_SECS)
    }
}

/// The front end a request came through, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP announce and scrape (BEP 3, BEP 48).
    Http = 0,
    /// UDP tracker protocol (BEP 15).
    Udp = 1,
}

impl Protocol {
    /// Every protocol, in counter order.
    pub const ALL: [Protocol; 2] = [Protocol::Http, Protocol::Udp];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Udp => "udp",
        }
    }
}

/// Why an announce was refused. HTTP sends its [`Display`](fmt::Display) text as the
/// `failure reason`; UDP sends it in an error packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The info-hash is not in the allow-list.
    NotAllowed = 0,
    /// The torrent is new and the tracker holds its most swarms.
    TooManyTorrents = 1,
    /// The announce gave port 0.
    InvalidPort = 2,
}

impl Refusal {
    /// Every reason, in counter order.
    pub const ALL: [Refusal; 3] = [
        Refusal::NotAllowed,
        Refusal::TooManyTorrents,
        Refusal::InvalidPort,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not_allowed",
            Refusal::TooManyTorrents => "too_many_torrents",
            Refusal::InvalidPort => "invalid_port",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotAllowed => "torrent not tracked here",
            Refusal::TooManyTorrents => "tracker full: too many torrents",
            Refusal::InvalidPort => "invalid port: 0",
        })
    }
}

/// Why a new peer was answered but not listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NotListed {
    /// Its swarm holds `max_peers_per_torrent`.
    SwarmFull,
    /// The tracker holds `max_peers`.
    TrackerFull,
}

impl NotListed {
    fn warning(self) -> &'static str {
        match self {
            NotListed::SwarmFull => "swarm full: you get peers but are not listed",
            NotListed::TrackerFull => "tracker full: you get peers but are not listed",
        }
    }
}

/// An expiry sweep under way.
#[derive(Clone, Copy, Debug)]
struct Sweep {
    /// Position of the swarm being examined.
    swarm: usize,
    /// Where within it.
    within: Cursor,
    /// When the last step ran; the next one is due from then on.
    resume_at: Instant,
}

/// The tracker. See the module docs for its rules.
#[derive(Debug)]
pub struct TrackerServer {
    config: TrackerConfig,
    /// Every swarm held, densely; removal by `swap_remove`.
    swarms: Vec<Swarm>,
    /// Info-hash to position in `swarms`.
    index: HashMap<InfoHash, u32>,
    /// Peers listed over all swarms.
    peers: usize,
    /// Seeders listed over all swarms.
    seeders: usize,
    rng: Rng,
    /// Scratch for sampling, kept to save an allocation per announce.
    picked: HashSet<u32>,
    sweep: Option<Sweep>,
    /// When the next sweep starts; `None` while one is under way or nothing is held.
    next_sweep_at: Option<Instant>,
    /// Tick 0 of the peers' announce times: the first announce's `now`.
    epoch: Option<Instant>,
    counters: Counters,
}

impl TrackerServer {
    /// An empty tracker; `seed` drives the random samples.
    pub fn new(config: TrackerConfig, seed: u64) -> TrackerServer {
        TrackerServer {
            config,
            swarms: Vec::new(),
            index: HashMap::new(),
            peers: 0,
            seeders: 0,
            rng: Rng::new(seed),
            picked: HashSet::new(),
            sweep: None,
            next_sweep_at: None,
            epoch: None,
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Answers an announce that arrived over `protocol` from `from` (the connection's or
    /// datagram's source; its port is ignored, the request's `port` counts). See the
    /// module docs for the rules and limits.
    pub fn announce(
        &mut self,
        protocol: Protocol,
        from: SocketAddr,
        req: &AnnounceRequest,
        now: Instant,
    ) -> Result<AnnounceResponse, Refusal> {
        let result = self.try_announce(from, req, now);
        self.counters
            .count_announce(protocol, result.as_ref().err().copied());
        result
    }

    fn try_announce(
        &mut self,
        from: SocketAddr,
        req: &AnnounceRequest,
        now: Instant,
    ) -> Result<AnnounceResponse, Refusal> {
        if let Some(allow) = &self.config.allow {
            if !allow.contains(&req.info_hash) {
                return Err(Refusal::NotAllowed);
            }
        }
        if req.port == 0 {
            return Err(Refusal::InvalidPort);
        }
        let addr = SocketAddr::new(self.peer_ip(from, req), req.port);
        let found = self.index.get(&req.info_hash).map(|&i| i as usize);
        if req.event == Event::Stopped {
            if let Some(i) = found {
                if let Some(seeder) = self.swarms[i].remove(&addr) {
                    self.unlisted(seeder);
                }
                self.debug_check(i, &addr);
            }
            return Ok(self.answer(found, Vec::new(), None));
        }
        let i = match found {
            Some(i) => i,
            None if self.swarms.len() >= self.config.max_torrents => {
                return Err(Refusal::TooManyTorrents);
            }
            None => match self.room_for_peer(0) {
                Err(why) => return Ok(self.answer(None, Vec::new(), Some(why))),
                Ok(()) => self.add_swarm(req.info_hash),
            },
        };
        let listed = self.upsert(i, addr, req, now);
        let seeder = req.left == 0;
        let want = req
            .numwant
            .unwrap_or(self.config.default_numwant)
            .min(self.config.max_numwant) as usize;
        let mut peers = Vec::with_capacity(want.min(self.swarms[i].len()));
        self.swarms[i].sample(
            listed.ok(),
            seeder,
            want,
            &mut self.rng,
            &mut self.picked,
            &mut peers,
        );
        self.debug_check(i, &addr);
        Ok(self.answer(Some(i), peers, listed.err()))
    }

    /// The address a request's peer is listed under, without its port.
    fn peer_ip(&self, from: SocketAddr, req: &AnnounceRequest) -> IpAddr {
        let ip = match req.claimed_ip {
            Some(claimed) if self.config.trust_claimed_ip && !claimed.is_unspecified() => claimed,
            _ => from.ip(),
        };
        ip.to_canonical()
    }

    /// Whether a new peer may be listed in a swarm of `swarm_len` peers.
    fn room_for_peer(&mut self, swarm_len: usize) -> Result<(), NotListed> {
        let why = if swarm_len >= self.config.max_peers_per_torrent {
            NotListed::SwarmFull
        } else if self.peers >= self.config.max_peers {
            NotListed::TrackerFull
        } else {
            return Ok(());
        };
        match why {
            NotListed::SwarmFull => self.counters.not_stored_swarm_full += 1,
            NotListed::TrackerFull => self.counters.not_stored_tracker_full += 1,
        }
        Err(why)
    }

    fn add_swarm(&mut self, info_hash: InfoHash) -> usize {
        let i = self.swarms.len();
        self.swarms.push(Swarm::new(info_hash));
        self.index.insert(info_hash, i as u32);
        i
    }

    /// Lists or refreshes the announcing peer in swarm `i` and counts its `completed`;
    /// returns its slot, or why a new peer was not listed.
    fn upsert(
        &mut self,
        i: usize,
        addr: SocketAddr,
        req: &AnnounceRequest,
        now: Instant,
    ) -> Result<Slot, NotListed> {
        let seeder = req.left == 0;
        let seen = self.tick(now);
        let completed = req.event == Event::Completed;
        let (slot, first_completed) = match self.swarms[i].get(&addr) {
            Some(slot) => {
                let swarm = &mut self.swarms[i];
                let was_seeder = swarm.is_seeder(slot);
                let moved = swarm.set_seeder(slot, seeder);
                let first = swarm.refresh(moved, seen, req.peer_id, completed);
                if was_seeder != seeder {
                    if seeder {
                        self.seeders += 1;
                    } else {
                        self.seeders -= 1;
                    }
                }
                (moved, first)
            }
            None => {
                self.room_for_peer(self.swarms[i].len())?;
                self.peers += 1;
                self.seeders += usize::from(seeder);
                if self.sweep.is_none() && self.next_sweep_at.is_none() {
                    self.next_sweep_at = Some(now + self.config.sweep_interval);
                }
                let swarm = &mut self.swarms[i];
                let slot = swarm.insert(addr, req.peer_id, seen, seeder);
                (slot, swarm.refresh(slot, seen, req.peer_id, completed))
            }
        };
        if first_completed {
            let swarm = &mut self.swarms[i];
            swarm.downloaded = swarm.downloaded.saturating_add(1);
            self.counters.downloads += 1;
        }
        Ok(slot)
    }

    /// `now` as a [`Tick`]: whole seconds since the first announce (which sets the
    /// epoch), saturating at both ends.
    fn tick(&mut self, now: Instant) -> Tick {
        let epoch = *self.epoch.get_or_insert(now);
        let secs = now.saturating_duration_since(epoch).as_secs();
        Tick(u32::try_from(secs).unwrap_or(u32::MAX).min(Tick::MAX.0))
    }

    /// Books one peer (a seeder or not) as unlisted.
    fn unlisted(&mut self, seeder: bool) {
        self.peers -= 1;
        self.seeders -= usize::from(seeder);
    }

    fn answer(
        &self,
        swarm: Option<usize>,
        peers: Vec<crate::tracker::PeerEntry>,
        not_listed: Option<NotListed>,
    ) -> AnnounceResponse {
        let stats = swarm.map_or_else(ScrapeStats::default, |i| self.swarms[i].stats());
        AnnounceResponse {
            interval: secs_u32(self.config.interval),
            min_interval: Some(secs_u32(self.config.min_interval)),
            complete: Some(stats.complete),
            incomplete: Some(stats.incomplete),
            downloaded: Some(stats.downloaded),
            peers,
            warning: not_listed.map(|n| n.warning().to_owned()),
            tracker_id: None,
            external_ip: None,
        }
    }

    /// Answers a scrape over `protocol`: the counts of each info-hash asked for, in
    /// order (zeros for one not held), or of every swarm held when `hashes` is empty;
    /// either way at most [`TrackerConfig::max_scrape`] entries.
    pub fn scrape(
        &mut self,
        protocol: Protocol,
        hashes: &[InfoHash],
    ) -> Vec<(InfoHash, ScrapeStats)> {
        self.counters.count_scrape(protocol);
        let max = self.config.max_scrape;
        if hashes.is_empty() {
            return self
                .swarms
                .iter()
                .take(max)
                .map(|s| (s.info_hash, s.stats()))
                .collect();
        }
        hashes
            .iter()
            .take(max)
            .map(|h| {
                let stats = self
                    .index
                    .get(h)
                    .map_or_else(ScrapeStats::default, |&i| self.swarms[i as usize].stats());
                (*h, stats)
            })
            .collect()
    }

    /// One expiry step, if one is due (see [`TrackerServer::poll_timeout`]): starts a
    /// sweep when its time has come, or continues the one under way, examining at most
    /// [`TrackerConfig::expire_batch`] peers and swarms.
    pub fn expire(&mut self, now: Instant) {
        let mut sweep = match self.sweep.take() {
            Some(sweep) => sweep,
            None => match self.next_sweep_at {
                Some(at) if now >= at => Sweep {
                    swarm: 0,
                    within: Cursor::default(),
                    resume_at: now,
                },
                _ => return,
            },
        };
        self.next_sweep_at = None;
        let mut budget = self.config.expire_batch.max(1);
        let mut tally = Tally::default();
        let at = self.tick(now);
        // Whole seconds, rounded up: with ticks truncated to seconds, a peer is then
        // dropped only once more than `peer_timeout` has truly passed (at most two
        // seconds late).
        let timeout = self.config.peer_timeout.as_secs_f64().ceil();
        let timeout = u32::try_from(timeout as u64).unwrap_or(u32::MAX);
        while budget > 0 && sweep.swarm < self.swarms.len() {
            budget -= 1;
            let swarm = &mut self.swarms[sweep.swarm];
            if !swarm.expire_step(&mut sweep.within, at, timeout, &mut budget, &mut tally) {
                break;
            }
            if swarm.is_empty() {
                // The last swarm moves here and is examined next.
                self.remove_swarm(sweep.swarm);
            } else {
                sweep.swarm += 1;
            }
            sweep.within = Cursor::default();
        }
        let removed = tally.seeders + tally.leechers;
        self.peers -= removed;
        self.seeders -= tally.seeders;
        self.counters.expired += removed as u64;
        if sweep.swarm < self.swarms.len() {
            sweep.resume_at = now;
            self.sweep = Some(sweep);
        } else if !self.swarms.is_empty() {
            self.next_sweep_at = Some(now + self.config.sweep_interval);
        }
    }

    fn remove_swarm(&mut self, i: usize) {
        let gone = self.swarms.swap_remove(i);
        self.index.remove(&gone.info_hash);
        if let Some(moved) = self.swarms.get(i) {
            self.index.insert(moved.info_hash, i as u32);
        }
    }

    /// When [`TrackerServer::expire`] should run next: at once (a past instant) while a
    /// sweep is under way, else when the next sweep starts; `None` with nothing held.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sweep.map(|s| s.resume_at).or(self.next_sweep_at)
    }

    /// Swarms held (including ones emptied since the last sweep).
    pub fn torrent_count(&self) -> usize {
        self.swarms.len()
    }

    /// Peers listed over all swarms.
    pub fn peer_count(&self) -> usize {
        self.peers
    }

    /// Seeders listed over all swarms.
    pub fn seeder_count(&self) -> usize {
        self.seeders
    }

    /// The counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a UDP `connect` answered by the front end.
    pub fn count_udp_connect(&mut self) {
        self.counters.udp_connects += 1;
    }

    /// Counts a UDP request dropped for its connection id.
    pub fn count_bad_connection_id(&mut self) {
        self.counters.bad_connection_ids += 1;
    }

    /// Counts a request over `protocol` the front end could not parse.
    pub fn count_malformed(&mut self, protocol: Protocol) {
        self.counters.count_malformed(protocol);
    }

    /// Estimated bytes held by the tracker: its own struct, the swarm vector and index,
    /// and each swarm's peer vectors and index (hash tables estimated from their
    /// capacity), every allocation rounded as the allocator rounds it. Divided by
    /// [`TrackerServer::peer_count`] it gives the memory per listed peer. O(swarms).
    pub fn memory_estimate(&self) -> usize {
        size_of::<Self>()
            + swarm::alloc_bytes(self.swarms.capacity() * size_of::<Swarm>())
            + swarm::map_bytes(self.index.capacity(), size_of::<(InfoHash, u32)>())
            + swarm::map_bytes(self.picked.capacity(), size_of::<u32>())
            + self.swarms.iter().map(Swarm::heap_bytes).sum::<usize>()
    }

    /// The gauges now. O(swarms), for the memory estimate.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            torrents: self.swarms.len(),
            seeders: self.seeders,
            leechers: self.peers - self.seeders,
            memory_bytes: self.memory_estimate(),
        }
    }

    /// The `/stats` JSON object (keys documented in `stats`).
    pub fn stats_json(&self) -> Json {
        stats::json(&self.gauges(), &self.counters)
    }

    /// The `/metrics` text in Prometheus exposition format, every name prefixed
    /// `hivebt_tracker_`.
    pub fn metrics_text(&self) -> String {
        stats::metrics_text(&self.gauges(), &self.counters)
    }

    /// Cheap checks after each announce in debug builds: the touched peer and counts.
    fn debug_check(&self, i: usize, addr: &SocketAddr) {
        if cfg!(debug_assertions) {
            self.swarms[i].check_peer(addr);
            debug_assert!(self.seeders <= self.peers);
        }
    }

    /// Panics if an invariant in the module docs is broken. O(peers); for tests.
    pub fn check_invariants(&self) {
        assert_eq!(self.index.len(), self.swarms.len());
        let (mut peers, mut seeders) = (0, 0);
        for (i, s) in self.swarms.iter().enumerate() {
            assert_eq!(self.index.get(&s.info_hash), Some(&(i as u32)));
            s.check_invariants();
            let (sd, lc) = s.counts();
            seeders += sd;
            peers += sd + lc;
        }
        assert_eq!(peers, self.peers, "peer total");
        assert_eq!(seeders, self.seeders, "seeder total");
        assert!(peers <= self.config.max_peers);
        if let Some(sweep) = &self.sweep {
            assert!(self.next_sweep_at.is_none());
            assert!(sweep.swarm < self.swarms.len());
        }
        let scheduled = self.sweep.is_some() || self.next_sweep_at.is_some();
        assert!(
            self.swarms.is_empty() || scheduled,
            "swarms but no sweep due"
        );
    }
}

/// Whole seconds as the `u32` the wire carries, saturating.
fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
