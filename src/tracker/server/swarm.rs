//! One swarm of the tracker, stored compactly: its IPv4 peers in one vector of packed
//! 30-byte entries and its IPv6 peers, if it has any, in a second one of 42-byte entries
//! (boxed, so a swarm without IPv6 peers pays one pointer for them). Each vector keeps
//! its seeders first and its leechers after them, so "leechers only" is a suffix and a
//! uniform random sample of `k` peers is O(k).
//!
//! A family of up to [`INDEX_ABOVE`] peers has no index: finding a peer is a linear scan
//! of a few cache lines, cheaper than a hash table and without its memory. Past that the
//! family builds an [`Index`], an open-addressing table of 4-byte positions keyed by
//! address and port, and drops it again below [`UNINDEX_BELOW`] (the gap keeps a swarm
//! that hovers around the threshold from rebuilding on every announce). Finding,
//! adding, moving and removing a peer are O(1) either way (the partition is kept with
//! swaps, each fixing the index).
//!
//! Entries hold the time of the last announce as a [`Tick`], whole seconds since the
//! tracker's epoch, in 31 bits (68 years), and the `completed` mark in the 32nd.
//!
//! Invariants (checked by [`Swarm::check_invariants`]):
//! - in each family the first `seeders` entries are the seeders;
//! - no address:port is listed twice; every port is non-zero; no IPv4-mapped IPv6
//!   address is in the IPv6 family (those are stored as IPv4);
//! - a family of more than [`INDEX_ABOVE`] peers has an index, one of fewer than
//!   [`UNINDEX_BELOW`] has none, and an index maps exactly the family's entries, each to
//!   its position, at most 3/4 full;
//! - at most `downloaded` listed peers carry the `completed` mark.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::rng::Rng;
use crate::tracker::{PeerEntry, ScrapeStats};
use crate::types::{InfoHash, PeerId};

/// A family of more peers than this has an index.
pub(super) const INDEX_ABOVE: usize = 32;
/// A family of fewer peers than this drops its index.
pub(super) const UNINDEX_BELOW: usize = 16;

/// Whole seconds since the tracker's epoch, below 2^31.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Tick(pub u32);

impl Tick {
    /// The largest tick an entry can hold.
    pub const MAX: Tick = Tick(COMPLETED - 1);
}

/// The `completed` mark in an entry's `seen` word.
const COMPLETED: u32 = 1 << 31;

/// An IP address in its wire form: `[u8; 4]` or `[u8; 16]`.
pub(super) trait Ip: Copy + Eq + fmt::Debug + std::hash::Hash {
    /// The address.
    fn to_ip(self) -> IpAddr;
}

impl Ip for [u8; 4] {
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
}

impl Ip for [u8; 16] {
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
}

/// A listed peer, packed with alignment 1: 30 bytes for IPv4, 42 for IPv6.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Entry<A> {
    ip: A,
    port: [u8; 2],
    /// The [`Tick`] of its last announce, and [`COMPLETED`] once a `completed` from it
    /// was counted; little-endian.
    seen: [u8; 4],
    /// The peer id of its latest announce.
    peer_id: PeerId,
}

impl<A: Ip> Entry<A> {
    fn new(ip: A, port: u16, seen: Tick, peer_id: PeerId) -> Entry<A> {
        debug_assert!(seen <= Tick::MAX);
        Entry {
            ip,
            port: port.to_le_bytes(),
            seen: seen.0.to_le_bytes(),
            peer_id,
        }
    }

    fn is(&self, ip: A, port: u16) -> bool {
        self.ip == ip && self.port == port.to_le_bytes()
    }

    fn port(&self) -> u16 {
        u16::from_le_bytes(self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip.to_ip(), self.port())
    }

    fn word(&self) -> u32 {
        u32::from_le_bytes(self.seen)
    }

    /// When it last announced.
    fn seen(&self) -> Tick {
        Tick(self.word() & !COMPLETED)
    }

    /// A `completed` from it was counted.
    fn completed(&self) -> bool {
        self.word() & COMPLETED != 0
    }

    fn set_word(&mut self, seen: Tick, completed: bool) {
        let flag = if completed { COMPLETED } else { 0 };
        self.seen = (seen.0.min(Tick::MAX.0) | flag).to_le_bytes();
    }
}

/// Positions of a family's entries by address and port: open addressing with linear
/// probing and backward-shift deletion, so there are no tombstones. Keyed by a
/// per-index random SipHash key, so clients choosing their ports cannot pile them into
/// one probe run.
#[derive(Debug)]
struct Index {
    hasher: RandomState,
    /// A power-of-two number of positions, [`EMPTY`] where free.
    slots: Vec<u32>,
}

/// A free slot of an [`Index`].
const EMPTY: u32 = u32::MAX;

impl Index {
    /// An index sized for `n` entries, at most half full.
    fn with_room_for(n: usize) -> Index {
        Index {
            hasher: RandomState::new(),
            slots: vec![EMPTY; (n * 2).next_power_of_two().max(8)],
        }
    }

    fn home<A: Ip>(&self, ip: A, port: u16) -> usize {
        self.hasher.hash_one((ip, port)) as usize & (self.slots.len() - 1)
    }

    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    /// The slot holding position `pos`, whose entry is `e`; it must be there.
    fn slot_of<A: Ip>(&self, e: &Entry<A>, pos: u32) -> usize {
        let mut i = self.home(e.ip, e.port());
        while self.slots[i] != pos {
            debug_assert_ne!(self.slots[i], EMPTY, "position {pos} not indexed");
            i = self.next(i);
        }
        i
    }

    fn insert<A: Ip>(&mut self, e: &Entry<A>, pos: u32) {
        let mut i = self.home(e.ip, e.port());
        while self.slots[i] != EMPTY {
            i = self.next(i);
        }
        self.slots[i] = pos;
    }

    /// Frees slot `hole`, shifting back the entries of its probe run that may move.
    fn remove_slot<A: Ip>(&mut self, mut hole: usize, entries: &[Entry<A>]) {
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = self.next(j);
            let pos = self.slots[j];
            if pos == EMPTY {
                break;
            }
            let e = &entries[pos as usize];
            let home = self.home(e.ip, e.port());
            // It may fill the hole if the hole lies on its way from home to `j`.
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.slots[hole] = pos;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
    }
}

/// The peers of one address family in a swarm. See the module docs.
#[derive(Debug)]
pub(super) struct Family<A> {
    /// Seeders first, then leechers.
    entries: Vec<Entry<A>>,
    /// How many of `entries` are seeders.
    seeders: u32,
    /// Present while the family is large.
    index: Option<Box<Index>>,
}

impl<A: Ip> Default for Family<A> {
    fn default() -> Self {
        Family {
            entries: Vec::new(),
            seeders: 0,
            index: None,
        }
    }
}

impl<A: Ip> Family<A> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn seeders(&self) -> usize {
        self.seeders as usize
    }

    fn find(&self, ip: A, port: u16) -> Option<u32> {
        let Some(index) = &self.index else {
            return self
                .entries
                .iter()
                .position(|e| e.is(ip, port))
                .map(pos_u32);
        };
        let mut i = index.home(ip, port);
        loop {
            let pos = index.slots[i];
            if pos == EMPTY {
                return None;
            }
            if self.entries[pos as usize].is(ip, port) {
                return Some(pos);
            }
            i = index.next(i);
        }
    }

    /// Appends `e`; returns its position.
    fn push(&mut self, e: Entry<A>) -> u32 {
        let len = self.entries.len();
        if len == self.entries.capacity() {
            // Grow by a quarter (at least 2) instead of doubling: most swarms are
            // small and never grow again, and a big one reallocates with `mremap`.
            self.entries.reserve_exact((len / 4).max(2));
        }
        self.entries.push(e);
        let pos = pos_u32(len);
        match &mut self.index {
            Some(index) if (len + 1) * 4 > index.slots.len() * 3 => self.reindex(),
            Some(index) => index.insert(&e, pos),
            None if len + 1 > INDEX_ABOVE => self.reindex(),
            None => {}
        }
        pos
    }

    /// Builds the index afresh, at most half full.
    fn reindex(&mut self) {
        let mut index = Index::with_room_for(self.entries.len());
        for (pos, e) in self.entries.iter().enumerate() {
            index.insert(e, pos_u32(pos));
        }
        self.index = Some(Box::new(index));
    }

    /// Exchanges the entries at `p` and `q`.
    fn swap(&mut self, p: u32, q: u32) {
        if p == q {
            return;
        }
        if let Some(index) = &mut self.index {
            let sp = index.slot_of(&self.entries[p as usize], p);
            let sq = index.slot_of(&self.entries[q as usize], q);
            index.slots[sp] = q;
            index.slots[sq] = p;
        }
        self.entries.swap(p as usize, q as usize);
    }

    /// Takes the last entry out, then drops the index or spare capacity if the family
    /// has shrunk enough.
    fn pop(&mut self) -> Option<Entry<A>> {
        let last = self.entries.len().checked_sub(1)?;
        if let Some(index) = &mut self.index {
            let slot = index.slot_of(&self.entries[last], pos_u32(last));
            index.remove_slot(slot, &self.entries);
        }
        let e = self.entries.pop()?;
        let len = self.entries.len();
        match &self.index {
            Some(_) if len < UNINDEX_BELOW => self.index = None,
            Some(index) if len * 8 < index.slots.len() => self.reindex(),
            _ => {}
        }
        let spare = self.entries.capacity() - len;
        if len == 0 {
            self.entries = Vec::new();
        } else if spare > (len / 2).max(4) {
            self.entries.shrink_to(len + (len / 4).max(2));
        }
        Some(e)
    }

    /// Lists `e` as a seeder or a leecher; returns its position.
    fn insert(&mut self, e: Entry<A>, seeder: bool) -> u32 {
        let pos = self.push(e);
        if !seeder {
            return pos;
        }
        // The first leecher goes to the end; the new seeder takes its place.
        let at = self.seeders;
        self.swap(pos, at);
        self.seeders += 1;
        at
    }

    /// Unlists the entry at `pos`; returns it and whether it was a seeder.
    fn remove(&mut self, mut pos: u32) -> (Entry<A>, bool) {
        let seeder = pos < self.seeders;
        if seeder {
            // The last seeder takes its place; it moves to the seeders' boundary and
            // becomes the first leecher position.
            self.seeders -= 1;
            self.swap(pos, self.seeders);
            pos = self.seeders;
        }
        let last = pos_u32(self.entries.len() - 1);
        self.swap(pos, last);
        let e = self.pop().unwrap_or_else(|| unreachable!("a listed entry"));
        (e, seeder)
    }

    /// Moves the entry at `pos` to the seeders or the leechers; returns its position.
    fn set_seeder(&mut self, pos: u32, seeder: bool) -> u32 {
        match (pos < self.seeders, seeder) {
            (false, true) => {
                let at = self.seeders;
                self.swap(pos, at);
                self.seeders += 1;
                at
            }
            (true, false) => {
                self.seeders -= 1;
                let at = self.seeders;
                self.swap(pos, at);
                at
            }
            _ => pos,
        }
    }

    fn heap_bytes(&self) -> usize {
        alloc_bytes(self.entries.capacity() * size_of::<Entry<A>>())
            + self.index.as_ref().map_or(0, |index| {
                alloc_bytes(size_of::<Index>()) + alloc_bytes(index.slots.capacity() * 4)
            })
    }

    /// Panics if a family invariant in the module docs is broken; returns the
    /// `completed` marks.
    fn check_invariants(&self) -> u64 {
        let len = self.entries.len();
        assert!(self.seeders() <= len);
        let mut seen = HashSet::new();
        let mut completed = 0;
        for (pos, e) in self.entries.iter().enumerate() {
            assert!(seen.insert((e.ip, e.port)), "{} listed twice", e.addr());
            assert_ne!(e.port(), 0);
            assert_eq!(
                self.find(e.ip, e.port()),
                Some(pos_u32(pos)),
                "{}",
                e.addr()
            );
            completed += u64::from(e.completed());
        }
        assert!(
            len <= INDEX_ABOVE || self.index.is_some(),
            "large but no index"
        );
        assert!(
            len >= UNINDEX_BELOW || self.index.is_none(),
            "small but indexed"
        );
        if let Some(index) = &self.index {
            let used = index.slots.iter().filter(|&&s| s != EMPTY).count();
            assert_eq!(used, len, "index holds other positions");
            assert!(used * 4 <= index.slots.len() * 3, "index too full");
            assert!(index.slots.len().is_power_of_two());
        }
        completed
    }
}

/// Where a listed peer sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    /// In the IPv6 family, else the IPv4 one.
    pub v6: bool,
    /// Its position there.
    pub pos: u32,
}

/// Where an expiry sweep stands within one swarm: the IPv4 family first, then IPv6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cursor {
    /// Walking the IPv6 family (the IPv4 one is done).
    pub v6: bool,
    /// The next position to examine.
    pub pos: usize,
}

/// Peers removed by an expiry step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// Seeders removed.
    pub seeders: usize,
    /// Leechers removed.
    pub leechers: usize,
}

/// The peers of one torrent. See the module docs.
#[derive(Debug)]
pub(super) struct Swarm {
    /// The torrent.
    pub info_hash: InfoHash,
    /// `completed` events counted (once per listed peer), saturating.
    pub downloaded: u32,
    v4: Family<[u8; 4]>,
    v6: Option<Box<Family<[u8; 16]>>>,
}

impl Swarm {
    /// An empty swarm.
    pub fn new(info_hash: InfoHash) -> Swarm {
        Swarm {
            info_hash,
            downloaded: 0,
            v4: Family::default(),
            v6: None,
        }
    }

    /// Peers listed.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.as_ref().map_or(0, |f| f.len())
    }

    /// No peer is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seeders and leechers listed.
    pub fn counts(&self) -> (usize, usize) {
        let seeders = self.v4.seeders() + self.v6.as_ref().map_or(0, |f| f.seeders());
        (seeders, self.len() - seeders)
    }

    /// The counts a scrape or an announce answer reports.
    pub fn stats(&self) -> ScrapeStats {
        let (seeders, leechers) = self.counts();
        ScrapeStats {
            complete: count_u32(seeders),
            downloaded: self.downloaded,
            incomplete: count_u32(leechers),
        }
    }

    /// Where the peer at `addr` sits, if listed. `addr` is canonical.
    pub fn get(&self, addr: &SocketAddr) -> Option<Slot> {
        match addr.ip() {
            IpAddr::V4(ip) => self
                .v4
                .find(ip.octets(), addr.port())
                .map(|pos| Slot { v6: false, pos }),
            IpAddr::V6(ip) => {
                let pos = self.v6.as_ref()?.find(ip.octets(), addr.port())?;
                Some(Slot { v6: true, pos })
            }
        }
    }

    /// Whether the peer at `slot`, which must be current, is a seeder.
    pub fn is_seeder(&self, slot: Slot) -> bool {
        match self.family_seeders(slot.v6) {
            Some(seeders) => (slot.pos as usize) < seeders,
            None => false,
        }
    }

    fn family_seeders(&self, v6: bool) -> Option<usize> {
        if v6 {
            self.v6.as_ref().map(|f| f.seeders())
        } else {
            Some(self.v4.seeders())
        }
    }

    /// Lists a peer not listed yet at canonical `addr`; returns its slot.
    pub fn insert(&mut self, addr: SocketAddr, peer_id: PeerId, seen: Tick, seeder: bool) -> Slot {
        debug_assert!(self.get(&addr).is_none());
        match addr.ip() {
            IpAddr::V4(ip) => {
                let e = Entry::new(ip.octets(), addr.port(), seen, peer_id);
                let pos = self.v4.insert(e, seeder);
                Slot { v6: false, pos }
            }
            IpAddr::V6(ip) => {
                let e = Entry::new(ip.octets(), addr.port(), seen, peer_id);
                let pos = self.v6.get_or_insert_default().insert(e, seeder);
                Slot { v6: true, pos }
            }
        }
    }

    /// Unlists the peer at `addr`; returns whether it was a seeder.
    pub fn remove(&mut self, addr: &SocketAddr) -> Option<bool> {
        let slot = self.get(addr)?;
        Some(self.remove_at(slot))
    }

    /// Unlists the peer at `slot`, which must be current; returns whether it was a
    /// seeder. The IPv6 family goes once it is empty.
    fn remove_at(&mut self, slot: Slot) -> bool {
        if !slot.v6 {
            return self.v4.remove(slot.pos).1;
        }
        let Some(family) = &mut self.v6 else {
            unreachable!("a current slot")
        };
        let (_, seeder) = family.remove(slot.pos);
        if family.len() == 0 {
            self.v6 = None;
        }
        seeder
    }

    /// Moves the peer at `slot` to the seeders or the leechers; returns its new slot.
    pub fn set_seeder(&mut self, slot: Slot, seeder: bool) -> Slot {
        let pos = match (slot.v6, &mut self.v6) {
            (false, _) => self.v4.set_seeder(slot.pos, seeder),
            (true, Some(f)) => f.set_seeder(slot.pos, seeder),
            (true, None) => unreachable!("a current slot"),
        };
        Slot { pos, ..slot }
    }

    /// Records an announce of the peer at `slot`: when, and its peer id. Returns true
    /// if `completed` is set and was not counted for this peer yet (it is now marked).
    pub fn refresh(&mut self, slot: Slot, seen: Tick, peer_id: PeerId, completed: bool) -> bool {
        fn apply<A: Ip>(e: &mut Entry<A>, seen: Tick, peer_id: PeerId, completed: bool) -> bool {
            let first = completed && !e.completed();
            e.set_word(seen, completed || e.completed());
            e.peer_id = peer_id;
            first
        }
        let pos = slot.pos as usize;
        match (slot.v6, &mut self.v6) {
            (false, _) => apply(&mut self.v4.entries[pos], seen, peer_id, completed),
            (true, Some(f)) => apply(&mut f.entries[pos], seen, peer_id, completed),
            (true, None) => unreachable!("a current slot"),
        }
    }

    /// Appends to `out` a uniform random sample of up to `want` listed peers, in random
    /// order: leechers only if `leechers_only`, else everyone, never the peer at
    /// `requester`. Costs O(`want`) expected, whatever the swarm's size: positions are
    /// drawn with Floyd's algorithm (`picked` is scratch space) over the eligible IPv4
    /// entries followed by the eligible IPv6 ones (each a suffix of its family),
    /// skipping the requester's position.
    pub fn sample(
        &self,
        requester: Option<Slot>,
        leechers_only: bool,
        want: usize,
        rng: &mut Rng,
        picked: &mut HashSet<u32>,
        out: &mut Vec<PeerEntry>,
    ) {
        let empty = Family::default();
        let v6 = self.v6.as_deref().unwrap_or(&empty);
        let from = |f: usize| if leechers_only { f } else { 0 };
        let (lo4, lo6) = (from(self.v4.seeders()), from(v6.seeders()));
        let a = &self.v4.entries[lo4..];
        let b = &v6.entries[lo6..];
        let skip = requester.and_then(|s| {
            let pos = s.pos as usize;
            match s.v6 {
                false => pos.checked_sub(lo4),
                true => pos.checked_sub(lo6).map(|p| a.len() + p),
            }
        });
        let n = a.len() + b.len() - usize::from(skip.is_some());
        let k = want.min(n);
        let start = out.len();
        let mut push = |v: usize| {
            let v = if skip.is_some_and(|s| v >= s) {
                v + 1
            } else {
                v
            };
            let (addr, peer_id) = match a.get(v) {
                Some(e) => (e.addr(), e.peer_id),
                None => {
                    let e = &b[v - a.len()];
                    (e.addr(), e.peer_id)
                }
            };
            out.push(PeerEntry {
                addr,
                peer_id: Some(peer_id),
            });
        };
        if k == n {
            (0..n).for_each(&mut push);
        } else {
            // Floyd: for j in n-k..n draw t in 0..=j; take t, or j if t was taken. Every
            // k-subset comes out equally likely.
            picked.clear();
            for j in n - k..n {
                let t = rng.below(j + 1) as u32;
                if picked.insert(t) {
                    push(t as usize);
                } else {
                    picked.insert(j as u32);
                    push(j);
                }
            }
        }
        let drawn = &mut out[start..];
        for i in (1..drawn.len()).rev() {
            drawn.swap(i, rng.below(i + 1));
        }
    }

    /// Examines up to `budget` peers from `cursor` on and removes those silent for
    /// more than `timeout` ticks at `now`, counting them in `tally`. Returns true once
    /// the cursor has passed the last IPv6 peer.
    pub fn expire_step(
        &mut self,
        cursor: &mut Cursor,
        now: Tick,
        timeout: u32,
        budget: &mut usize,
        tally: &mut Tally,
    ) -> bool {
        loop {
            let seen = match (cursor.v6, &self.v6) {
                (false, _) => self.v4.entries.get(cursor.pos).map(Entry::seen),
                (true, Some(f)) => f.entries.get(cursor.pos).map(Entry::seen),
                (true, None) => None,
            };
            let Some(seen) = seen else {
                if cursor.v6 {
                    return true;
                }
                *cursor = Cursor { v6: true, pos: 0 };
                continue;
            };
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            if now.0.saturating_sub(seen.0) > timeout {
                // Another peer moves into this position; examine it next.
                let slot = Slot {
                    v6: cursor.v6,
                    pos: pos_u32(cursor.pos),
                };
                if self.remove_at(slot) {
                    tally.seeders += 1;
                } else {
                    tally.leechers += 1;
                }
            } else {
                cursor.pos += 1;
            }
        }
    }

    /// Heap bytes held, as the allocator rounds them, not counting the struct.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes()
            + self.v6.as_ref().map_or(0, |f| {
                alloc_bytes(size_of::<Family<[u8; 16]>>()) + f.heap_bytes()
            })
    }

    /// Checks the one peer at `addr` and the counts, for debug builds after each
    /// announce: O(1) with an index, else a scan of at most [`INDEX_ABOVE`] entries.
    pub fn check_peer(&self, addr: &SocketAddr) {
        let (seeders, leechers) = self.counts();
        assert_eq!(seeders + leechers, self.len());
        if let Some(slot) = self.get(addr) {
            let found = match (slot.v6, &self.v6) {
                (false, _) => self.v4.entries[slot.pos as usize].addr(),
                (true, Some(f)) => f.entries[slot.pos as usize].addr(),
                (true, None) => panic!("slot in a missing family"),
            };
            assert_eq!(found, *addr);
        }
    }

    /// Panics if an invariant in the module docs is broken. O(peers).
    pub fn check_invariants(&self) {
        let mut completed = self.v4.check_invariants();
        if let Some(f) = &self.v6 {
            assert!(f.len() > 0, "empty IPv6 family kept");
            completed += f.check_invariants();
            for e in &f.entries {
                assert!(Ipv6Addr::from(e.ip).to_ipv4_mapped().is_none());
            }
        }
        assert!(completed <= u64::from(self.downloaded));
    }
}

/// A position as stored (families hold far fewer than 2^32 peers).
fn pos_u32(pos: usize) -> u32 {
    debug_assert!(pos < EMPTY as usize);
    pos as u32
}

/// An estimate of the heap bytes of a std `HashMap` with `capacity` and entries of
/// `entry` bytes: hashbrown keeps a power-of-two number of buckets, at most 7/8 full,
/// each an entry plus one control byte, plus one group of trailing control bytes.
pub(super) fn map_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8).div_ceil(7).next_power_of_two();
    alloc_bytes(buckets * (entry + 1) + 16)
}

/// What an allocation of `n` bytes costs the process: glibc's malloc adds an 8-byte
/// header and rounds the chunk up to 16 bytes, at least 32. Nothing for `n` 0 (no
/// allocation was made).
pub(super) fn alloc_bytes(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (n + 8).next_multiple_of(16).max(32)
}

/// A count as the `u32` the wire carries, saturating (limits keep it far below).
pub(super) fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "swarm_tests.rs"]
mod tests;
