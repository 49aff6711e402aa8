//! The routing table of a DHT node (BEP 5): buckets of at most [`K`] nodes by how
//! many leading bits a node's id shares with ours, the bucket holding our own id split
//! when it overflows, so the table knows many nodes near us and a few far away.
//!
//! Pure and sans-io: every call takes `now`. A node enters only once it has answered
//! one of our queries (an address that merely sends us queries may be spoofed). Its
//! state follows BEP 5's 15-minute rule: *good* when it answered within
//! [`GOOD_FOR`], *questionable* after that (ping it: [`RoutingTable::to_ping`]), *bad*
//! after [`MAX_FAILS`] queries in a row went unanswered; a full bucket takes a
//! newcomer in place of a bad node, else keeps it in a small replacement cache that
//! fills the place of the next node to go bad. A bucket nothing has changed in for
//! [`REFRESH_AFTER`] asks for a lookup of a random id inside it
//! ([`RoutingTable::to_refresh`]).
//!
//! With `one_per_ip` (the default for a node on the internet) one address holds at
//! most one entry, so a single host cannot fill the table with made-up ids.
//!
//! BEP 42 is preferred, not enforced (much of the network ignores it): a node whose
//! id is valid for its address, or whose address is exempt, takes the place of one
//! that is not in a full bucket (a questionable one first, else the one heard from
//! longest ago), and the one it displaces waits among the replacements; a bad node's
//! place goes to the newest such replacement first.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::bep42;
use crate::wire::krpc::{NodeId, NodeInfo};

/// Nodes per bucket.
pub const K: usize = 8;
/// Replacement candidates kept per bucket.
pub const REPLACEMENTS: usize = 8;
/// How long an answer keeps a node good.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row that make a node bad.
pub const MAX_FAILS: u8 = 3;
/// A bucket unchanged this long is refreshed by a lookup.
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);

/// `a` XOR `b`, compared as a 160-bit big-endian number: the DHT's distance.
pub fn distance(a: &NodeId, b: &NodeId) -> [u8; 20] {
    let mut d = [0u8; 20];
    for (i, x) in d.iter_mut().enumerate() {
        *x = a.0[i] ^ b.0[i];
    }
    d
}

/// Leading bits `a` and `b` share (160 when equal).
pub fn common_prefix(a: &NodeId, b: &NodeId) -> usize {
    let d = distance(a, b);
    d.iter()
        .position(|&x| x != 0)
        .map_or(160, |i| i * 8 + d[i].leading_zeros() as usize)
}

/// A node in the table.
#[derive(Debug, Clone)]
struct Entry {
    info: NodeInfo,
    /// Its last answer to us.
    answered_at: Instant,
    /// Queries sent since its last answer that went unanswered.
    fails: u8,
}

/// Whether BEP 42 accepts `node`'s id for its address.
fn acceptable(node: &NodeInfo) -> bool {
    bep42::acceptable(&node.id, node.addr.ip())
}

impl Entry {
    fn bad(&self) -> bool {
        self.fails >= MAX_FAILS
    }

    fn good(&self, now: Instant) -> bool {
        !self.bad() && now.saturating_duration_since(self.answered_at) < GOOD_FOR
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    nodes: Vec<Entry>,
    /// Newest last.
    replacements: Vec<NodeInfo>,
    changed_at: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            nodes: Vec::new(),
            replacements: Vec::new(),
            changed_at: now,
        }
    }
}

/// What [`RoutingTable::on_answer`] did with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It was in the table; now it is good again.
    Refreshed,
    /// It took a free or bad place, or (BEP 42-valid) the place of a node that is not.
    Inserted,
    /// Its bucket is full of live nodes: it waits among the replacements.
    Replacement,
    /// Refused: our own id, or its address already holds another id.
    Refused,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
    one_per_ip: bool,
}

impl RoutingTable {
    /// An empty table around `own`.
    pub fn new(own: NodeId, one_per_ip: bool, now: Instant) -> RoutingTable {
        RoutingTable {
            own,
            buckets: vec![Bucket::new(now)],
            one_per_ip,
        }
    }

    /// Our id.
    pub fn own(&self) -> NodeId {
        self.own
    }

    /// Nodes in the table (not counting replacements).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether no node is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buckets, at least 1 and at most 160.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn bucket_of(&self, id: &NodeId) -> usize {
        common_prefix(&self.own, id).min(self.buckets.len() - 1)
    }

    fn find(&self, addr: SocketAddr) -> Option<(usize, usize)> {
        self.buckets.iter().enumerate().find_map(|(b, bucket)| {
            bucket
                .nodes
                .iter()
                .position(|e| e.info.addr == addr)
                .map(|n| (b, n))
        })
    }

    fn ip_taken(&self, ip: IpAddr, except: &NodeId) -> bool {
        self.buckets.iter().any(|b| {
            b.nodes
                .iter()
                .any(|e| e.info.addr.ip() == ip && e.info.id != *except)
        })
    }

    /// Whether `node` is in the table at that address.
    pub fn contains(&self, node: &NodeInfo) -> bool {
        self.buckets[self.bucket_of(&node.id)]
            .nodes
            .iter()
            .any(|e| e.info == *node)
    }

    /// Whether an answer from `node` would put it in the table (a free or bad place
    /// in its bucket, or the bucket would split): worth pinging a node that queried us.
    pub fn wants(&self, node: &NodeInfo) -> bool {
        if node.id == self.own || self.find(node.addr).is_some() {
            return false;
        }
        if self.one_per_ip && self.ip_taken(node.addr.ip(), &node.id) {
            return false;
        }
        let b = self.bucket_of(&node.id);
        let bucket = &self.buckets[b];
        bucket.nodes.len() < K
            || bucket.nodes.iter().any(Entry::bad)
            || (b == self.buckets.len() - 1 && b < 159)
            || (acceptable(node) && bucket.nodes.iter().any(|e| !acceptable(&e.info)))
    }

    /// `node` answered one of our queries.
    pub fn on_answer(&mut self, node: NodeInfo, now: Instant) -> Added {
        if node.id == self.own {
            return Added::Refused;
        }
        if let Some((b, n)) = self.find(node.addr) {
            let e = &mut self.buckets[b].nodes[n];
            if e.info.id == node.id {
                e.answered_at = now;
                e.fails = 0;
                return Added::Refreshed;
            }
            // The address answers with another id now: the old entry is stale.
            self.buckets[b].nodes.remove(n);
        }
        if self.one_per_ip && self.ip_taken(node.addr.ip(), &node.id) {
            return Added::Refused;
        }
        self.place(
            Entry {
                info: node,
                answered_at: now,
                fails: 0,
            },
            now,
        )
    }

    /// Puts `entry` (its id not ours, its address in no other entry) where it belongs.
    fn place(&mut self, entry: Entry, now: Instant) -> Added {
        let node = entry.info;
        loop {
            let b = self.bucket_of(&node.id);
            let bucket = &mut self.buckets[b];
            if let Some(e) = bucket.nodes.iter_mut().find(|e| e.info.id == node.id) {
                // Same id at a new address (it moved): keep the newest address.
                e.info.addr = node.addr;
                e.answered_at = e.answered_at.max(entry.answered_at);
                e.fails = 0;
                return Added::Refreshed;
            }
            if bucket.nodes.len() < K {
                bucket.nodes.push(entry);
                bucket.changed_at = now;
                return Added::Inserted;
            }
            if let Some(bad) = bucket.nodes.iter().position(Entry::bad) {
                bucket.nodes[bad] = entry;
                bucket.changed_at = now;
                return Added::Inserted;
            }
            let last = self.buckets.len() - 1;
            if b == last && last < 159 {
                self.split(now);
                continue;
            }
            let bucket = &mut self.buckets[b];
            if acceptable(&node) {
                // BEP 42: the questionable invalid node first, else the one silent longest.
                let displaced = (0..bucket.nodes.len())
                    .filter(|&i| !acceptable(&bucket.nodes[i].info))
                    .min_by_key(|&i| (bucket.nodes[i].good(now), bucket.nodes[i].answered_at));
                if let Some(i) = displaced {
                    let old = std::mem::replace(&mut bucket.nodes[i], entry);
                    bucket.changed_at = now;
                    add_replacement(bucket, old.info);
                    return Added::Inserted;
                }
            }
            add_replacement(bucket, node);
            return Added::Replacement;
        }
    }

    /// The same nodes around another id of ours (BEP 42 gave us a new one): each
    /// entry keeps its state, the best heard from placed first; replacements after.
    pub fn rebuilt_around(&self, own: NodeId, now: Instant) -> RoutingTable {
        let mut t = RoutingTable::new(own, self.one_per_ip, now);
        let mut entries: Vec<&Entry> = self.buckets.iter().flat_map(|b| &b.nodes).collect();
        entries.sort_by_key(|e| (e.fails, std::cmp::Reverse(e.answered_at)));
        for e in entries {
            if e.info.id != own {
                t.place(e.clone(), now);
            }
        }
        for r in self.buckets.iter().flat_map(|b| &b.replacements) {
            if r.id != own && t.find(r.addr).is_none() {
                let b = t.bucket_of(&r.id);
                add_replacement(&mut t.buckets[b], *r);
            }
        }
        t.check_invariants();
        t
    }

    /// The table's invariants (debug builds): every node in the bucket its id falls
    /// in, at most [`K`] nodes and [`REPLACEMENTS`] replacements a bucket, never our
    /// own id.
    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            for (i, b) in self.buckets.iter().enumerate() {
                assert!(b.nodes.len() <= K && b.replacements.len() <= REPLACEMENTS);
                for e in &b.nodes {
                    assert!(e.info.id != self.own);
                    assert_eq!(self.bucket_of(&e.info.id), i);
                }
            }
        }
    }

    /// Splits the last bucket (the one our own id falls in).
    fn split(&mut self, now: Instant) {
        let depth = self.buckets.len();
        let own = self.own;
        let last = self.buckets.last_mut().expect("at least one bucket");
        let (far, near): (Vec<Entry>, Vec<Entry>) = last
            .nodes
            .drain(..)
            .partition(|e| common_prefix(&own, &e.info.id) < depth);
        let (far_r, near_r): (Vec<NodeInfo>, Vec<NodeInfo>) = last
            .replacements
            .drain(..)
            .partition(|r| common_prefix(&own, &r.id) < depth);
        last.nodes = far;
        last.replacements = far_r;
        last.changed_at = now;
        let mut next = Bucket::new(now);
        next.nodes = near;
        next.replacements = near_r;
        self.buckets.push(next);
    }

    /// A query to `addr` went unanswered. A node that fails [`MAX_FAILS`] times in a
    /// row is bad; a replacement, if its bucket has one, takes its place at once.
    pub fn on_timeout(&mut self, addr: SocketAddr, now: Instant) {
        let Some((b, n)) = self.find(addr) else {
            return;
        };
        let bucket = &mut self.buckets[b];
        bucket.nodes[n].fails = bucket.nodes[n].fails.saturating_add(1);
        if bucket.nodes[n].bad() {
            // The newest BEP 42-valid replacement, else the newest.
            let pick = bucket
                .replacements
                .iter()
                .rposition(acceptable)
                .or(bucket.replacements.len().checked_sub(1));
            if let Some(r) = pick.map(|i| bucket.replacements.remove(i)) {
                // Not yet heard from in its own right: questionable until it answers.
                bucket.nodes[n] = Entry {
                    info: r,
                    answered_at: now.checked_sub(GOOD_FOR).unwrap_or(now),
                    fails: 0,
                };
                bucket.changed_at = now;
            }
        }
    }

    /// The `n` known nodes closest to `target`, nearest first, bad ones left out.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<&Entry> = self
            .buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| !e.bad())
            .collect();
        all.sort_by_key(|e| distance(&e.info.id, target));
        all.into_iter().take(n).map(|e| e.info).collect()
    }

    /// Nodes not heard from for [`GOOD_FOR`] that are not yet bad: ping them.
    pub fn to_ping(&self, now: Instant) -> Vec<NodeInfo> {
        self.buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| !e.bad() && !e.good(now))
            .map(|e| e.info)
            .collect()
    }

    /// For each bucket unchanged for [`REFRESH_AFTER`], an id inside it to look up
    /// (its random bits from `random`); each such bucket counts as changed now.
    pub fn to_refresh(&mut self, now: Instant, mut random: impl FnMut() -> u64) -> Vec<NodeId> {
        let own = self.own;
        let depth = self.buckets.len();
        let mut out = Vec::new();
        for (i, bucket) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(bucket.changed_at) < REFRESH_AFTER {
                continue;
            }
            bucket.changed_at = now;
            out.push(id_in_bucket(&own, i, i + 1 == depth, &mut random));
        }
        out
    }

    /// Good nodes in the table.
    pub fn good_count(&self, now: Instant) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| e.good(now))
            .count()
    }

    /// Nodes in the table whose ids are valid for their (non-exempt) addresses by
    /// BEP 42.
    pub fn bep42_valid_count(&self) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| {
                bep42::is_valid(&e.info.id, e.info.addr.ip()) && !bep42::is_exempt(e.info.addr.ip())
            })
            .count()
    }

    /// Every node, for saving the table; the next start pings them back in.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.buckets
            .iter()
            .flat_map(|b| b.nodes.iter().map(|e| e.info))
            .collect()
    }
}

/// Keeps `node` among `bucket`'s replacements (newest last), the oldest dropped if
/// there are too many.
fn add_replacement(bucket: &mut Bucket, node: NodeInfo) {
    bucket
        .replacements
        .retain(|r| r.id != node.id && r.addr != node.addr);
    if bucket.replacements.len() >= REPLACEMENTS {
        bucket.replacements.remove(0);
    }
    bucket.replacements.push(node);
}

/// A random id that shares exactly `prefix` leading bits with `own` (at least
/// `prefix` for the last bucket, which holds everything nearer).
fn id_in_bucket(
    own: &NodeId,
    prefix: usize,
    last: bool,
    random: &mut impl FnMut() -> u64,
) -> NodeId {
    let mut id = [0u8; 20];
    for chunk in id.chunks_mut(8) {
        let r = random().to_be_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    for bit in 0..prefix.min(160) {
        let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
        id[byte] = (id[byte] & !mask) | (own.0[byte] & mask);
    }
    if !last && prefix < 160 {
        // The first differing bit: flip ours.
        let (byte, mask) = (prefix / 8, 0x80u8 >> (prefix % 8));
        id[byte] = (id[byte] & !mask) | (!own.0[byte] & mask);
    }
    NodeId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_with_prefix(own: &NodeId, prefix: usize, salt: u8) -> NodeId {
        let mut n = 0u64;
        let mut random = || {
            n += 1;
            u64::from(salt).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ n.wrapping_mul(0xbf58_476d_1ce4_e5b9)
        };
        id_in_bucket(own, prefix, false, &mut random)
    }

    fn node(id: NodeId, n: u16) -> NodeInfo {
        NodeInfo {
            id,
            addr: SocketAddr::from(([10, (n >> 8) as u8, n as u8, 1], 6881)),
        }
    }

    #[test]
    fn distance_and_prefix() {
        let a = NodeId([0; 20]);
        let mut b = [0u8; 20];
        b[2] = 0b0001_0000;
        let b = NodeId(b);
        assert_eq!(common_prefix(&a, &b), 16 + 3);
        assert_eq!(common_prefix(&a, &a), 160);
        assert_eq!(distance(&a, &b)[2], 0b0001_0000);
        let own = NodeId([0xab; 20]);
        for prefix in [0, 1, 7, 8, 100, 159] {
            assert_eq!(
                common_prefix(&own, &id_with_prefix(&own, prefix, 1)),
                prefix
            );
        }
    }

    #[test]
    fn buckets_split_near_us_and_stay_full_far_away() {
        let t0 = Instant::now();
        let own = NodeId([0x55; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        // 20 nodes far away (prefix 0): one bucket of K, the rest replacements.
        let mut n = 0;
        let mut outcomes = Vec::new();
        for salt in 0..20 {
            n += 1;
            outcomes.push(t.on_answer(node(id_with_prefix(&own, 0, salt), n), t0));
        }
        assert_eq!(t.len(), K, "{outcomes:?}");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == Added::Replacement)
                .count(),
            12
        );
        // Nodes ever nearer keep splitting our own bucket.
        for prefix in 1..40 {
            n += 1;
            assert_eq!(
                t.on_answer(node(id_with_prefix(&own, prefix, 0), n), t0),
                Added::Inserted
            );
        }
        assert_eq!(t.len(), K + 39);
        // The last bucket holds the K nearest without splitting further.
        assert_eq!(t.bucket_count(), 1 + 39 - K + 1, "{}", t.bucket_count());
        // The closest to our own id are the nearest ones.
        let near = t.closest(&own, 3);
        let prefixes: Vec<usize> = near.iter().map(|i| common_prefix(&own, &i.id)).collect();
        assert_eq!(prefixes, [39, 38, 37]);
    }

    #[test]
    fn answers_refresh_silence_questions_failures_replace() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        let far: Vec<NodeInfo> = (0..K as u16 + 1)
            .map(|i| node(id_with_prefix(&own, 0, i as u8), i + 1))
            .collect();
        for n in &far[..K] {
            assert_eq!(t.on_answer(*n, t0), Added::Inserted);
        }
        assert_eq!(t.on_answer(far[K], t0), Added::Replacement);
        assert_eq!(t.on_answer(far[0], t0), Added::Refreshed);
        assert_eq!(t.good_count(t0), K);
        // 15 minutes of silence: every node is questionable and to be pinged.
        let later = t0 + GOOD_FOR + Duration::from_secs(1);
        assert_eq!(t.good_count(later), 0);
        assert_eq!(t.to_ping(later).len(), K);
        assert_eq!(t.on_answer(far[1], later), Added::Refreshed);
        assert_eq!(t.to_ping(later).len(), K - 1);
        // Three timeouts make far[2] bad; the replacement takes its place.
        for _ in 0..MAX_FAILS {
            t.on_timeout(far[2].addr, later);
        }
        let ids: Vec<NodeId> = t.nodes().iter().map(|n| n.id).collect();
        assert!(!ids.contains(&far[2].id));
        assert!(ids.contains(&far[K].id));
        assert_eq!(t.len(), K);
    }

    #[test]
    fn one_entry_per_address_and_never_ourselves() {
        let t0 = Instant::now();
        let own = NodeId([7; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        let addr: SocketAddr = "192.0.2.1:6881".parse().unwrap();
        let a = NodeInfo {
            id: id_with_prefix(&own, 3, 1),
            addr,
        };
        let b = NodeInfo {
            id: id_with_prefix(&own, 3, 2),
            addr: "192.0.2.1:6882".parse().unwrap(),
        };
        assert_eq!(t.on_answer(a, t0), Added::Inserted);
        assert_eq!(t.on_answer(b, t0), Added::Refused, "same IP, another id");
        assert_eq!(t.on_answer(NodeInfo { id: own, addr }, t0), Added::Refused);
        // The same address answering with a new id replaces the stale entry.
        let moved = NodeInfo {
            id: id_with_prefix(&own, 5, 3),
            addr,
        };
        assert_eq!(t.on_answer(moved, t0), Added::Inserted);
        assert_eq!(t.nodes(), [moved]);
        // Loopback tests run many nodes on one address.
        let mut open = RoutingTable::new(own, false, t0);
        assert_eq!(open.on_answer(a, t0), Added::Inserted);
        assert_eq!(open.on_answer(b, t0), Added::Inserted);
    }

    #[test]
    fn stale_buckets_ask_for_a_lookup_inside_them() {
        let t0 = Instant::now();
        let own = NodeId([0x0f; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        for i in 0..=K as u16 {
            t.on_answer(node(id_with_prefix(&own, i as usize, 0), i + 1), t0);
        }
        let buckets = t.bucket_count();
        assert!(buckets > 1);
        assert!(t.to_refresh(t0 + Duration::from_secs(60), || 1).is_empty());
        let mut n = 0u64;
        let targets = t.to_refresh(t0 + REFRESH_AFTER, || {
            n += 1;
            n.wrapping_mul(0x2545_f491_4f6c_dd1d)
        });
        assert_eq!(targets.len(), buckets);
        for (i, target) in targets.iter().enumerate() {
            let p = common_prefix(&own, target);
            if i + 1 < buckets {
                assert_eq!(p, i);
            } else {
                assert!(p >= i);
            }
        }
        assert!(
            t.to_refresh(t0 + REFRESH_AFTER, || 1).is_empty(),
            "refreshed once"
        );
    }

    /// Nodes at public addresses (so BEP 42 applies) whose valid ids start with a 1
    /// bit: all in the far bucket of an id starting with 0.
    fn valid_far(n: usize, skip: usize) -> Vec<NodeInfo> {
        (0u32..)
            .map(|i| {
                let ip = IpAddr::from((0xc633_6400u32 + 1000 + i).to_be_bytes());
                let id = bep42::node_id(ip, i as u8, [i as u8; 20]);
                NodeInfo {
                    id,
                    addr: SocketAddr::new(ip, 6881),
                }
            })
            .filter(|n| n.id.0[0] & 0x80 != 0)
            .skip(skip)
            .take(n)
            .collect()
    }

    /// Nodes at public addresses with made-up ids in the far bucket of `own`.
    fn invalid_far(own: &NodeId, n: usize) -> Vec<NodeInfo> {
        (0..n)
            .map(|i| {
                let node = NodeInfo {
                    id: id_with_prefix(own, 0, i as u8),
                    addr: SocketAddr::from(([198, 51, 100, 1 + i as u8], 6881)),
                };
                assert!(!acceptable(&node));
                node
            })
            .collect()
    }

    #[test]
    fn a_bep_42_valid_node_displaces_an_invalid_one_questionable_first() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        let invalid = invalid_far(&own, K + 1);
        for n in &invalid[..K] {
            assert_eq!(t.on_answer(*n, t0), Added::Inserted);
        }
        assert_eq!(t.on_answer(invalid[K], t0), Added::Replacement);
        assert_eq!(t.bep42_valid_count(), 0);
        // Later, all but invalid[3] answer again, invalid[0] first: 3 is questionable.
        let t1 = t0 + GOOD_FOR + Duration::from_secs(1);
        for (i, n) in invalid[..K].iter().enumerate() {
            if i != 3 {
                t.on_answer(*n, t1 + Duration::from_millis(i as u64));
            }
        }
        let valid = valid_far(3, 0);
        let at = t1 + Duration::from_secs(1);
        assert!(t.wants(&valid[0]));
        assert!(!t.wants(&invalid[K]), "an invalid newcomer waits");
        assert_eq!(t.on_answer(valid[0], at), Added::Inserted);
        let ids = |t: &RoutingTable| t.nodes().iter().map(|n| n.id).collect::<Vec<_>>();
        assert!(
            !ids(&t).contains(&invalid[3].id),
            "the questionable one went"
        );
        assert_eq!(t.on_answer(valid[1], at), Added::Inserted);
        assert!(
            !ids(&t).contains(&invalid[0].id),
            "then the one heard from longest ago"
        );
        assert_eq!(t.len(), K);
        assert_eq!(t.bep42_valid_count(), 2);
        // The displaced wait among the replacements; the newest takes a bad place.
        for _ in 0..MAX_FAILS {
            t.on_timeout(invalid[5].addr, at);
        }
        assert!(ids(&t).contains(&invalid[0].id));
    }

    #[test]
    fn a_bad_place_goes_to_a_valid_replacement_and_valid_nodes_are_never_displaced() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        let valid = valid_far(K + 1, 0);
        for n in &valid[..K] {
            assert_eq!(t.on_answer(*n, t0), Added::Inserted);
        }
        let invalid = invalid_far(&own, 2);
        assert_eq!(t.on_answer(invalid[0], t0), Added::Replacement);
        assert!(!t.wants(&valid[K]), "no invalid node to displace");
        assert_eq!(t.on_answer(valid[K], t0), Added::Replacement);
        assert_eq!(t.on_answer(invalid[1], t0), Added::Replacement);
        for _ in 0..MAX_FAILS {
            t.on_timeout(valid[2].addr, t0);
        }
        let ids: Vec<NodeId> = t.nodes().iter().map(|n| n.id).collect();
        assert!(ids.contains(&valid[K].id), "the valid one, not the newest");
        assert!(!ids.contains(&invalid[1].id));
        assert_eq!(t.bep42_valid_count(), K);
    }

    #[test]
    fn a_table_rebuilt_around_a_new_id_keeps_its_nodes_and_their_state() {
        let t0 = Instant::now();
        let own = NodeId([0x55; 20]);
        let mut t = RoutingTable::new(own, true, t0);
        for i in 0..60u16 {
            let prefix = (i % 20) as usize;
            t.on_answer(node(id_with_prefix(&own, prefix, i as u8), i + 1), t0);
        }
        let later = t0 + GOOD_FOR;
        for n in t.nodes().iter().take(5) {
            t.on_answer(*n, later);
        }
        let new_own = NodeId([0xaa; 20]);
        let r = t.rebuilt_around(new_own, later);
        assert_eq!(r.own(), new_own);
        assert_eq!(r.good_count(later), 5, "the five heard from lately");
        let mut before: Vec<NodeInfo> = t.nodes();
        let mut after: Vec<NodeInfo> = r.nodes();
        before.sort_by_key(|n| n.id.0);
        after.sort_by_key(|n| n.id.0);
        // Far from the old id, near nothing of the new one: fewer buckets, some nodes
        // only among the replacements.
        assert!(after.len() <= before.len() && after.len() >= K);
        assert!(after.iter().all(|n| before.contains(n)));
        r.check_invariants();
    }
}
