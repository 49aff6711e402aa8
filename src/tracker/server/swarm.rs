//! One swarm of the tracker: its peers in two dense vectors, seeders and leechers, and
//! an index from address to position, so that finding, adding, moving and removing a
//! peer are O(1) (`swap_remove`, then the moved peer's index entry is fixed) and a
//! uniform random sample of `k` peers is O(k).
//!
//! Invariants (checked by [`Swarm::check_invariants`]):
//! - the index holds exactly the listed peers, each at the slot where it sits;
//! - every address is canonical (no IPv4-mapped IPv6, no flow info or scope id) and
//!   has a non-zero port;
//! - at most `downloaded` listed peers carry the `completed` mark.

use std::collections::{HashMap, HashSet};
use std::mem::size_of;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::tracker::{PeerEntry, ScrapeStats};
use crate::types::{InfoHash, PeerId};

/// A peer listed in a swarm.
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer {
    /// Where others connect to it; also its key in the swarm.
    pub addr: SocketAddr,
    /// The peer id of its latest announce.
    pub peer_id: PeerId,
    /// When it last announced.
    pub last_seen: Instant,
    /// A `completed` event from it was counted already.
    pub completed: bool,
}

/// Where a listed peer sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    /// In the seeders' vector, else the leechers'.
    pub seeder: bool,
    /// Its position there.
    pub pos: u32,
}

/// Where an expiry sweep stands within one swarm: seeders first, then leechers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cursor {
    /// Walking the leechers (the seeders are done).
    pub leechers: bool,
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
    seeders: Vec<Peer>,
    leechers: Vec<Peer>,
    index: HashMap<SocketAddr, Slot>,
    /// `completed` events counted (once per listed peer), saturating.
    pub downloaded: u32,
}

impl Swarm {
    /// An empty swarm.
    pub fn new(info_hash: InfoHash) -> Swarm {
        Swarm {
            info_hash,
            seeders: Vec::new(),
            leechers: Vec::new(),
            index: HashMap::new(),
            downloaded: 0,
        }
    }

    /// Peers listed.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No peer is listed.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The counts a scrape or an announce answer reports.
    pub fn stats(&self) -> ScrapeStats {
        ScrapeStats {
            complete: count_u32(self.seeders.len()),
            downloaded: self.downloaded,
            incomplete: count_u32(self.leechers.len()),
        }
    }

    /// Where the peer at `addr` sits, if listed.
    pub fn get(&self, addr: &SocketAddr) -> Option<Slot> {
        self.index.get(addr).copied()
    }

    /// The peer at `slot`, which must be current.
    pub fn peer_mut(&mut self, slot: Slot) -> &mut Peer {
        &mut self.list_mut(slot.seeder)[slot.pos as usize]
    }

    /// Lists a peer not listed yet.
    pub fn insert(&mut self, peer: Peer, seeder: bool) -> Slot {
        debug_assert!(!self.index.contains_key(&peer.addr));
        let list = self.list_mut(seeder);
        let slot = Slot {
            seeder,
            pos: count_u32(list.len()),
        };
        list.push(peer);
        self.index.insert(peer.addr, slot);
        slot
    }

    /// Unlists the peer at `addr`; returns it and whether it was a seeder.
    pub fn remove(&mut self, addr: &SocketAddr) -> Option<(Peer, bool)> {
        let slot = self.index.remove(addr)?;
        Some((self.take(slot), slot.seeder))
    }

    /// Moves the peer at `slot` to the seeders or the leechers; returns its new slot.
    pub fn set_seeder(&mut self, slot: Slot, seeder: bool) -> Slot {
        if slot.seeder == seeder {
            return slot;
        }
        let peer = self.take(slot);
        self.index.remove(&peer.addr);
        self.insert(peer, seeder)
    }

    /// Takes the peer at `slot` out of its vector, fixing the index entry of the peer
    /// `swap_remove` moves into its place. The caller removes its own index entry.
    fn take(&mut self, slot: Slot) -> Peer {
        let list = self.list_mut(slot.seeder);
        let peer = list.swap_remove(slot.pos as usize);
        if let Some(moved) = list.get(slot.pos as usize) {
            let moved = moved.addr;
            self.index.insert(moved, slot);
        }
        peer
    }

    /// Appends to `out` a uniform random sample of up to `want` listed peers, in random
    /// order: leechers only if `leechers_only`, else everyone, never the peer at
    /// `requester`. Costs O(`want`) expected, whatever the swarm's size: positions are
    /// drawn with Floyd's algorithm (`picked` is scratch space) over the seeders
    /// followed by the leechers, skipping the requester's position.
    pub fn sample(
        &self,
        requester: Option<Slot>,
        leechers_only: bool,
        want: usize,
        rng: &mut Rng,
        picked: &mut HashSet<u32>,
        out: &mut Vec<PeerEntry>,
    ) {
        let offset = if leechers_only { 0 } else { self.seeders.len() };
        let pool = offset + self.leechers.len();
        let skip = requester.and_then(|s| match s.seeder {
            true if leechers_only => None,
            true => Some(s.pos as usize),
            false => Some(offset + s.pos as usize),
        });
        let n = pool - usize::from(skip.is_some());
        let k = want.min(n);
        let start = out.len();
        let mut push = |v: usize| {
            let v = if skip.is_some_and(|s| v >= s) {
                v + 1
            } else {
                v
            };
            let peer = if v < offset {
                &self.seeders[v]
            } else {
                &self.leechers[v - offset]
            };
            out.push(PeerEntry {
                addr: peer.addr,
                peer_id: Some(peer.peer_id),
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
    /// longer than `timeout`, counting them in `tally`. Returns true once the cursor has
    /// passed the last leecher.
    pub fn expire_step(
        &mut self,
        cursor: &mut Cursor,
        now: Instant,
        timeout: Duration,
        budget: &mut usize,
        tally: &mut Tally,
    ) -> bool {
        loop {
            let list = self.list_mut(!cursor.leechers);
            if cursor.pos >= list.len() {
                if cursor.leechers {
                    return true;
                }
                *cursor = Cursor {
                    leechers: true,
                    pos: 0,
                };
                continue;
            }
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let peer = list[cursor.pos];
            if now.saturating_duration_since(peer.last_seen) > timeout {
                // The last peer moves into this position; examine it next.
                self.remove(&peer.addr);
                if cursor.leechers {
                    tally.leechers += 1;
                } else {
                    tally.seeders += 1;
                }
            } else {
                cursor.pos += 1;
            }
        }
    }

    /// Seeders and leechers listed.
    pub fn counts(&self) -> (usize, usize) {
        (self.seeders.len(), self.leechers.len())
    }

    /// Heap bytes held (an estimate for the hash index), not counting the struct.
    pub fn heap_bytes(&self) -> usize {
        alloc_bytes(self.seeders.capacity() * size_of::<Peer>())
            + alloc_bytes(self.leechers.capacity() * size_of::<Peer>())
            + map_bytes(self.index.capacity(), size_of::<(SocketAddr, Slot)>())
    }

    /// Checks the one peer at `addr` and the counts: O(1), for debug builds after each
    /// announce.
    pub fn check_peer(&self, addr: &SocketAddr) {
        assert_eq!(self.index.len(), self.seeders.len() + self.leechers.len());
        if let Some(&slot) = self.index.get(addr) {
            let list = if slot.seeder {
                &self.seeders
            } else {
                &self.leechers
            };
            assert_eq!(list[slot.pos as usize].addr, *addr);
        }
    }

    /// Panics if an invariant in the module docs is broken. O(peers).
    pub fn check_invariants(&self) {
        assert_eq!(self.index.len(), self.seeders.len() + self.leechers.len());
        let mut completed = 0u64;
        for (seeder, list) in [(true, &self.seeders), (false, &self.leechers)] {
            for (pos, p) in list.iter().enumerate() {
                let slot = Slot {
                    seeder,
                    pos: pos as u32,
                };
                assert_eq!(self.index.get(&p.addr), Some(&slot), "{} misplaced", p.addr);
                let canonical = SocketAddr::new(p.addr.ip().to_canonical(), p.addr.port());
                assert_eq!(p.addr, canonical, "address not canonical");
                assert_ne!(p.addr.port(), 0);
                completed += u64::from(p.completed);
            }
        }
        assert!(completed <= u64::from(self.downloaded));
    }

    fn list_mut(&mut self, seeder: bool) -> &mut Vec<Peer> {
        if seeder {
            &mut self.seeders
        } else {
            &mut self.leechers
        }
    }
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
