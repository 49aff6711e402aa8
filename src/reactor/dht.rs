//! The DHT on the reactor: one sans-io [`Node`] per UDP socket (an IPv4 one and, on
//! an IPv6 address, a BEP 32 one with its own table), bootstrapped from the saved
//! table and the configured routers, and the schedule of the torrents' lookups.
//!
//! Owns the nodes and what ties their lookups to torrents; the sockets are endpoints
//! of `reactor::udp` whose KRPC datagrams are routed here. Every
//! [`DHT_TICK`] the nodes are ticked (timeouts, pings, refreshes); every second the
//! torrents the engine offers ([`Engine::dht_torrents`]) that are due are looked up
//! (`get_peers`, then `announce_peer` with our peer port), at most
//! [`DHT_MAX_LOOKUPS`] at once: a complete torrent every 15 to 30 minutes, one still
//! downloading every 5. Peers found go to the torrent's peer list as
//! [`PeerSource::Dht`]. The table is saved on a worker every [`SAVE_EVERY`] and at
//! the end of the run.
//!
//! Invariants: a lookup in `running` belongs to a live node; a torrent has at most one
//! lookup running.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;

use super::Reactor;
use super::udp::Roles;
use crate::config::{DHT_ANNOUNCE_EVERY, DHT_MAX_LOOKUPS, DHT_RETRY_EVERY, DHT_SEARCH_EVERY};
use crate::dht::node::{DhtEvent, Node, NodeConfig};
use crate::dht::persist;
use crate::engine::{DhtSetup, DhtStatus, DhtTorrent};
use crate::rng::Rng;
use crate::torrent::peer_list::PeerSource;
use crate::types::TorrentId;
use crate::wire::krpc::NodeId;
use crate::workers::Task;

/// How often the nodes are ticked.
pub(super) const DHT_TICK: Duration = Duration::from_millis(250);

/// How often the routing table is written to its file.
const SAVE_EVERY: Duration = Duration::from_secs(10 * 60);

/// How long after an empty table the node asks the bootstrap nodes again.
const REBOOTSTRAP_AFTER: Duration = Duration::from_secs(60);

/// The tag of the worker task that saves the table (front tasks count up from 0).
pub(super) const SAVE_TAG: u64 = u64::MAX;

/// One node and its socket.
#[derive(Debug)]
struct DhtNode {
    node: Node,
    /// Index of its endpoint in `Reactor::udp`.
    endpoint: usize,
    /// The address its socket is bound to.
    local: SocketAddr,
    /// Its bootstrap lookup, while it runs.
    bootstrap: Option<u64>,
    /// When it last started a bootstrap.
    bootstrapped_at: Option<Instant>,
}

/// The DHT's state in the reactor.
#[derive(Debug)]
pub(super) struct DhtIo {
    nodes: Vec<DhtNode>,
    /// Bootstrap `HOST:PORT`s as configured.
    bootstrap: Vec<String>,
    /// Their addresses, once resolved (literal ones at once).
    bootstrap_addrs: Vec<SocketAddr>,
    /// Resolver look-ups of bootstrap names still out.
    resolving: HashSet<u64>,
    /// Nodes from the saved table, offered to every bootstrap.
    saved: Vec<SocketAddr>,
    table_file: Option<PathBuf>,
    saved_at: Instant,
    /// When each torrent is next looked up.
    due: HashMap<TorrentId, Instant>,
    /// Lookups of torrents: (node index, lookup id) to the torrent.
    running: HashMap<(usize, u64), TorrentId>,
    /// The peer port we announce.
    announce_port: Option<u16>,
    rng: Rng,
    lookups_done: u64,
    peers_found: u64,
    last_second: Instant,
}

/// A UDP socket for a DHT node on `addr` (IPv6 only on an IPv6 address, so both
/// families can share a port), non-blocking.
fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into()))
}

impl DhtIo {
    /// The DHT of `setup`, its sockets bound and registered as endpoints of `udp`.
    /// Without listen addresses of its own it takes `peer_addrs` (the peer listeners'
    /// bound addresses, so the peer port over UDP); a socket that cannot be bound there
    /// is skipped with a warning, while one asked for explicitly is an error.
    pub(super) fn new(
        setup: DhtSetup,
        peer_addrs: &[SocketAddr],
        announce_port: Option<u16>,
        udp: &mut super::udp::UdpEndpoints,
        registry: &mio::Registry,
        now: Instant,
    ) -> Result<Option<DhtIo>, String> {
        let explicit = !setup.listen.is_empty();
        let addrs = if explicit {
            setup.listen.clone()
        } else {
            peer_addrs.to_vec()
        };
        let saved = setup.table_file.as_ref().and_then(|path| {
            let bytes = std::fs::read(path).ok()?;
            match persist::decode(&bytes) {
                Ok(table) => Some(table),
                Err(e) => {
                    log::warn!("DHT table {} ignored: {e}", path.display());
                    None
                }
            }
        });
        let mut rng = Rng::from_os();
        let own = match &saved {
            Some((id, _)) => *id,
            None => random_id(&mut rng),
        };
        let mut nodes = Vec::new();
        for addr in addrs {
            if nodes
                .iter()
                .any(|n: &DhtNode| n.local.is_ipv6() == addr.is_ipv6())
            {
                continue;
            }
            let sock = match bind(addr) {
                Ok(s) => s,
                Err(e) if explicit => return Err(format!("cannot bind the DHT to {addr}: {e}")),
                Err(e) => {
                    log::warn!("no DHT on {addr}: {e}");
                    continue;
                }
            };
            let local = sock.local_addr().unwrap_or(addr);
            let roles = Roles {
                dht: true,
                ..Roles::default()
            };
            let endpoint = udp
                .add(sock, roles, registry)
                .map_err(|e| format!("cannot register the DHT socket: {e}"))?;
            let config = NodeConfig {
                // Loopback carries every node of a test on one address.
                one_per_ip: !local.ip().is_loopback(),
                ..NodeConfig::default()
            };
            nodes.push(DhtNode {
                node: Node::new(own, config, rng.next_u64(), now),
                endpoint,
                local,
                bootstrap: None,
                bootstrapped_at: None,
            });
        }
        if nodes.is_empty() {
            log::warn!("the DHT is off: no address to bind it to");
            return Ok(None);
        }
        let mut bootstrap_addrs = Vec::new();
        for b in &setup.bootstrap {
            if let Ok(a) = b.parse::<SocketAddr>() {
                bootstrap_addrs.push(a);
            }
        }
        Ok(Some(DhtIo {
            nodes,
            bootstrap: setup.bootstrap,
            bootstrap_addrs,
            resolving: HashSet::new(),
            saved: saved
                .map(|(_, n)| n.iter().map(|n| n.addr).collect())
                .unwrap_or_default(),
            table_file: setup.table_file,
            saved_at: now,
            due: HashMap::new(),
            running: HashMap::new(),
            announce_port,
            rng,
            lookups_done: 0,
            peers_found: 0,
            last_second: now,
        }))
    }

    /// The addresses the nodes' sockets are bound to.
    pub(super) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.local).collect()
    }

    /// The node whose socket is endpoint `endpoint`.
    fn node_of(&self, endpoint: usize) -> Option<usize> {
        self.nodes.iter().position(|n| n.endpoint == endpoint)
    }

    /// The figures for the engine's views.
    fn status(&self, now: Instant) -> DhtStatus {
        let mut s = DhtStatus {
            lookups_done: self.lookups_done,
            peers_found: self.peers_found,
            ..DhtStatus::default()
        };
        for n in &self.nodes {
            s.nodes += n.node.table().len();
            s.good_nodes += n.node.table().good_count(now);
            s.lookups += n.node.lookups_running();
            let c = n.node.counters();
            s.counters.queries_answered += c.queries_answered;
            s.counters.rate_limited += c.rate_limited;
            s.counters.malformed += c.malformed;
            s.counters.unexpected += c.unexpected;
            s.counters.timeouts += c.timeouts;
            s.counters.announces_stored += c.announces_stored;
        }
        s
    }

    /// The saved table's bytes: our id and every node of every table.
    fn table_bytes(&self) -> Option<Vec<u8>> {
        let first = self.nodes.first()?;
        let nodes: Vec<_> = self
            .nodes
            .iter()
            .flat_map(|n| n.node.table().nodes())
            .collect();
        Some(persist::encode(first.node.table().own(), &nodes))
    }

    /// When a torrent looked up now is next due.
    fn next_due(&mut self, t: &DhtTorrent, now: Instant) -> Instant {
        if t.complete {
            let jitter = self.rng.below(DHT_ANNOUNCE_EVERY.as_secs() as usize / 2) as u64;
            now + DHT_ANNOUNCE_EVERY + Duration::from_secs(jitter)
        } else if t.peers == 0 {
            now + DHT_RETRY_EVERY
        } else {
            now + DHT_SEARCH_EVERY
        }
    }

    /// Lists us under `info_hash` in each node's own store, where its socket says
    /// our address: the nodes that ask us find us even before our announces reach
    /// anyone.
    fn list_ourselves(&mut self, info_hash: crate::types::InfoHash, now: Instant) {
        let Some(port) = self.announce_port else {
            return;
        };
        for n in &mut self.nodes {
            if !n.local.ip().is_unspecified() {
                n.node
                    .add_local_peer(info_hash, SocketAddr::new(n.local.ip(), port), now);
            }
        }
    }
}

/// A random node id.
fn random_id(rng: &mut Rng) -> NodeId {
    let mut id = [0u8; 20];
    for chunk in id.chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    NodeId(id)
}

impl Reactor {
    /// Starts the DHT's clock and asks for its bootstrap names.
    pub(super) fn start_dht(&mut self, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        let names: Vec<(String, u16)> = dht
            .bootstrap
            .iter()
            .filter(|b| b.parse::<SocketAddr>().is_err())
            .filter_map(|b| {
                let (host, port) = b.rsplit_once(':')?;
                Some((host.to_string(), port.parse().ok()?))
            })
            .collect();
        for (host, port) in names {
            let id = self.tracker_io.next_lookup;
            self.tracker_io.next_lookup += 1;
            match self.resolver().and_then(|r| r.resolve(id, &host, port)) {
                Ok(()) => {
                    if let Some(dht) = self.dht.as_mut() {
                        dht.resolving.insert(id);
                    }
                }
                Err(e) => log::warn!("DHT bootstrap {host}:{port}: {e}"),
            }
        }
        self.dht_bootstrap(now);
        self.timers.schedule(now + DHT_TICK, super::Tick::Dht);
    }

    /// A resolver answer, if it was for a bootstrap name: true when it was.
    pub(super) fn on_dht_resolved(
        &mut self,
        id: u64,
        result: &Result<Vec<SocketAddr>, String>,
        now: Instant,
    ) -> bool {
        let Some(dht) = self.dht.as_mut() else {
            return false;
        };
        if !dht.resolving.remove(&id) {
            return false;
        }
        match result {
            Ok(addrs) => {
                dht.bootstrap_addrs.extend(addrs.iter().copied());
                dht.bootstrap_addrs.dedup();
            }
            Err(e) => log::warn!("DHT bootstrap: {e}"),
        }
        if dht.resolving.is_empty() {
            // Every name answered: join through all of them.
            for n in &mut dht.nodes {
                n.bootstrapped_at = None;
            }
            self.dht_bootstrap(now);
        }
        true
    }

    /// Starts a bootstrap on each node that has no bootstrap running and either never
    /// started one or has had an empty table for [`REBOOTSTRAP_AFTER`].
    fn dht_bootstrap(&mut self, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        let seeds: Vec<SocketAddr> = dht
            .saved
            .iter()
            .chain(&dht.bootstrap_addrs)
            .copied()
            .collect();
        for n in &mut dht.nodes {
            let due = match n.bootstrapped_at {
                None => true,
                Some(at) => n.node.table().is_empty() && now >= at + REBOOTSTRAP_AFTER,
            };
            if n.bootstrap.is_some() || !due {
                continue;
            }
            let family: Vec<SocketAddr> = seeds
                .iter()
                .copied()
                .filter(|a| a.is_ipv6() == n.local.is_ipv6())
                .collect();
            if family.is_empty() && n.node.table().is_empty() {
                continue;
            }
            n.bootstrapped_at = Some(now);
            n.bootstrap = Some(n.node.bootstrap(&family, now));
        }
        self.flush_dht(now);
    }

    /// A KRPC datagram on endpoint `endpoint`.
    pub(super) fn on_dht_datagram(
        &mut self,
        endpoint: usize,
        from: SocketAddr,
        packet: &[u8],
        now: Instant,
    ) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        let Some(i) = dht.node_of(endpoint) else {
            return;
        };
        dht.nodes[i].node.on_datagram(from, packet, now);
        self.flush_dht(now);
    }

    /// A tracker saw us at `ip` (BEP 24): the node of its family may take a BEP 42 id
    /// for it (until its own votes decide).
    pub(super) fn on_external_ip(&mut self, ip: IpAddr, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        for n in dht
            .nodes
            .iter_mut()
            .filter(|n| n.local.is_ipv6() == ip.is_ipv6())
        {
            n.node.set_external_ip(ip, now);
        }
        self.flush_dht(now);
    }

    /// The DHT's timer: tick the nodes; once a second, start the lookups that are due.
    pub(super) fn on_dht_tick(&mut self, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        for n in &mut dht.nodes {
            n.node.on_tick(now);
        }
        let second = now >= dht.last_second + Duration::from_secs(1);
        if second {
            dht.last_second = now;
        }
        self.flush_dht(now);
        if second {
            self.dht_bootstrap(now);
            self.dht_lookups(now);
            self.dht_save(now);
            if let Some(dht) = self.dht.as_ref() {
                let status = dht.status(now);
                self.engine.set_dht_status(status);
            }
        }
        self.timers.schedule(now + DHT_TICK, super::Tick::Dht);
    }

    /// Starts the lookups of the torrents that are due, up to the bound.
    fn dht_lookups(&mut self, now: Instant) {
        let torrents = self.engine.dht_torrents();
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        let live: HashSet<TorrentId> = torrents.iter().map(|t| t.id).collect();
        dht.due.retain(|id, _| live.contains(id));
        dht.running.retain(|_, id| live.contains(id));
        let mut started = Vec::new();
        for t in torrents {
            if !dht.due.contains_key(&t.id) {
                // New: due at once.
                dht.list_ourselves(t.info_hash, now);
                dht.due.insert(t.id, now);
            }
            if dht.running.len() >= DHT_MAX_LOOKUPS
                || dht.nodes.iter().all(|n| n.node.table().is_empty())
            {
                // Nothing to ask yet, or enough asked: the rest wait their turn.
                continue;
            }
            if dht.due.get(&t.id).is_some_and(|&at| at > now)
                || dht.running.values().any(|&id| id == t.id)
            {
                continue;
            }
            let at = dht.next_due(&t, now);
            dht.due.insert(t.id, at);
            dht.list_ourselves(t.info_hash, now);
            let port = dht.announce_port;
            for (i, n) in dht.nodes.iter_mut().enumerate() {
                if n.node.table().is_empty() {
                    continue;
                }
                let lookup = n.node.get_peers(t.info_hash, port, now);
                dht.running.insert((i, lookup), t.id);
                let own: Vec<SocketAddr> = n
                    .node
                    .stored_peers(&t.info_hash, now)
                    .into_iter()
                    .filter(|a| !is_us(*a, n.local, port))
                    .collect();
                if !own.is_empty() {
                    started.push((t.id, own));
                }
            }
        }
        for (id, peers) in started {
            self.engine.learn_peers(id, peers, PeerSource::Dht, now);
        }
        self.flush_dht(now);
    }

    /// Sends what the nodes queued and hands their events on.
    fn flush_dht(&mut self, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        let mut found = Vec::new();
        for (i, n) in dht.nodes.iter_mut().enumerate() {
            while let Some((to, packet)) = n.node.poll_send() {
                if to.is_ipv6() != n.local.is_ipv6() {
                    continue;
                }
                if let Err(e) = self.udp.send(n.endpoint, to, packet) {
                    log::debug!("DHT datagram to {to} dropped: {e}");
                }
            }
            while let Some(event) = n.node.poll_event() {
                match event {
                    DhtEvent::Peers { lookup, peers, .. } => {
                        if let Some(&id) = dht.running.get(&(i, lookup)) {
                            let port = dht.announce_port;
                            let peers: Vec<SocketAddr> = peers
                                .into_iter()
                                .filter(|a| !is_us(*a, n.local, port))
                                .collect();
                            dht.peers_found += peers.len() as u64;
                            found.push((id, peers));
                        }
                    }
                    DhtEvent::Done {
                        lookup,
                        queries,
                        answered,
                        announced,
                    } => {
                        if n.bootstrap == Some(lookup) {
                            n.bootstrap = None;
                            log::info!(
                                "DHT {}: joined, {} nodes ({answered} of {queries} answered)",
                                n.local,
                                n.node.table().len()
                            );
                        } else if dht.running.remove(&(i, lookup)).is_some() {
                            dht.lookups_done += 1;
                            log::debug!(
                                "DHT lookup done: {answered} of {queries} answered, announced to {announced}"
                            );
                        }
                    }
                }
            }
        }
        for (id, peers) in found {
            if !peers.is_empty() {
                self.engine.learn_peers(id, peers, PeerSource::Dht, now);
            }
        }
    }

    /// Saves the table on a worker every [`SAVE_EVERY`].
    fn dht_save(&mut self, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        if now < dht.saved_at + SAVE_EVERY {
            return;
        }
        dht.saved_at = now;
        let (Some(path), Some(bytes)) = (dht.table_file.clone(), dht.table_bytes()) else {
            return;
        };
        self.engine.submit_task(Task {
            tag: SAVE_TAG,
            run: Box::new(move || Box::new(write_table(&path, &bytes))),
        });
    }

    /// Writes the table at the end of the run (the run is over: this may block).
    pub(super) fn save_dht_now(&mut self) {
        let Some(dht) = self.dht.as_ref() else {
            return;
        };
        if let (Some(path), Some(bytes)) = (dht.table_file.as_ref(), dht.table_bytes())
            && let Err(e) = write_table(path, &bytes)
        {
            log::warn!("{e}");
        }
    }
}

/// Whether `addr` is this client: the port we announce at the node's own address
/// (known only when the socket is bound to one; otherwise the engine drops a
/// connection to ourselves by its peer id).
fn is_us(addr: SocketAddr, local: SocketAddr, port: Option<u16>) -> bool {
    Some(addr.port()) == port && addr.ip() == local.ip()
}

/// Writes the table file atomically; the error says which file.
fn write_table(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::engine::store::write_atomic(path, bytes)
        .map_err(|e| format!("cannot save the DHT table to {}: {e}", path.display()))
}
