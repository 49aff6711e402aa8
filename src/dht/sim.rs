//! An in-process network of sans-io nodes on a fake clock: no sockets, no sleeps.
//! A round delivers every datagram in flight (one one-way trip, 20 ms); a node whose
//! next timeout ([`Node::poll_timeout`]) has come is ticked, and when nothing is in
//! flight but queries wait, the clock jumps to the earliest such timeout.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::node::{DhtEvent, Node, NodeConfig, QUERY_TIMEOUT, SHORT_TIMEOUT};
use super::table::K;
use crate::rng::Rng;
use crate::types::InfoHash;
use crate::wire::krpc::NodeId;

struct Net {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    by_addr: HashMap<SocketAddr, usize>,
    dead: HashSet<usize>,
    now: Instant,
    rounds: u64,
    datagrams: u64,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
}

impl Net {
    fn new(n: usize, seed: u64) -> Net {
        let now = Instant::now();
        let mut rng = Rng::new(seed);
        let mut nodes = Vec::new();
        let mut addrs = Vec::new();
        let mut by_addr = HashMap::new();
        for i in 0..n {
            let mut id = [0u8; 20];
            for chunk in id.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_be_bytes()[..chunk.len()]);
            }
            nodes.push(Node::new(
                NodeId(id),
                NodeConfig::default(),
                rng.next_u64(),
                now,
            ));
            addrs.push(addr(i));
            by_addr.insert(addr(i), i);
        }
        Net {
            nodes,
            addrs,
            by_addr,
            dead: HashSet::new(),
            now,
            rounds: 0,
            datagrams: 0,
        }
    }

    /// Delivers until nothing is in flight and no lookup runs (or `max` rounds).
    fn settle(&mut self, max: u64) -> Vec<(usize, DhtEvent)> {
        let mut events = Vec::new();
        for _ in 0..max {
            let mut flight = Vec::new();
            for (i, n) in self.nodes.iter_mut().enumerate() {
                while let Some((to, bytes)) = n.poll_send() {
                    flight.push((i, to, bytes));
                }
                while let Some(e) = n.poll_event() {
                    events.push((i, e));
                }
            }
            if flight.is_empty() {
                if self.nodes.iter().all(|n| n.lookups_running() == 0) {
                    return events;
                }
                // Only unanswered queries left: on to the first of their timeouts.
                let next = self.nodes.iter().filter_map(Node::poll_timeout).min();
                self.now = next.unwrap_or(self.now + QUERY_TIMEOUT).max(self.now);
                self.tick_due();
                continue;
            }
            self.rounds += 1;
            self.now += Duration::from_millis(20);
            self.tick_due();
            for (from, to, bytes) in flight {
                self.datagrams += 1;
                let Some(&j) = self.by_addr.get(&to) else {
                    continue;
                };
                if self.dead.contains(&j) || self.dead.contains(&from) {
                    continue;
                }
                let src = self.addrs[from];
                self.nodes[j].on_datagram(src, &bytes, self.now);
            }
        }
        panic!("the network did not settle in {max} rounds");
    }

    /// Ticks the nodes whose next timeout has come.
    fn tick_due(&mut self) {
        let now = self.now;
        for n in &mut self.nodes {
            if n.poll_timeout().is_some_and(|at| at <= now) {
                n.on_tick(now);
            }
        }
    }

    fn bootstrap_all(&mut self) {
        let router = self.addrs[0];
        for i in 1..self.nodes.len() {
            self.nodes[i].bootstrap(&[router], self.now);
            if i % 25 == 0 {
                self.settle(10_000);
            }
        }
        self.settle(10_000);
        // A quarter of an hour on: every node refreshes its stale buckets, as a live
        // node does, and the tables of the nodes that joined first fill in.
        self.now += super::table::REFRESH_AFTER;
        for n in &mut self.nodes {
            n.on_tick(self.now);
        }
        self.settle(100_000);
    }

    /// Runs one lookup from node `i` alone; returns its peers, rounds, datagrams and
    /// Done event.
    fn lookup(&mut self, i: usize, info_hash: InfoHash, announce: Option<u16>) -> Outcome {
        let (rounds, datagrams, started_at) = (self.rounds, self.datagrams, self.now);
        let id = self.nodes[i].get_peers(info_hash, announce, self.now);
        let mut peers = HashSet::new();
        let mut done = None;
        for (node, e) in self.settle(10_000) {
            match e {
                DhtEvent::Peers {
                    lookup, peers: p, ..
                } if node == i && lookup == id => {
                    peers.extend(p);
                }
                DhtEvent::Done {
                    lookup,
                    queries,
                    answered,
                    announced,
                } if node == i && lookup == id => done = Some((queries, answered, announced)),
                _ => {}
            }
        }
        Outcome {
            peers,
            rounds: self.rounds - rounds,
            datagrams: self.datagrams - datagrams,
            took: self.now - started_at,
            done: done.expect("the lookup ended"),
        }
    }
}

struct Outcome {
    peers: HashSet<SocketAddr>,
    rounds: u64,
    datagrams: u64,
    /// Simulated time from the start of the lookup until the network settled.
    took: Duration,
    /// Queries, answers, announces.
    done: (u32, u32, u32),
}

#[test]
fn five_hundred_nodes_bootstrap_announce_and_find_every_peer() {
    let mut net = Net::new(500, 7);
    net.bootstrap_all();
    // Bootstrapping from one router filled every table.
    let sizes: Vec<usize> = net.nodes.iter().map(|n| n.table().len()).collect();
    let min = *sizes.iter().min().unwrap();
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    assert!(min >= K, "smallest table {min} (mean {mean:.1})");

    let info_hash = InfoHash([0x42; 20]);
    let announcers: Vec<usize> = (0..10).map(|k| 20 + k * 37).collect();
    for &a in &announcers {
        let out = net.lookup(a, info_hash, Some(6000 + a as u16));
        assert!(out.done.2 >= 1, "announced to no node: {:?}", out.done);
    }
    let want: HashSet<SocketAddr> = announcers
        .iter()
        .map(|&a| SocketAddr::new(net.addrs[a].ip(), 6000 + a as u16))
        .collect();
    let mut rounds = Vec::new();
    let mut datagrams = Vec::new();
    let mut took = Vec::new();
    for seeker in [1, 250, 499] {
        let out = net.lookup(seeker, info_hash, None);
        assert_eq!(out.peers, want, "from node {seeker}");
        rounds.push(out.rounds);
        datagrams.push(out.datagrams);
        took.push(out.took);
        // Converges in a bounded number of round trips.
        assert!(out.rounds <= 40, "{} rounds", out.rounds);
    }
    eprintln!(
        "500 nodes: mean table {mean:.1}; lookups took {rounds:?} one-way rounds, {datagrams:?} datagrams, {took:?} simulated"
    );

    // A fifth of the nodes vanish (not the announcers): lookups still find them all.
    let mut rng = Rng::new(3);
    while net.dead.len() < 100 {
        let i = 2 + rng.below(497);
        if !announcers.contains(&i) && i != 300 {
            net.dead.insert(i);
        }
    }
    let mut rounds = Vec::new();
    let mut took = Vec::new();
    let (mut datagrams, mut queries, mut answers) = (0, 0, 0);
    for seeker in 300..310 {
        if net.dead.contains(&seeker) || announcers.contains(&seeker) {
            continue;
        }
        let out = net.lookup(seeker, info_hash, None);
        assert_eq!(
            out.peers, want,
            "from node {seeker} with 20 % of the nodes gone"
        );
        rounds.push(out.rounds);
        took.push(out.took);
        datagrams += out.datagrams;
        queries += out.done.0;
        answers += out.done.1;
    }
    let mean = took.iter().sum::<Duration>() / took.len() as u32;
    eprintln!(
        "with 100 of 500 gone, {} lookups: {rounds:?} one-way rounds, {took:?} simulated \
         (mean {mean:?}), {datagrams} datagrams, {queries} queries, {answers} answered",
        took.len()
    );

    // Lookups of random targets run into the dead among the closest nodes: a silent
    // node is replaced by the next after the short timeout, not the full one.
    let mut took = Vec::new();
    let (mut queries, mut answers) = (0, 0);
    for seeker in 300..310 {
        if net.dead.contains(&seeker) {
            continue;
        }
        let mut target = [0u8; 20];
        for chunk in target.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_be_bytes()[..chunk.len()]);
        }
        let out = net.lookup(seeker, InfoHash(target), None);
        took.push(out.took);
        queries += out.done.0;
        answers += out.done.1;
    }
    let mean = took.iter().sum::<Duration>() / took.len() as u32;
    eprintln!(
        "with 100 of 500 gone, {} lookups of random targets: {took:?} simulated (mean \
         {mean:?}), {queries} queries, {answers} answered",
        took.len()
    );
    assert!(queries > answers, "some lookups met the dead");
    assert!(mean < QUERY_TIMEOUT, "mean {mean:?}");
}

#[test]
fn one_ip_rotating_its_ports_gets_a_bounded_share_and_is_never_blocked() {
    let now = Instant::now();
    let mut node = Node::new(NodeId([1; 20]), NodeConfig::default(), 1, now);
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let mut answered = 0;
    for port in 1..=2000u16 {
        node.on_datagram(SocketAddr::new([192, 0, 2, 70].into(), port), ping, now);
        // Only the answers: the node also pings a new sender to learn whether it
        // belongs in the table.
        answered += std::iter::from_fn(|| node.poll_send())
            .filter(|(_, bytes)| bytes.windows(4).any(|w| w == b"1:rd"))
            .count();
    }
    let budget = (super::node::QUERY_BURST * super::node::PER_IP_FACTOR) as usize;
    assert_eq!(answered, budget, "the IP's budget, then nothing");
    // A second later the IP has earned a second's worth again: nobody was blocked.
    node.on_datagram(
        "192.0.2.70:1".parse().unwrap(),
        ping,
        now + Duration::from_secs(1),
    );
    assert!(node.poll_send().is_some());
}

#[test]
fn a_flood_from_one_address_is_cut_off_and_garbage_is_counted() {
    let now = Instant::now();
    let mut node = Node::new(NodeId([1; 20]), NodeConfig::default(), 1, now);
    let flooder: SocketAddr = "192.0.2.66:4000".parse().unwrap();
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let mut answers = 0;
    for _ in 0..1000 {
        node.on_datagram(flooder, ping, now);
        while let Some((to, bytes)) = node.poll_send() {
            if to == flooder && bytes.windows(4).any(|w| w == b"1:rd") {
                answers += 1;
            }
        }
    }
    assert!(
        (50..=51).contains(&answers),
        "{answers} answers to 1000 pings at once"
    );
    // Blocked now: even after the bucket would have refilled, nothing is answered.
    let later = now + Duration::from_secs(10);
    node.on_datagram(flooder, ping, later);
    let sent = node.poll_send();
    assert!(
        sent.is_none(),
        "{:?}",
        sent.map(|(a, b)| (a, String::from_utf8_lossy(&b).into_owned()))
    );
    // Another address is served as usual, another port of the flooder's IP (a node
    // beside it behind one NAT) too.
    for other in ["192.0.2.67:4000", "192.0.2.66:4001"] {
        node.on_datagram(other.parse().unwrap(), ping, later);
        let sent: Vec<Vec<u8>> = std::iter::from_fn(|| node.poll_send().map(|(_, b)| b)).collect();
        assert!(
            sent.iter().any(|b| b.windows(4).any(|w| w == b"1:rd")),
            "{other}"
        );
    }
    assert!(node.counters().rate_limited >= 949);

    // Garbage is counted and dropped; a malformed query gets error 203 with its tid.
    node.on_datagram("192.0.2.68:1".parse().unwrap(), b"\xff\x00junk", later);
    assert!(node.poll_send().is_none());
    node.on_datagram(
        "192.0.2.68:1".parse().unwrap(),
        b"d1:ad2:id3:abce1:q4:ping1:t2:zz1:y1:qe",
        later,
    );
    let (_, bytes) = node.poll_send().expect("an error answer");
    let m = crate::wire::krpc::decode(&bytes).unwrap();
    assert_eq!(m.tid, b"zz");
    assert!(matches!(
        m.body,
        crate::wire::krpc::Body::Error { code: 203, .. }
    ));
    assert_eq!(node.counters().malformed, 2);
}

#[test]
fn tokens_are_checked_and_answers_come_only_from_the_address_asked() {
    let now = Instant::now();
    let mut net = Net::new(3, 11);
    // Node 1 learns node 0, then announces through it.
    net.nodes[1].bootstrap(&[net.addrs[0]], now);
    net.settle(100);
    let info_hash = InfoHash([9; 20]);
    let out = net.lookup(1, info_hash, Some(7000));
    assert_eq!(out.done.2, 1, "announced to node 0");
    // Node 2 finds the peer through node 0.
    net.nodes[2].bootstrap(&[net.addrs[0]], now);
    net.settle(100);
    let out = net.lookup(2, info_hash, None);
    assert_eq!(
        out.peers,
        HashSet::from([SocketAddr::new(net.addrs[1].ip(), 7000)])
    );
    // An announce with a made-up token is refused with 203.
    let forged = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
    net.nodes[0].on_datagram("192.0.2.9:1".parse().unwrap(), forged, net.now);
    // First the ping that checks the unknown sender, then the refusal.
    let (_, ping) = net.nodes[0].poll_send().unwrap();
    assert!(ping.windows(6).any(|w| w == b"4:ping"));
    let (_, bytes) = net.nodes[0].poll_send().unwrap();
    assert!(matches!(
        crate::wire::krpc::decode(&bytes).unwrap().body,
        crate::wire::krpc::Body::Error { code: 203, .. }
    ));
    // A response from an address that was never asked is ignored.
    let before = net.nodes[0].counters().unexpected;
    net.nodes[0].on_datagram(
        "192.0.2.10:1".parse().unwrap(),
        b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t4:abcd1:y1:re",
        net.now,
    );
    assert_eq!(net.nodes[0].counters().unexpected, before + 1);
    assert_eq!(net.nodes[0].table().len(), 2, "nodes 1 and 2 only");
}

/// The queries `node` has sent: (to, transaction id).
fn sent_queries(node: &mut Node) -> Vec<(SocketAddr, Vec<u8>)> {
    std::iter::from_fn(|| node.poll_send())
        .filter_map(|(to, bytes)| {
            let m = crate::wire::krpc::decode(&bytes).ok()?;
            matches!(m.body, crate::wire::krpc::Body::Query { .. }).then_some((to, m.tid))
        })
        .collect()
}

/// A `find_node` answer from a node with id `[from_id; 20]` listing `nodes`.
fn answer(tid: &[u8], from_id: u8, nodes: Vec<crate::wire::krpc::NodeInfo>) -> Vec<u8> {
    answer_seeing(tid, NodeId([from_id; 20]), nodes, None)
}

/// The same, telling the asker the address its query came from (BEP 42).
fn answer_seeing(
    tid: &[u8],
    id: NodeId,
    nodes: Vec<crate::wire::krpc::NodeInfo>,
    seen: Option<SocketAddr>,
) -> Vec<u8> {
    use crate::wire::krpc::{Body, Message, Response};
    Message {
        tid: tid.to_vec(),
        body: Body::Response(Response {
            id,
            nodes,
            ..Response::default()
        }),
        ip: seen,
        version: None,
    }
    .encode()
}

#[test]
fn a_silent_lookup_query_makes_room_after_the_short_timeout_and_a_late_answer_counts() {
    let t0 = Instant::now();
    let mut node = Node::new(NodeId([0; 20]), NodeConfig::default(), 5, t0);
    let routers: Vec<SocketAddr> = (1..=4).map(|i| addr(100 + i)).collect();
    let lookup = node.bootstrap(&routers, t0);
    let first = sent_queries(&mut node);
    let asked: Vec<SocketAddr> = first.iter().map(|(to, _)| *to).collect();
    assert_eq!(asked, routers[..3], "ALPHA queries, in order");

    // None of the three answers: nothing more until the short timeout.
    node.on_tick(t0 + SHORT_TIMEOUT - Duration::from_millis(1));
    assert!(sent_queries(&mut node).is_empty());
    assert_eq!(node.poll_timeout(), Some(t0 + SHORT_TIMEOUT));
    let slow_at = t0 + SHORT_TIMEOUT;
    node.on_tick(slow_at);
    let fourth = sent_queries(&mut node);
    assert_eq!(
        fourth.len(),
        1,
        "the fourth router, well before {QUERY_TIMEOUT:?}"
    );
    assert_eq!(fourth[0].0, routers[3]);

    // The first router answers late, still within the full timeout: its answer is
    // used, and the node it names is asked.
    let named = crate::wire::krpc::NodeInfo {
        id: NodeId([0x01; 20]),
        addr: addr(200),
    };
    let late = slow_at + Duration::from_millis(200);
    node.on_datagram(first[0].0, &answer(&first[0].1, 0x80, vec![named]), late);
    let next = sent_queries(&mut node);
    assert_eq!(
        next.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        [named.addr]
    );
    assert_eq!(node.table().len(), 1);

    // The other two fail at the full timeout; the lookup ends once the rest answered.
    node.on_tick(t0 + QUERY_TIMEOUT);
    assert_eq!(node.counters().timeouts, 2);
    assert!(
        node.poll_event().is_none(),
        "the fourth router and the named node"
    );
    let after = t0 + QUERY_TIMEOUT + Duration::from_millis(100);
    node.on_datagram(fourth[0].0, &answer(&fourth[0].1, 0x40, vec![]), after);
    node.on_datagram(named.addr, &answer(&next[0].1, 0x01, vec![]), after);
    assert_eq!(
        node.poll_event(),
        Some(DhtEvent::Done {
            lookup,
            queries: 5,
            answered: 3,
            announced: 0,
        })
    );
}

/// Node `i` of a dozen at public addresses, each in another bucket of `own`.
fn voter(own: &NodeId, i: usize) -> crate::wire::krpc::NodeInfo {
    let mut id = own.0;
    id[i / 8] ^= 0x80 >> (i % 8);
    crate::wire::krpc::NodeInfo {
        id: NodeId(id),
        addr: SocketAddr::from(([198, 51, 100, 1 + i as u8], 6881)),
    }
}

/// `from` pings `node`, which checks it with a ping of its own; the answer says
/// `node` was seen at `seen`.
fn ping_seen_at(
    node: &mut Node,
    from: crate::wire::krpc::NodeInfo,
    seen: SocketAddr,
    now: Instant,
) {
    let mut ping = b"d1:ad2:id20:".to_vec();
    ping.extend_from_slice(&from.id.0);
    ping.extend_from_slice(b"e1:q4:ping1:t2:aa1:y1:qe");
    node.on_datagram(from.addr, &ping, now);
    for (to, tid) in sent_queries(node) {
        if to == from.addr {
            node.on_datagram(to, &answer_seeing(&tid, from.id, vec![], Some(seen)), now);
        }
    }
}

#[test]
fn enough_nodes_seeing_our_public_address_give_us_a_bep_42_id() {
    use super::bep42::{VOTES_NEEDED, is_valid};
    let now = Instant::now();
    let random = NodeId([0x33; 20]);
    let public: SocketAddr = "203.0.113.7:6881".parse().unwrap();
    assert!(!is_valid(&random, public.ip()));
    let voters: Vec<_> = (0..VOTES_NEEDED + 2).map(|i| voter(&random, i)).collect();

    // Behind a LAN address: exempt, the id stays.
    let mut lan = Node::new(random, NodeConfig::default(), 9, now);
    for v in &voters {
        ping_seen_at(&mut lan, *v, "192.168.1.20:6881".parse().unwrap(), now);
    }
    assert_eq!(lan.table().len(), voters.len());
    assert_eq!(lan.table().own(), random);
    assert_eq!(lan.external_ip(), None);

    // Too few voters (one saying it twice counts once): not yet.
    let mut node = Node::new(random, NodeConfig::default(), 9, now);
    for v in &voters[..VOTES_NEEDED - 1] {
        ping_seen_at(&mut node, *v, public, now);
    }
    ping_seen_at(&mut node, voters[0], public, now);
    assert_eq!(node.table().own(), random);
    assert_eq!(node.external_ip(), None);
    assert_eq!(node.lookups_running(), 0);
    // Enough distinct ones: a valid id, the table around it, and a lookup of it.
    for v in &voters[VOTES_NEEDED - 1..] {
        ping_seen_at(&mut node, *v, public, now);
    }
    assert_eq!(node.external_ip(), Some(public.ip()));
    let own = node.table().own();
    assert!(is_valid(&own, public.ip()), "{own:?}");
    // Around the new id the voters crowd into fewer buckets: a full one keeps the
    // rest among its replacements.
    let kept = node.table().nodes();
    assert!(kept.len() >= K, "{} nodes kept", kept.len());
    assert!(kept.iter().all(|n| voters.contains(n)));
    assert_eq!(node.lookups_running(), 1, "our new neighbourhood");
    // Our answers tell others where we saw them (BEP 42) and carry the new id.
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let asker: SocketAddr = "198.51.100.99:7000".parse().unwrap();
    node.on_datagram(asker, ping, now);
    let reply = std::iter::from_fn(|| node.poll_send())
        .filter_map(|(_, b)| crate::wire::krpc::decode(&b).ok())
        .find(|m| matches!(m.body, crate::wire::krpc::Body::Response(_)))
        .expect("a pong");
    assert_eq!(reply.ip, Some(asker));
    assert!(matches!(reply.body, crate::wire::krpc::Body::Response(r) if r.id == own));

    // A tracker's word counts before the votes decide, never for a local address.
    let mut told = Node::new(random, NodeConfig::default(), 9, now);
    told.set_external_ip("10.0.0.2".parse().unwrap(), now);
    assert_eq!(told.table().own(), random);
    told.set_external_ip(public.ip(), now);
    assert!(is_valid(&told.table().own(), public.ip()));
    // An id valid already is kept.
    let kept = told.table().own();
    let mut again = Node::new(kept, NodeConfig::default(), 9, now);
    again.set_external_ip(public.ip(), now);
    assert_eq!(again.table().own(), kept);
}
