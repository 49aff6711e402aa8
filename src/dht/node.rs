//! A DHT node, sans-io: it reads datagrams ([`Node::on_datagram`]), is ticked
//! ([`Node::on_tick`]), is asked to look up peers or announce ([`Node::get_peers`],
//! [`Node::bootstrap`]), and leaves datagrams to send ([`Node::poll_send`]) and events
//! ([`Node::poll_event`]) for its caller.
//!
//! Serving others (BEP 5): `ping`, `find_node`, `get_peers` and `announce_peer`
//! answered from the routing table and a bounded peer store (per info-hash and in
//! total, entries expire after [`PEER_TTL`]); `get_peers` tokens are a keyed hash of
//! the asker's address under a secret that rotates every [`SECRET_ROTATION`], the
//! previous one still accepted. Every answer carries the asker's address (`ip`,
//! BEP 42).
//!
//! Our id (BEP 42): random until our external address is known, from the `ip` of the
//! answers to our queries ([`bep42::ExternalIp`]) or from the owner
//! ([`Node::set_external_ip`], what a tracker saw). An id that is not valid for that
//! address is replaced by one that is, the routing table rebuilt around it and our
//! new neighbourhood looked up; the owner saves `table().own()` as usual. Never for an
//! exempt (local) address.
//!
//! Abuse is bounded: each source address (IP and port: one node) gets
//! [`QUERIES_PER_SECOND`] queries a second (a burst of [`QUERY_BURST`]); one that keeps
//! going over is blocked for [`BLOCK_FOR`]. The nodes behind one IP (a NAT, a seed-box
//! host, loopback) share a budget [`PER_IP_FACTOR`] times larger, which drops what is
//! over it but blocks nobody, so a flooder costs its neighbours nothing unless it
//! rotates ports to eat their common budget. The tables of addresses are bounded. An asker not in our routing
//! table gets at most [`UNVERIFIED_VALUES`] peers, so a spoofed source cannot turn a
//! small query into a large answer aimed at someone else. Answers are matched to our
//! queries by a random transaction id *and* the address queried; at most
//! [`MAX_IN_FLIGHT`] queries are outstanding.
//!
//! Lookups are iterative (Kademlia): [`ALPHA`] queries in flight, always to the
//! closest candidates not yet asked, done once the [`K`] closest live candidates have
//! all answered; a `get_peers` lookup reports peers as they come and may end by
//! announcing to the nodes that gave tokens. A query unanswered for [`SHORT_TIMEOUT`]
//! is *slow*: it gives up its place among the [`ALPHA`] and among the [`K`] closest
//! to the next candidate, and its answer still counts until [`QUERY_TIMEOUT`], when
//! it fails. So one silent node delays a lookup by the short timeout, not the full
//! one, and a query far behind the closest nodes found so far holds nothing up.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::bep42::{self, ExternalIp};
use super::table::{K, RoutingTable, distance};
use crate::rng::Rng;
use crate::siphash::siphash24;
use crate::types::InfoHash;
use crate::wire::krpc::{
    self, Body, Message, NodeId, NodeInfo, PROTOCOL_ERROR, Query, Response, Want,
};

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// An unanswered query counts as failed after this long.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// A lookup query unanswered this long is *slow*: still awaited until
/// [`QUERY_TIMEOUT`], but no longer one of the lookup's [`ALPHA`], so the next
/// candidate is asked in its place (libtorrent's short timeout).
pub const SHORT_TIMEOUT: Duration = Duration::from_secs(1);
/// Outstanding queries of the whole node.
pub const MAX_IN_FLIGHT: usize = 2048;
/// How often the token secret changes.
pub const SECRET_ROTATION: Duration = Duration::from_secs(5 * 60);
/// How long an announced peer is kept.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
/// Peers kept per info-hash.
pub const PEERS_PER_HASH: usize = 100;
/// Info-hashes the store holds.
pub const MAX_HASHES: usize = 10_000;
/// Peers in one `get_peers` answer.
pub const VALUES_PER_ANSWER: usize = 50;
/// Peers in an answer to a node not in our table.
pub const UNVERIFIED_VALUES: usize = 8;
/// Queries a second one address may send.
pub const QUERIES_PER_SECOND: f64 = 20.0;
/// Queries one address may send at once.
pub const QUERY_BURST: f64 = 50.0;
/// How many nodes' worth of queries the addresses of one IP may send together.
pub const PER_IP_FACTOR: f64 = 10.0;
/// How long an address that floods stays ignored.
pub const BLOCK_FOR: Duration = Duration::from_secs(5 * 60);
/// Addresses the rate limiter and the block list track.
const MAX_TRACKED: usize = 10_000;
/// Candidates a lookup keeps.
const MAX_CANDIDATES: usize = 64;
/// Peers a lookup remembers having reported.
const MAX_PEERS_SEEN: usize = 1000;
/// Questionable nodes pinged per tick.
const PINGS_PER_TICK: usize = 8;

/// What the caller is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhtEvent {
    /// A `get_peers` lookup found peers (each reported once per lookup).
    Peers {
        /// The lookup.
        lookup: u64,
        /// The torrent.
        info_hash: InfoHash,
        /// New peers.
        peers: Vec<SocketAddr>,
    },
    /// A lookup ended.
    Done {
        /// The lookup.
        lookup: u64,
        /// Queries it sent.
        queries: u32,
        /// Nodes that answered.
        answered: u32,
        /// Nodes announced to (for a lookup that announces).
        announced: u32,
    },
}

/// Counters for `--stats`, the API and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhtCounters {
    /// Queries answered.
    pub queries_answered: u64,
    /// Datagrams dropped by the rate limit or the block list.
    pub rate_limited: u64,
    /// Datagrams that were not KRPC we accept.
    pub malformed: u64,
    /// Answers that matched no query of ours (or came from the wrong address).
    pub unexpected: u64,
    /// Our queries that went unanswered.
    pub timeouts: u64,
    /// Peers stored from `announce_peer`.
    pub announces_stored: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Ping,
    Lookup(u64),
    Announce,
}

#[derive(Debug, Clone)]
struct Outstanding {
    addr: SocketAddr,
    sent_at: Instant,
    purpose: Purpose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CandidateState {
    /// Not asked yet.
    Fresh,
    /// Asked at `sent_at`, less than [`SHORT_TIMEOUT`] ago: one of the [`ALPHA`] in
    /// flight.
    Asked { sent_at: Instant },
    /// Asked, unanswered past [`SHORT_TIMEOUT`]: its answer is still taken until
    /// [`QUERY_TIMEOUT`], but it holds no place among the [`ALPHA`] in flight nor
    /// among the [`K`] closest the lookup waits for.
    Slow,
    /// Answered, with the token it gave (`get_peers`).
    Answered(Option<Vec<u8>>),
    /// Unanswered after [`QUERY_TIMEOUT`], answered with an error, or never sent.
    Failed,
}

impl CandidateState {
    /// Whether a query to it is out (asked or slow).
    fn waited_on(&self) -> bool {
        matches!(self, CandidateState::Asked { .. } | CandidateState::Slow)
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    /// Unknown for a bootstrap address until it answers.
    id: Option<NodeId>,
    addr: SocketAddr,
    state: CandidateState,
}

#[derive(Debug, Clone)]
struct Lookup {
    target: NodeId,
    /// `Some` for `get_peers`; with the port to announce, if announcing.
    peers_of: Option<(InfoHash, Option<u16>)>,
    candidates: Vec<Candidate>,
    peers_seen: HashSet<SocketAddr>,
    queries: u32,
    answered: u32,
}

impl Lookup {
    fn sort(&mut self) {
        let target = self.target;
        // Unknown ids (bootstrap addresses) sort last.
        self.candidates
            .sort_by_key(|c| c.id.map_or([0xff; 20], |id| distance(&id, &target)));
    }

    fn add(&mut self, id: Option<NodeId>, addr: SocketAddr) {
        if self.candidates.iter().any(|c| c.addr == addr) {
            return;
        }
        self.candidates.push(Candidate {
            id,
            addr,
            state: CandidateState::Fresh,
        });
        self.sort();
        // Drop the farthest that are not waited on.
        while self.candidates.len() > MAX_CANDIDATES {
            match self.candidates.iter().rposition(|c| !c.state.waited_on()) {
                Some(i) => {
                    self.candidates.remove(i);
                }
                None => break,
            }
        }
    }
}

/// How a node behaves; the defaults suit a node on the internet.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// One routing-table entry per IP address (off for loopback tests).
    pub one_per_ip: bool,
    /// `v` in our messages: client and version.
    pub version: Vec<u8>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            one_per_ip: true,
            version: b"HB\x00\x01".to_vec(),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct Node {
    table: RoutingTable,
    config: NodeConfig,
    rng: Rng,
    secrets: [[u8; 16]; 2],
    secret_at: Instant,
    store: HashMap<InfoHash, Vec<(SocketAddr, Instant)>>,
    outstanding: HashMap<Vec<u8>, Outstanding>,
    lookups: HashMap<u64, Lookup>,
    next_lookup: u64,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<DhtEvent>,
    /// Per source address: tokens left and when they were counted.
    allowance: HashMap<SocketAddr, (f64, Instant)>,
    /// The same per IP, for all its addresses together.
    ip_allowance: HashMap<IpAddr, (f64, Instant)>,
    blocked: HashMap<SocketAddr, Instant>,
    counters: DhtCounters,
    external: ExternalIp,
}

impl Node {
    /// A node with id `own`; `seed` drives its transaction ids (the caller seeds it
    /// from the operating system, tests with a constant).
    pub fn new(own: NodeId, config: NodeConfig, seed: u64, now: Instant) -> Node {
        let rng = Rng::new(seed);
        let secrets = [secret(), secret()];
        Node {
            table: RoutingTable::new(own, config.one_per_ip, now),
            config,
            rng,
            secrets,
            secret_at: now,
            store: HashMap::new(),
            outstanding: HashMap::new(),
            lookups: HashMap::new(),
            next_lookup: 1,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            allowance: HashMap::new(),
            ip_allowance: HashMap::new(),
            blocked: HashMap::new(),
            counters: DhtCounters::default(),
            external: ExternalIp::default(),
        }
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// The counters.
    pub fn counters(&self) -> DhtCounters {
        self.counters
    }

    /// Our external address, once the answers' votes or the owner told it.
    pub fn external_ip(&self) -> Option<IpAddr> {
        self.external.current()
    }

    /// Someone outside the DHT (a tracker) saw us at `ip` (of this node's family).
    /// Taken until the DHT's own votes decide; may give us a new id (BEP 42).
    pub fn set_external_ip(&mut self, ip: IpAddr, now: Instant) {
        if let Some(ip) = self.external.on_told(ip) {
            self.on_external_ip(ip, now);
        }
    }

    /// Our external address is `ip` now: a BEP 42 id for it, unless ours is valid.
    fn on_external_ip(&mut self, ip: IpAddr, now: Instant) {
        if bep42::acceptable(&self.table.own(), ip) {
            return;
        }
        let mut random = [0u8; 20];
        for chunk in random.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_be_bytes()[..chunk.len()]);
        }
        let own = bep42::node_id(ip, random[19], random);
        self.table = self.table.rebuilt_around(own, now);
        if !self.table.is_empty() {
            self.find_node(own, now);
        }
    }

    /// Lookups under way.
    pub fn lookups_running(&self) -> usize {
        self.lookups.len()
    }

    /// The next datagram to send.
    pub fn poll_send(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DhtEvent> {
        self.events.pop_front()
    }

    /// Joins the DHT through `addrs` (configured routers, saved nodes): a lookup of
    /// our own id, which fills the table with the nodes near us.
    pub fn bootstrap(&mut self, addrs: &[SocketAddr], now: Instant) -> u64 {
        let own = self.table.own();
        self.start(own, None, addrs, now)
    }

    /// Looks up peers of `info_hash`; with `announce_port`, announces us to the
    /// closest nodes at the end (`0`: the port our datagrams come from, BEP 5's
    /// `implied_port`).
    pub fn get_peers(
        &mut self,
        info_hash: InfoHash,
        announce_port: Option<u16>,
        now: Instant,
    ) -> u64 {
        self.start(
            NodeId(info_hash.0),
            Some((info_hash, announce_port)),
            &[],
            now,
        )
    }

    /// Looks up the nodes closest to `target` (a bucket refresh).
    pub fn find_node(&mut self, target: NodeId, now: Instant) -> u64 {
        self.start(target, None, &[], now)
    }

    fn start(
        &mut self,
        target: NodeId,
        peers_of: Option<(InfoHash, Option<u16>)>,
        seeds: &[SocketAddr],
        now: Instant,
    ) -> u64 {
        let id = self.next_lookup;
        self.next_lookup += 1;
        let mut lookup = Lookup {
            target,
            peers_of,
            candidates: Vec::new(),
            peers_seen: HashSet::new(),
            queries: 0,
            answered: 0,
        };
        for n in self.table.closest(&target, MAX_CANDIDATES / 2) {
            lookup.add(Some(n.id), n.addr);
        }
        for &a in seeds {
            lookup.add(None, a);
        }
        self.lookups.insert(id, lookup);
        self.step(id, now);
        id
    }

    /// Sends the lookup's next queries, or ends it.
    ///
    /// The lookup works on its *window*: the [`K`] closest candidates that have not
    /// failed and are not slow. Fresh ones in it are asked while fewer than [`ALPHA`]
    /// queries are within [`SHORT_TIMEOUT`]; it is done once every candidate in the
    /// window has answered, as soon as the window is [`K`] strong, else (too few
    /// nodes) once no slow query is left to wait for.
    fn step(&mut self, id: u64, now: Instant) {
        let Some(lookup) = self.lookups.get(&id) else {
            return;
        };
        let window: Vec<usize> = (0..lookup.candidates.len())
            .filter(|&i| {
                !matches!(
                    lookup.candidates[i].state,
                    CandidateState::Failed | CandidateState::Slow
                )
            })
            .take(K)
            .collect();
        let in_flight = lookup
            .candidates
            .iter()
            .filter(|c| matches!(c.state, CandidateState::Asked { .. }))
            .count();
        let fresh: Vec<usize> = window
            .iter()
            .copied()
            .filter(|&i| lookup.candidates[i].state == CandidateState::Fresh)
            .take(ALPHA.saturating_sub(in_flight))
            .collect();
        let settled = window
            .iter()
            .all(|&i| matches!(lookup.candidates[i].state, CandidateState::Answered(_)));
        let slow = lookup
            .candidates
            .iter()
            .any(|c| c.state == CandidateState::Slow);
        if settled && (window.len() == K || !slow) {
            return self.finish(id, now);
        }
        let (target, peers_of) = (lookup.target, lookup.peers_of);
        for i in fresh {
            let addr = self.lookups[&id].candidates[i].addr;
            let query = match peers_of {
                Some((info_hash, _)) => Query::GetPeers {
                    info_hash,
                    want: Want::default(),
                },
                None => Query::FindNode {
                    target,
                    want: Want::default(),
                },
            };
            let sent = self.send_query(addr, query, Purpose::Lookup(id), now);
            let lookup = self.lookups.get_mut(&id).expect("lookup being stepped");
            lookup.candidates[i].state = if sent {
                lookup.queries += 1;
                CandidateState::Asked { sent_at: now }
            } else {
                CandidateState::Failed
            };
        }
    }

    fn finish(&mut self, id: u64, now: Instant) {
        let Some(lookup) = self.lookups.remove(&id) else {
            return;
        };
        let mut announced = 0;
        if let Some((info_hash, Some(port))) = lookup.peers_of {
            let closest = lookup
                .candidates
                .iter()
                .filter(|c| c.state != CandidateState::Failed)
                .take(K);
            for c in closest {
                if let CandidateState::Answered(Some(token)) = &c.state {
                    let q = Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port: port == 0,
                        token: token.clone(),
                    };
                    if self.send_query(c.addr, q, Purpose::Announce, now) {
                        announced += 1;
                    }
                }
            }
        }
        self.events.push_back(DhtEvent::Done {
            lookup: id,
            queries: lookup.queries,
            answered: lookup.answered,
            announced,
        });
    }

    fn send_query(
        &mut self,
        addr: SocketAddr,
        query: Query,
        purpose: Purpose,
        now: Instant,
    ) -> bool {
        if self.outstanding.len() >= MAX_IN_FLIGHT {
            return false;
        }
        let tid = loop {
            let t = (self.rng.next_u64() as u32).to_be_bytes().to_vec();
            if !self.outstanding.contains_key(&t) {
                break t;
            }
        };
        let m = Message {
            tid: tid.clone(),
            body: Body::Query {
                id: self.table.own(),
                query,
                read_only: false,
            },
            ip: None,
            version: Some(self.config.version.clone()),
        };
        self.outbox.push_back((addr, m.encode()));
        self.outstanding.insert(
            tid,
            Outstanding {
                addr,
                sent_at: now,
                purpose,
            },
        );
        true
    }

    /// A datagram from `from`.
    pub fn on_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        let m = match krpc::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                if e.query && self.allowed(from, now) {
                    if let Some(tid) = e.tid {
                        self.reply_error(from, tid, PROTOCOL_ERROR, "malformed query");
                    }
                }
                return;
            }
        };
        match m.body {
            Body::Query {
                id,
                query,
                read_only: _,
            } => {
                if self.allowed(from, now) {
                    self.answer(from, m.tid, id, query, now);
                }
            }
            Body::Response(r) => self.on_response(from, &m.tid, r, m.ip, now),
            Body::Error { .. } => {
                // An error answers a query of ours: it is over, and no node was found.
                if self.outstanding.get(&m.tid).is_some_and(|o| o.addr == from) {
                    if let Some(o) = self.outstanding.remove(&m.tid) {
                        self.on_failed(o, now);
                    }
                }
            }
        }
    }

    /// The rate limit: whether a query from `ip` may be answered now.
    /// Whether a query from `from` may be answered: its own budget and its IP's.
    fn allowed(&mut self, from: SocketAddr, now: Instant) -> bool {
        if let Some(&until) = self.blocked.get(&from) {
            if now < until {
                self.counters.rate_limited += 1;
                return false;
            }
            self.blocked.remove(&from);
        }
        let own = take(&mut self.allowance, from, 1.0, true, now);
        let Some(left) = own else {
            self.counters.rate_limited += 1;
            return false;
        };
        if left < 0.0 {
            self.counters.rate_limited += 1;
            // Far over the limit (it kept sending with nothing left): block it.
            if left < -QUERY_BURST {
                self.allowance.remove(&from);
                if self.blocked.len() < MAX_TRACKED {
                    self.blocked.insert(from, now + BLOCK_FOR);
                }
            }
            return false;
        }
        match take(&mut self.ip_allowance, from.ip(), PER_IP_FACTOR, false, now) {
            Some(left) if left >= 0.0 => true,
            _ => {
                self.counters.rate_limited += 1;
                false
            }
        }
    }

    fn token(&self, secret: usize, ip: IpAddr) -> Vec<u8> {
        let bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        siphash24(&self.secrets[secret], &bytes)
            .to_be_bytes()
            .to_vec()
    }

    fn answer(
        &mut self,
        from: SocketAddr,
        tid: Vec<u8>,
        sender: NodeId,
        query: Query,
        now: Instant,
    ) {
        let mut r = Response {
            id: self.table.own(),
            ..Response::default()
        };
        let asker = NodeInfo {
            id: sender,
            addr: from,
        };
        let known = self.table.contains(&asker);
        if !known && self.table.wants(&asker) && !self.outstanding.values().any(|o| o.addr == from)
        {
            // Not trusted until it answers a query of ours (its source may be forged).
            self.send_query(from, Query::Ping, Purpose::Ping, now);
        }
        match query {
            Query::Ping => {}
            Query::FindNode { target, want } => self.nodes_for(&mut r, &target, want, from),
            Query::GetPeers { info_hash, want } => {
                r.token = Some(self.token(0, from.ip()));
                let cap = if known {
                    VALUES_PER_ANSWER
                } else {
                    UNVERIFIED_VALUES
                };
                if let Some(peers) = self.store.get(&info_hash) {
                    let mut live: Vec<SocketAddr> = peers
                        .iter()
                        .filter(|(_, at)| now.saturating_duration_since(*at) < PEER_TTL)
                        .map(|(a, _)| *a)
                        .collect();
                    // A random sample when there are more than fit: the nodes a
                    // lookup asks then return different peers between them.
                    while live.len() > cap {
                        let i = self.rng.below(live.len());
                        live.swap_remove(i);
                    }
                    r.values = live;
                }
                if r.values.is_empty() {
                    self.nodes_for(&mut r, &NodeId(info_hash.0), want, from);
                }
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                let ip = from.ip();
                if token != self.token(0, ip) && token != self.token(1, ip) {
                    return self.reply_error(from, tid, PROTOCOL_ERROR, "bad token");
                }
                let port = if implied_port { from.port() } else { port };
                self.store_peer(info_hash, SocketAddr::new(ip, port), now);
            }
            Query::Unknown(_) => {
                return self.reply_error(from, tid, krpc::METHOD_UNKNOWN, "method unknown");
            }
        }
        self.counters.queries_answered += 1;
        let m = Message {
            tid,
            body: Body::Response(r),
            ip: Some(from),
            version: Some(self.config.version.clone()),
        };
        self.outbox.push_back((from, m.encode()));
    }

    /// The closest nodes for an answer, in the families wanted (or the asker's).
    fn nodes_for(&self, r: &mut Response, target: &NodeId, want: Want, from: SocketAddr) {
        let (v4, v6) = if want.v4 || want.v6 {
            (want.v4, want.v6)
        } else {
            (from.is_ipv4(), from.is_ipv6())
        };
        let near = self.table.closest(target, 4 * K);
        let pick = |ipv6: bool| -> Vec<NodeInfo> {
            near.iter()
                .filter(|n| n.addr.is_ipv6() == ipv6 && n.addr != from)
                .take(K)
                .copied()
                .collect()
        };
        if v4 {
            r.nodes = pick(false);
        }
        if v6 {
            r.nodes6 = pick(true);
        }
    }

    fn store_peer(&mut self, info_hash: InfoHash, peer: SocketAddr, now: Instant) {
        if !self.store.contains_key(&info_hash) && self.store.len() >= MAX_HASHES {
            self.store.retain(|_, peers| {
                peers
                    .iter()
                    .any(|(_, at)| now.saturating_duration_since(*at) < PEER_TTL)
            });
            if self.store.len() >= MAX_HASHES {
                return;
            }
        }
        let peers = self.store.entry(info_hash).or_default();
        peers.retain(|(a, _)| *a != peer);
        if peers.len() >= PEERS_PER_HASH {
            peers.remove(0);
        }
        peers.push((peer, now));
        self.counters.announces_stored += 1;
    }

    fn reply_error(&mut self, to: SocketAddr, tid: Vec<u8>, code: i64, message: &str) {
        let m = Message {
            tid,
            body: Body::Error {
                code,
                message: message.into(),
            },
            ip: None,
            version: Some(self.config.version.clone()),
        };
        self.outbox.push_back((to, m.encode()));
    }

    fn on_response(
        &mut self,
        from: SocketAddr,
        tid: &[u8],
        r: Response,
        seen: Option<SocketAddr>,
        now: Instant,
    ) {
        // An answer counts only from the address the query went to.
        match self.outstanding.get(tid) {
            Some(o) if o.addr == from => {}
            _ => {
                self.counters.unexpected += 1;
                return;
            }
        }
        let o = self.outstanding.remove(tid).expect("checked above");
        self.table.on_answer(
            NodeInfo {
                id: r.id,
                addr: from,
            },
            now,
        );
        // BEP 42: the address it saw our query come from is a vote on our own.
        if let Some(seen) = seen.filter(|s| s.is_ipv4() == from.is_ipv4()) {
            if let Some(ip) = self.external.on_vote(from.ip(), seen.ip()) {
                self.on_external_ip(ip, now);
            }
        }
        let Purpose::Lookup(id) = o.purpose else {
            return;
        };
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        lookup.answered += 1;
        if let Some(c) = lookup.candidates.iter_mut().find(|c| c.addr == from) {
            c.id = Some(r.id);
            c.state = CandidateState::Answered(r.token.clone());
        }
        lookup.sort();
        for n in r.nodes.iter().chain(&r.nodes6) {
            if n.id != self.table.own() {
                lookup.add(Some(n.id), n.addr);
            }
        }
        if let Some((info_hash, _)) = lookup.peers_of {
            let new: Vec<SocketAddr> = r
                .values
                .iter()
                .copied()
                .filter(|p| {
                    lookup.peers_seen.len() < MAX_PEERS_SEEN && lookup.peers_seen.insert(*p)
                })
                .collect();
            if !new.is_empty() {
                self.events.push_back(DhtEvent::Peers {
                    lookup: id,
                    info_hash,
                    peers: new,
                });
            }
        }
        self.step(id, now);
    }

    /// Lookup queries unanswered past [`SHORT_TIMEOUT`] turn slow; their lookups ask
    /// the next candidates in their place.
    fn mark_slow(&mut self, now: Instant) {
        let mut stalled = Vec::new();
        for (&id, lookup) in &mut self.lookups {
            let mut any = false;
            for c in &mut lookup.candidates {
                if let CandidateState::Asked { sent_at } = c.state {
                    if now.saturating_duration_since(sent_at) >= SHORT_TIMEOUT {
                        c.state = CandidateState::Slow;
                        any = true;
                    }
                }
            }
            if any {
                stalled.push(id);
            }
        }
        for id in stalled {
            self.step(id, now);
        }
    }

    /// The next point at which [`Node::on_tick`] has work for a timeout: a lookup
    /// query turning slow or a query failing. The reactor ticks on a fixed period
    /// anyway; a simulation jumps its clock here.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let failing = self.outstanding.values().map(|o| o.sent_at + QUERY_TIMEOUT);
        let slowing = self
            .lookups
            .values()
            .flat_map(|l| l.candidates.iter())
            .filter_map(|c| match c.state {
                CandidateState::Asked { sent_at } => Some(sent_at + SHORT_TIMEOUT),
                _ => None,
            });
        failing.chain(slowing).min()
    }

    fn on_failed(&mut self, o: Outstanding, now: Instant) {
        self.table.on_timeout(o.addr, now);
        if let Purpose::Lookup(id) = o.purpose {
            if let Some(lookup) = self.lookups.get_mut(&id) {
                if let Some(c) = lookup.candidates.iter_mut().find(|c| c.addr == o.addr) {
                    c.state = CandidateState::Failed;
                }
                self.step(id, now);
            }
        }
    }

    /// Time passes: timeouts, secret rotation, expiry, pings of questionable nodes,
    /// refreshes of stale buckets. Call it every quarter of a second or so (lookup
    /// queries turn slow after [`SHORT_TIMEOUT`]), or at [`Node::poll_timeout`].
    pub fn on_tick(&mut self, now: Instant) {
        self.mark_slow(now);
        let expired: Vec<Vec<u8>> = self
            .outstanding
            .iter()
            .filter(|(_, o)| now.saturating_duration_since(o.sent_at) >= QUERY_TIMEOUT)
            .map(|(t, _)| t.clone())
            .collect();
        for tid in expired {
            if let Some(o) = self.outstanding.remove(&tid) {
                self.counters.timeouts += 1;
                self.on_failed(o, now);
            }
        }
        if now.saturating_duration_since(self.secret_at) >= SECRET_ROTATION {
            self.secrets[1] = self.secrets[0];
            self.secrets[0] = secret();
            self.secret_at = now;
            self.store.retain(|_, peers| {
                peers.retain(|(_, at)| now.saturating_duration_since(*at) < PEER_TTL);
                !peers.is_empty()
            });
            self.blocked.retain(|_, until| *until > now);
            self.ip_allowance
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < Duration::from_secs(60));
        }
        for n in self.table.to_ping(now).into_iter().take(PINGS_PER_TICK) {
            let waiting = self.outstanding.values().any(|o| o.addr == n.addr);
            if !waiting {
                self.send_query(n.addr, Query::Ping, Purpose::Ping, now);
            }
        }
        if !self.table.is_empty() {
            let rng = &mut self.rng;
            let targets = self.table.to_refresh(now, || rng.next_u64());
            for t in targets {
                self.find_node(t, now);
            }
        }
    }
}

/// Takes one query from `key`'s bucket in `buckets` (`factor` times a node's rate and
/// burst). Returns the tokens left after it: 0 or more when it was allowed. With
/// `debt`, a query with no token left still counts, so a sender that keeps going
/// sinks below 0 (and is blocked by the caller); without, it is only refused. `None`
/// when the table is full of live buckets.
fn take<K: std::hash::Hash + Eq + Copy>(
    buckets: &mut HashMap<K, (f64, Instant)>,
    key: K,
    factor: f64,
    debt: bool,
    now: Instant,
) -> Option<f64> {
    let burst = QUERY_BURST * factor;
    if !buckets.contains_key(&key) && buckets.len() >= MAX_TRACKED {
        buckets.retain(|_, (left, at)| {
            *left < burst && now.duration_since(*at) < Duration::from_secs(10)
        });
        if buckets.len() >= MAX_TRACKED {
            return None;
        }
    }
    let (left, at) = buckets.entry(key).or_insert((burst, now));
    let earned = now.saturating_duration_since(*at).as_secs_f64() * QUERIES_PER_SECOND * factor;
    *left = (*left + earned).min(burst);
    *at = now;
    if *left >= 1.0 || debt {
        *left -= 1.0;
        return Some(*left);
    }
    Some(-1.0)
}

/// A token secret, from the operating system (never from the generator whose
/// outputs, the transaction ids, every node we talk to sees).
fn secret() -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&crate::rng::os_u64().to_le_bytes());
    s[8..].copy_from_slice(&crate::rng::os_u64().to_le_bytes());
    s
}

/// The torrents this node's own client runs: no lookup asks the node that runs it, so
/// its own store is read directly, and the client lists itself in it.
impl Node {
    /// Peers announced to this node for `info_hash` that are still fresh.
    pub fn stored_peers(&self, info_hash: &InfoHash, now: Instant) -> Vec<SocketAddr> {
        self.store.get(info_hash).map_or_else(Vec::new, |peers| {
            peers
                .iter()
                .filter(|(_, at)| now.saturating_duration_since(*at) < PEER_TTL)
                .map(|(a, _)| *a)
                .collect()
        })
    }

    /// Lists `peer` (the client itself) under `info_hash` as an announce would, so the
    /// lookups of nodes that ask this one find it even before it announced elsewhere.
    pub fn add_local_peer(&mut self, info_hash: InfoHash, peer: SocketAddr, now: Instant) {
        self.store_peer(info_hash, peer, now);
    }
}
