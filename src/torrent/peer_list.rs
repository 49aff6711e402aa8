//! The peers a torrent knows of but is not necessarily connected to, and when to dial
//! each: the peers it was told to keep connected to (`--peer`), redialled with backoff
//! for as long as it runs, and the peers it learned of (from trackers today; the DHT,
//! peer exchange and local discovery add theirs with their own [`PeerSource`]), each
//! dialled once and not again within [`REDIAL_AFTER`].
//!
//! Depends on nothing but std: the caller says how long a kept peer waits after a
//! close (the engine's backoff). Plain data, `now` passed in. Invariants, checked by [`PeerList::check_invariants`]:
//! - at most [`MAX_CANDIDATES`] learned peers wait to be tried, each address once, and
//!   at most [`MAX_PEX_CANDIDATES`] of them from peer exchange, which never pushes out
//!   a peer from another source (a peer exchange flood only replaces its own);
//! - a kept peer is listed once, and `failures` counts the attempts in a row that
//!   ended before a handshake.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most learned peers kept waiting to be tried; older ones are dropped first.
pub const MAX_CANDIDATES: usize = 1000;

/// Most of [`MAX_CANDIDATES`] that peers heard of by peer exchange may take: what
/// other peers say costs at most half the list.
pub const MAX_PEX_CANDIDATES: usize = MAX_CANDIDATES / 2;

/// A learned peer dialled once is not dialled again within this.
pub const REDIAL_AFTER: Duration = Duration::from_secs(120);

/// Where the engine heard of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerSource {
    /// Named on the command line or by the user: kept connected.
    Configured,
    /// A tracker's announce answer.
    Tracker,
    /// The DHT (BEP 5).
    Dht,
    /// Peer exchange (BEP 11).
    Pex,
    /// Local service discovery (BEP 14).
    Lsd,
    /// It connected to us.
    Incoming,
    /// It gave a magnet link's metadata: dialled again first for the data.
    Metadata,
}

/// A peer to keep connected to.
#[derive(Debug, Clone)]
struct Kept {
    addr: SocketAddr,
    connected: bool,
    retry_at: Instant,
    /// Connections in a row that ended before the handshake completed.
    failures: u32,
}

/// How the known peers of a torrent stand, for "why does nothing move" messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Every known peer.
    pub known: usize,
    /// Kept peers banned.
    pub banned: usize,
    /// Kept peers whose last attempts failed.
    pub refused: usize,
    /// Peers waiting to be dialled.
    pub waiting: usize,
}

/// The known peers of one torrent. See the module docs.
#[derive(Debug, Default)]
pub struct PeerList {
    kept: Vec<Kept>,
    /// Learned peers not tried yet, oldest first.
    candidates: VecDeque<(SocketAddr, PeerSource)>,
    /// When each address was last dialled from `candidates`.
    dialled: HashMap<SocketAddr, Instant>,
}

impl PeerList {
    /// Keeps `addr` connected from `now` on (a configured peer; once).
    pub fn keep(&mut self, addr: SocketAddr, now: Instant) {
        if self.kept.iter().any(|k| k.addr == addr) {
            return;
        }
        self.kept.push(Kept {
            addr,
            connected: false,
            retry_at: now,
            failures: 0,
        });
    }

    /// Remembers peers heard of from `source`, skipping those `banned` says no to and
    /// those already waiting; past [`MAX_CANDIDATES`] the oldest go. Peer exchange
    /// makes room only among its own: past [`MAX_PEX_CANDIDATES`] of them, or in a
    /// full list, its oldest goes (or the new one is dropped when it has none).
    pub fn learn(
        &mut self,
        addrs: impl IntoIterator<Item = SocketAddr>,
        source: PeerSource,
        banned: impl Fn(SocketAddr) -> bool,
    ) {
        let is_pex = |s: &PeerSource| *s == PeerSource::Pex;
        let mut pex = self.candidates.iter().filter(|(_, s)| is_pex(s)).count();
        for addr in addrs {
            if banned(addr) || self.candidates.iter().any(|&(a, _)| a == addr) {
                continue;
            }
            if is_pex(&source)
                && (pex >= MAX_PEX_CANDIDATES || self.candidates.len() >= MAX_CANDIDATES)
            {
                let Some(oldest) = self.candidates.iter().position(|(_, s)| is_pex(s)) else {
                    continue;
                };
                self.candidates.remove(oldest);
                pex -= 1;
            } else if self.candidates.len() >= MAX_CANDIDATES {
                if let Some((_, s)) = self.candidates.pop_front() {
                    pex -= usize::from(is_pex(&s));
                }
            }
            pex += usize::from(is_pex(&source));
            self.candidates.push_back((addr, source));
        }
        self.debug_check();
    }

    /// Peers that were just connected for a magnet's metadata (closed once it came
    /// in): the first candidates, dialable at once. Kept peers are left to their own
    /// schedule.
    pub fn redial_first(&mut self, addrs: &[SocketAddr]) {
        for &addr in addrs.iter().rev() {
            if self.kept.iter().any(|k| k.addr == addr) {
                continue;
            }
            self.dialled.remove(&addr);
            self.candidates.retain(|&(a, _)| a != addr);
            if self.candidates.len() >= MAX_CANDIDATES {
                self.candidates.pop_back();
            }
            self.candidates.push_front((addr, PeerSource::Metadata));
        }
        self.debug_check();
    }

    /// The kept peers to dial now (not connected, their retry time come), by index.
    pub fn kept_due(&self, now: Instant) -> Vec<(usize, SocketAddr)> {
        self.kept
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.connected && k.retry_at <= now)
            .map(|(i, k)| (i, k.addr))
            .collect()
    }

    /// Kept peer `index` was dialled: `ok` when the connect started; else it counts as
    /// a failed attempt and waits `backoff(failures in a row)`.
    pub fn on_kept_dialled(
        &mut self,
        index: usize,
        ok: bool,
        now: Instant,
        backoff: impl FnOnce(u32) -> Duration,
    ) {
        let Some(k) = self.kept.get_mut(index) else {
            return;
        };
        k.connected = ok;
        if !ok {
            k.failures += 1;
            k.retry_at = now + backoff(k.failures);
        }
    }

    /// The next learned peer to dial: the oldest not dialled within [`REDIAL_AFTER`]
    /// and not refused by `skip` (banned, already connected). Those passed over are
    /// forgotten; the one returned is recorded as dialled at `now`.
    pub fn next_candidate(
        &mut self,
        now: Instant,
        skip: impl Fn(SocketAddr) -> bool,
    ) -> Option<SocketAddr> {
        while let Some((addr, _)) = self.candidates.pop_front() {
            let recent = self
                .dialled
                .get(&addr)
                .is_some_and(|&at| now.duration_since(at) < REDIAL_AFTER);
            if recent || skip(addr) {
                continue;
            }
            self.dialled.insert(addr, now);
            if self.dialled.len() > 4 * MAX_CANDIDATES {
                self.dialled
                    .retain(|_, at| now.duration_since(*at) < REDIAL_AFTER);
            }
            return Some(addr);
        }
        None
    }

    /// A connection to `addr` closed (`was_active`: after its handshake, which clears
    /// the failures in a row): a kept peer is redialled after `backoff(failures)`.
    pub fn on_closed(
        &mut self,
        addr: SocketAddr,
        was_active: bool,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
    ) {
        for k in self.kept.iter_mut().filter(|k| k.addr == addr) {
            k.failures = if was_active { 0 } else { k.failures + 1 };
            k.connected = false;
            k.retry_at = now + backoff(k.failures);
        }
    }

    /// Every kept peer is due now with a clean slate (the torrent resumed).
    pub fn retry_kept_now(&mut self, now: Instant) {
        for k in &mut self.kept {
            k.retry_at = now;
            k.failures = 0;
        }
    }

    /// How the known peers stand; `banned` says which kept endpoints are banned.
    pub fn counts(&self, banned: impl Fn(SocketAddr) -> bool) -> PeerCounts {
        let mut c = PeerCounts {
            known: self.candidates.len() + self.kept.len(),
            waiting: self.candidates.len(),
            ..PeerCounts::default()
        };
        for k in &self.kept {
            if banned(k.addr) {
                c.banned += 1;
            } else if k.failures > 0 {
                c.refused += 1;
            } else {
                c.waiting += 1;
            }
        }
        c
    }

    /// Panics if an invariant of the module doc does not hold.
    pub fn check_invariants(&self) {
        assert!(self.candidates.len() <= MAX_CANDIDATES);
        let pex = self
            .candidates
            .iter()
            .filter(|(_, s)| *s == PeerSource::Pex);
        assert!(pex.count() <= MAX_PEX_CANDIDATES);
        for (i, (a, _)) in self.candidates.iter().enumerate() {
            assert!(
                !self.candidates.iter().skip(i + 1).any(|(b, _)| b == a),
                "{a} waits twice"
            );
        }
        for (i, k) in self.kept.iter().enumerate() {
            assert!(
                !self.kept.iter().skip(i + 1).any(|o| o.addr == k.addr),
                "{} kept twice",
                k.addr
            );
        }
    }

    fn debug_check(&self) {
        #[cfg(debug_assertions)]
        if self.candidates.len() < 64 {
            self.check_invariants();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn learned_peers_are_bounded_deduplicated_and_dialled_once_a_while() {
        let mut l = PeerList::default();
        let t0 = Instant::now();
        l.learn(
            [addr(1), addr(2), addr(1), addr(3)],
            PeerSource::Tracker,
            |a| a == addr(3),
        );
        l.check_invariants();
        assert_eq!(
            l.counts(|_| false).waiting,
            2,
            "duplicate and banned skipped"
        );
        assert_eq!(l.next_candidate(t0, |a| a == addr(1)), Some(addr(2)));
        assert_eq!(l.next_candidate(t0, |_| false), None, "addr(1) was skipped");
        // The tracker names addr(2) again: not redialled within REDIAL_AFTER.
        l.learn([addr(2)], PeerSource::Tracker, |_| false);
        assert_eq!(l.next_candidate(t0 + REDIAL_AFTER / 2, |_| false), None);
        l.learn([addr(2)], PeerSource::Tracker, |_| false);
        assert_eq!(
            l.next_candidate(t0 + REDIAL_AFTER, |_| false),
            Some(addr(2))
        );
        // Past the bound the oldest go.
        let many = (0..MAX_CANDIDATES as u16 + 10).map(|p| addr(1000 + p));
        l.learn(many, PeerSource::Dht, |_| false);
        l.check_invariants();
        assert_eq!(l.counts(|_| false).waiting, MAX_CANDIDATES);
        assert_eq!(l.next_candidate(t0, |_| false), Some(addr(1010)));
    }

    #[test]
    fn peer_exchange_takes_at_most_half_and_never_pushes_out_others() {
        let mut l = PeerList::default();
        let t0 = Instant::now();
        let tracker = (0..600u16).map(|p| addr(p + 1));
        l.learn(tracker, PeerSource::Tracker, |_| false);
        // A flood: 1,000 more from peer exchange take the free 400 slots, then only
        // replace their own.
        let flood = (0..1000u16).map(|p| SocketAddr::from(([10, 0, 0, 2], p + 1)));
        l.learn(flood, PeerSource::Pex, |_| false);
        l.check_invariants();
        assert_eq!(l.counts(|_| false).waiting, MAX_CANDIDATES);
        let first = l.next_candidate(t0, |_| false);
        assert_eq!(
            first,
            Some(addr(1)),
            "the tracker's peers are all still there"
        );
        // Past half the list, peer exchange replaces its own oldest, even with room.
        let mut l = PeerList::default();
        let many = (0..MAX_PEX_CANDIDATES as u16 + 10).map(|p| addr(p + 1));
        l.learn(many, PeerSource::Pex, |_| false);
        l.check_invariants();
        assert_eq!(l.counts(|_| false).waiting, MAX_PEX_CANDIDATES);
        assert_eq!(l.next_candidate(t0, |_| false), Some(addr(11)));
        // A tracker still fills the rest (one was dialled, one joins).
        l.learn([addr(9000)], PeerSource::Tracker, |_| false);
        assert_eq!(l.counts(|_| false).waiting, MAX_PEX_CANDIDATES);
    }

    const RECONNECT_DELAY: Duration = Duration::from_secs(5);

    /// 5 s, doubling per failure in a row.
    fn backoff(failures: u32) -> Duration {
        RECONNECT_DELAY * (1 << failures.min(6))
    }

    #[test]
    fn kept_peers_back_off_and_reset() {
        let mut l = PeerList::default();
        let t0 = Instant::now();
        l.keep(addr(1), t0);
        l.keep(addr(1), t0);
        l.keep(addr(2), t0);
        l.check_invariants();
        assert_eq!(l.kept_due(t0), [(0, addr(1)), (1, addr(2))]);
        l.on_kept_dialled(0, true, t0, backoff);
        l.on_kept_dialled(1, false, t0, backoff);
        assert!(l.kept_due(t0).is_empty());
        assert_eq!(l.kept_due(t0 + RECONNECT_DELAY * 2), [(1, addr(2))]);
        // The working connection drops: redialled soon, failures cleared.
        l.on_closed(addr(1), true, t0, |_| RECONNECT_DELAY);
        assert_eq!(l.kept_due(t0 + RECONNECT_DELAY), [(0, addr(1))]);
        // Its next attempt fails before the handshake: it backs off.
        l.on_closed(addr(1), false, t0, backoff);
        let c = l.counts(|a| a == addr(2));
        assert_eq!((c.known, c.banned, c.refused, c.waiting), (2, 1, 1, 0));
        l.retry_kept_now(t0);
        assert_eq!(l.kept_due(t0).len(), 2);
        assert_eq!(l.counts(|_| false).refused, 0);
    }

    #[test]
    fn metadata_peers_are_dialled_again_first_and_at_once() {
        let mut l = PeerList::default();
        let t0 = Instant::now();
        l.keep(addr(1), t0);
        l.learn([addr(2), addr(3)], PeerSource::Dht, |_| false);
        assert_eq!(l.next_candidate(t0, |_| false), Some(addr(2)));
        // addr(2) was dialled moments ago, addr(1) is kept, addr(4) connected to us.
        l.redial_first(&[addr(1), addr(2), addr(4)]);
        l.check_invariants();
        assert_eq!(l.next_candidate(t0, |_| false), Some(addr(2)));
        assert_eq!(l.next_candidate(t0, |_| false), Some(addr(4)));
        assert_eq!(l.next_candidate(t0, |_| false), Some(addr(3)));
        assert_eq!(
            l.next_candidate(t0, |_| false),
            None,
            "the kept one is not a candidate"
        );
    }
}
