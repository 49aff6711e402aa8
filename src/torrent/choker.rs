//! The choker: which peers of one torrent we upload to (BEP 3, "choking"), decided by
//! [`Choker::rechoke`] every [`RECHOKE_INTERVAL_SECS`].
//!
//! Owns only the current optimistic unchoke and when it began. Depends on `config`.
//! Everything else comes in as arguments: the peers as a slice of [`PeerView`]s (rates
//! measured by the sessions), the number of regular upload slots, whether we are
//! seeding, `now`, and one random `u64`. So a decision is a pure function of its inputs
//! and that small state, and tests replay it exactly.
//!
//! # Rules
//!
//! With `slots` regular upload slots:
//! 1. Only interested peers take slots. Everyone who ends up with no slot is choked,
//!    uninterested peers included. `slots == 0` chokes everyone.
//! 2. **Leeching: tit-for-tat.** Candidates are the interested peers that are not
//!    snubbed. The `slots` with the highest download rate *from* them win.
//! 3. **Seeding: fastest upload, rotated.** Candidates are the interested peers (a
//!    snub says nothing about a peer we only upload to). The `slots` with the highest
//!    upload rate *to* them win, except that when more candidates wait than there are
//!    slots, one slot rotates each round: the regular holder unchoked longest ago (and
//!    at least [`MIN_HOLD`] ago) sits out the round, and the candidate waiting longest
//!    (never unchoked first, then the oldest last unchoke) takes a slot. So every
//!    waiting peer gets its turn within as many rounds as there are waiting peers.
//! 4. Ties in rate go to the peer already unchoked (fewer choke flips), then to the
//!    earlier peer in the slice.
//! 5. **Optimistic unchoke**: one peer beyond the slots, drawn among the interested
//!    peers we choke that won no regular slot (and are not snubbed, when leeching).
//!    A peer never unchoked before weighs three times as much as the others, the
//!    weighting of the original BitTorrent client, so newcomers soon get something to
//!    trade with. It is kept for [`OPTIMISTIC_UNCHOKE_INTERVAL_SECS`] while it stays
//!    eligible, and replaced at once when it loses interest, gets snubbed, leaves or
//!    wins a regular slot. With nobody else to draw, the current one stays.
//!
//! Invariant: after a decision is applied at most `slots + 1` peers are unchoked, every
//! one of them interested.

use std::time::{Duration, Instant};

use crate::config::{OPTIMISTIC_UNCHOKE_INTERVAL_SECS, RECHOKE_INTERVAL_SECS};

/// The shortest time a seeding slot is held before the rotation may take it back: half
/// a rechoke round, so a peer unchoked by the previous round is always past it even when
/// the rounds run a little early, and one unchoked just now is not.
pub const MIN_HOLD: Duration = Duration::from_secs(RECHOKE_INTERVAL_SECS / 2);

const OPTIMISTIC_INTERVAL: Duration = Duration::from_secs(OPTIMISTIC_UNCHOKE_INTERVAL_SECS);

/// Weight of a never-unchoked peer in the optimistic draw; every other peer weighs 1.
const NEWCOMER_WEIGHT: u64 = 3;

/// What the choker needs to know about one connected peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView<K> {
    /// The peer's id; the choker only copies and compares it.
    pub key: K,
    /// The peer is interested in what we have.
    pub interested: bool,
    /// We are choking the peer now.
    pub choked_by_us: bool,
    /// Bytes per second we send to the peer.
    pub upload_rate: u64,
    /// Bytes per second the peer sends us.
    pub download_rate: u64,
    /// The peer sent us nothing for a while although we asked.
    pub snubbed: bool,
    /// When we last unchoked the peer (the start of the current unchoke if it is
    /// unchoked now); `None` if never.
    pub last_unchoked_at: Option<Instant>,
}

/// The result of one round: the choke state changes to send, in slice order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChokeDecision<K> {
    /// Peers we choke now that get a slot: send `unchoke`.
    pub unchoke: Vec<K>,
    /// Peers we unchoke now that lost their slot: send `choke`.
    pub choke: Vec<K>,
    /// The optimistic unchoke after this round, unchoked already or in `unchoke`.
    pub optimistic: Option<K>,
}

/// The choker of one torrent. See the module docs for its rules.
#[derive(Clone, Debug)]
pub struct Choker<K> {
    /// The optimistic unchoke and when it was chosen.
    optimistic: Option<(K, Instant)>,
}

impl<K: Copy + Eq> Default for Choker<K> {
    fn default() -> Self {
        Choker::new()
    }
}

impl<K: Copy + Eq> Choker<K> {
    /// A choker with no optimistic unchoke yet.
    pub fn new() -> Self {
        Choker { optimistic: None }
    }

    /// The current optimistic unchoke.
    pub fn optimistic(&self) -> Option<K> {
        self.optimistic.map(|(k, _)| k)
    }

    /// `key` is gone (its connection closed): it no longer holds the optimistic slot, so
    /// a connection that later reuses the key does not inherit it.
    pub fn forget(&mut self, key: K) {
        if self.optimistic() == Some(key) {
            self.optimistic = None;
        }
    }

    /// One round: who gets the `slots` regular slots and the optimistic one. `random` is
    /// drawn fresh by the caller for each round.
    pub fn rechoke(
        &mut self,
        peers: &[PeerView<K>],
        slots: usize,
        seeding: bool,
        now: Instant,
        random: u64,
    ) -> ChokeDecision<K> {
        let mut unchoked = vec![false; peers.len()];
        if slots == 0 {
            self.optimistic = None;
        } else {
            let current = self
                .optimistic
                .and_then(|(k, _)| peers.iter().position(|p| p.key == k));
            let regular = if seeding {
                seeding_slots(peers, slots, current, now)
            } else {
                leeching_slots(peers, slots)
            };
            for i in regular {
                unchoked[i] = true;
            }
            self.choose_optimistic(peers, &mut unchoked, current, seeding, now, random);
        }
        debug_assert!(unchoked.iter().filter(|&&u| u).count() <= slots + 1);
        debug_assert!(
            peers
                .iter()
                .zip(&unchoked)
                .all(|(p, &u)| !u || p.interested)
        );
        let mut decision = ChokeDecision {
            unchoke: Vec::new(),
            choke: Vec::new(),
            optimistic: self.optimistic(),
        };
        for (p, &u) in peers.iter().zip(&unchoked) {
            if u && p.choked_by_us {
                decision.unchoke.push(p.key);
            } else if !u && !p.choked_by_us {
                decision.choke.push(p.key);
            }
        }
        decision
    }

    /// Rule 5: keeps the current optimistic unchoke or draws a new one, marking it in
    /// `unchoked`.
    fn choose_optimistic(
        &mut self,
        peers: &[PeerView<K>],
        unchoked: &mut [bool],
        current: Option<usize>,
        seeding: bool,
        now: Instant,
        random: u64,
    ) {
        let eligible = |i: usize| {
            let p = &peers[i];
            p.interested && (seeding || !p.snubbed) && !unchoked[i]
        };
        let current = current.filter(|&i| eligible(i));
        if let (Some(i), Some((_, since))) = (current, self.optimistic) {
            if now.saturating_duration_since(since) < OPTIMISTIC_INTERVAL {
                unchoked[i] = true;
                return;
            }
        }
        let weight = |p: &PeerView<K>| {
            if p.last_unchoked_at.is_none() {
                NEWCOMER_WEIGHT
            } else {
                1
            }
        };
        let draw = |i: &usize| eligible(*i) && peers[*i].choked_by_us;
        let total: u64 = (0..peers.len())
            .filter(draw)
            .map(|i| weight(&peers[i]))
            .sum();
        if total == 0 {
            match current {
                Some(i) => unchoked[i] = true,
                None => self.optimistic = None,
            }
            return;
        }
        let mut r = random % total;
        for i in (0..peers.len()).filter(draw) {
            let w = weight(&peers[i]);
            if r < w {
                unchoked[i] = true;
                self.optimistic = Some((peers[i].key, now));
                return;
            }
            r -= w;
        }
    }
}

/// Rule 2: the `slots` interested, unsnubbed peers that send us the most.
fn leeching_slots<K>(peers: &[PeerView<K>], slots: usize) -> Vec<usize> {
    let mut candidates: Vec<usize> = (0..peers.len())
        .filter(|&i| peers[i].interested && !peers[i].snubbed)
        .collect();
    candidates.sort_by_key(|&i| (u64::MAX - peers[i].download_rate, peers[i].choked_by_us, i));
    candidates.truncate(slots);
    candidates
}

/// Rule 3: the `slots` interested peers we send the most, one slot rotated from the
/// longest holder to the longest waiter when peers wait. `current` is the optimistic
/// unchoke, which neither holds a regular slot nor waits for one.
fn seeding_slots<K>(
    peers: &[PeerView<K>],
    slots: usize,
    current: Option<usize>,
    now: Instant,
) -> Vec<usize> {
    let candidates: Vec<usize> = (0..peers.len()).filter(|&i| peers[i].interested).collect();
    if candidates.len() <= slots {
        return candidates;
    }
    let oldest_unchoke = |&i: &usize| (peers[i].last_unchoked_at, i);
    let victim = candidates
        .iter()
        .copied()
        .filter(|&i| !peers[i].choked_by_us && Some(i) != current)
        .filter(|&i| {
            peers[i]
                .last_unchoked_at
                .is_none_or(|at| now.saturating_duration_since(at) >= MIN_HOLD)
        })
        .min_by_key(oldest_unchoke);
    let newcomer = candidates
        .iter()
        .copied()
        .filter(|&i| peers[i].choked_by_us)
        .min_by_key(oldest_unchoke);
    let mut chosen = Vec::with_capacity(slots);
    let mut ranked = candidates;
    if let (Some(victim), Some(newcomer)) = (victim, newcomer) {
        chosen.push(newcomer);
        ranked.retain(|&i| i != victim && i != newcomer);
    }
    ranked.sort_by_key(|&i| (u64::MAX - peers[i].upload_rate, peers[i].choked_by_us, i));
    chosen.extend(ranked.into_iter().take(slots - chosen.len()));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: u32) -> PeerView<u32> {
        PeerView {
            key,
            interested: true,
            choked_by_us: true,
            upload_rate: 0,
            download_rate: 0,
            snubbed: false,
            last_unchoked_at: None,
        }
    }

    /// What the session does with a decision.
    fn apply(peers: &mut [PeerView<u32>], d: &ChokeDecision<u32>, now: Instant) {
        for p in peers {
            if d.unchoke.contains(&p.key) {
                p.choked_by_us = false;
                p.last_unchoked_at = Some(now);
            }
            if d.choke.contains(&p.key) {
                p.choked_by_us = true;
            }
        }
    }

    fn unchoked(peers: &[PeerView<u32>]) -> Vec<u32> {
        peers
            .iter()
            .filter(|p| !p.choked_by_us)
            .map(|p| p.key)
            .collect()
    }

    /// Unchoked peers other than the optimistic one.
    fn regular(peers: &[PeerView<u32>], d: &ChokeDecision<u32>) -> Vec<u32> {
        let mut v = unchoked(peers);
        v.retain(|&k| Some(k) != d.optimistic);
        v
    }

    const ROUND: Duration = Duration::from_secs(RECHOKE_INTERVAL_SECS);

    #[test]
    fn a_forgotten_key_loses_the_optimistic_slot() {
        let mut c = Choker::new();
        let peers: Vec<_> = (0..3).map(peer).collect();
        let d = c.rechoke(&peers, 1, false, Instant::now(), 42);
        let opt = d.optimistic.expect("an optimistic unchoke among three");
        c.forget(opt + 100);
        assert_eq!(c.optimistic(), Some(opt), "another key changes nothing");
        c.forget(opt);
        assert_eq!(c.optimistic(), None);
    }

    #[test]
    fn slots_are_respected() {
        for seeding in [false, true] {
            let mut peers: Vec<_> = (0..10).map(peer).collect();
            for (i, p) in peers.iter_mut().enumerate() {
                p.download_rate = 1000 * i as u64;
                p.upload_rate = 700 * i as u64;
            }
            let mut choker = Choker::new();
            let t0 = Instant::now();
            for round in 0..20u32 {
                let now = t0 + ROUND * round;
                let d = choker.rechoke(&peers, 3, seeding, now, u64::from(round) * 7919);
                apply(&mut peers, &d, now);
                assert_eq!(unchoked(&peers).len(), 4, "round {round}");
                assert_eq!(regular(&peers, &d).len(), 3);
                assert!(d.optimistic.is_some());
            }
        }
    }

    #[test]
    fn fastest_win() {
        let rates = [5, 50, 10, 40, 30];
        let t0 = Instant::now();
        let mut peers: Vec<_> = (0..5).map(peer).collect();
        for (p, r) in peers.iter_mut().zip(rates) {
            p.download_rate = r;
        }
        let mut choker = Choker::new();
        let d = choker.rechoke(&peers, 2, false, t0, 0);
        apply(&mut peers, &d, t0);
        assert_eq!(regular(&peers, &d), [1, 3]);
        assert!(matches!(d.optimistic, Some(0 | 2 | 4)));

        // Seeding ranks by what we send, not what we get.
        let mut peers: Vec<_> = (0..5).map(peer).collect();
        for (p, r) in peers.iter_mut().zip(rates) {
            p.download_rate = 100 - r;
            p.upload_rate = r;
        }
        let mut choker = Choker::new();
        let d = choker.rechoke(&peers, 2, true, t0, 0);
        apply(&mut peers, &d, t0);
        assert_eq!(regular(&peers, &d), [1, 3]);

        // A new faster peer takes the slot of the slowest holder.
        peers[2].download_rate = 45;
        peers[2].upload_rate = 45;
        let d = Choker::new().rechoke(&peers, 2, false, t0 + ROUND, 0);
        assert!(d.unchoke.contains(&2));
        assert!(d.choke.contains(&3) || d.optimistic == Some(3));
    }

    #[test]
    fn seeding_rotates_the_longest_holder_out() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(100);
        let mut peers: Vec<_> = (0..4).map(peer).collect();
        // Peers 0 and 1 hold the slots, 0 for longer; 2 waited since its last turn,
        // 3 never had one.
        peers[0].choked_by_us = false;
        peers[0].last_unchoked_at = Some(t0);
        peers[0].upload_rate = 500;
        peers[1].choked_by_us = false;
        peers[1].last_unchoked_at = Some(t0 + Duration::from_secs(50));
        peers[1].upload_rate = 100;
        peers[2].last_unchoked_at = Some(t0 + Duration::from_secs(10));
        let d = Choker::new().rechoke(&peers, 2, true, now, 0);
        assert_eq!(d.choke, [0]);
        assert!(d.unchoke.contains(&3));
        assert_eq!(d.optimistic, Some(2));

        // A holder unchoked a moment ago keeps its slot.
        peers[0].last_unchoked_at = Some(now - Duration::from_secs(1));
        peers[1].last_unchoked_at = Some(now - Duration::from_secs(1));
        let d = Choker::new().rechoke(&peers, 2, true, now, 0);
        assert!(d.choke.is_empty());
    }

    #[test]
    fn seeding_rotation_is_fair_over_rounds() {
        let t0 = Instant::now();
        // Peer 0 is much faster than the rest; it must still share.
        let mut peers: Vec<_> = (0..6).map(peer).collect();
        peers[0].upload_rate = 1_000_000;
        let mut choker = Choker::new();
        let mut regular_rounds = [0u32; 6];
        let mut first_turn = [None; 6];
        for round in 0..36u32 {
            let now = t0 + ROUND * round;
            let d = choker.rechoke(&peers, 2, true, now, u64::from(round) * 104_729);
            apply(&mut peers, &d, now);
            assert!(unchoked(&peers).len() <= 3);
            for k in regular(&peers, &d) {
                regular_rounds[k as usize] += 1;
            }
            for k in unchoked(&peers) {
                first_turn[k as usize].get_or_insert(round);
            }
        }
        // Everyone is unchoked within the first rounds, and the 72 regular slot-rounds
        // are shared: the fast peer wins its slot back by rate after each turn out, so
        // it holds one in half the rounds, and nobody starves.
        assert!(
            first_turn.iter().all(|t| t.is_some_and(|t| t < 4)),
            "{first_turn:?}"
        );
        assert_eq!(regular_rounds.iter().sum::<u32>(), 72);
        for n in regular_rounds {
            assert!((8..=18).contains(&n), "{regular_rounds:?}");
        }
    }

    #[test]
    fn optimistic_rotates_every_30_seconds() {
        let t0 = Instant::now();
        let mut peers: Vec<_> = (0..5).map(peer).collect();
        peers[0].download_rate = 100;
        let mut choker = Choker::new();
        let d = choker.rechoke(&peers, 1, false, t0, 12345);
        apply(&mut peers, &d, t0);
        let first = d.optimistic.unwrap();
        assert_ne!(first, 0);
        assert_eq!(unchoked(&peers), {
            let mut v = vec![0, first];
            v.sort();
            v
        });
        for (secs, random) in [(10, 1), (20, 2), (29, 3)] {
            let now = t0 + Duration::from_secs(secs);
            let d = choker.rechoke(&peers, 1, false, now, random);
            assert_eq!(d.optimistic, Some(first));
            assert!(d.unchoke.is_empty() && d.choke.is_empty());
        }
        let now = t0 + Duration::from_secs(30);
        let d = choker.rechoke(&peers, 1, false, now, 4);
        let second = d.optimistic.unwrap();
        assert!(second != first && second != 0);
        assert_eq!(d.choke, [first]);
        assert_eq!(d.unchoke, [second]);
        apply(&mut peers, &d, now);

        // Losing interest ends it at once.
        let i = peers.iter().position(|p| p.key == second).unwrap();
        peers[i].interested = false;
        let d = choker.rechoke(&peers, 1, false, now + ROUND, 5);
        assert!(d.choke.contains(&second));
        assert!(d.optimistic.is_some_and(|k| k != second && k != 0));

        // Winning a regular slot too: a new optimistic peer is drawn.
        apply(&mut peers, &d, now + ROUND);
        let third = d.optimistic.unwrap();
        let i = peers.iter().position(|p| p.key == third).unwrap();
        peers[i].download_rate = 1000;
        let d = choker.rechoke(&peers, 1, false, now + ROUND * 2, 6);
        assert_eq!(d.choke, [0]);
        assert!(d.optimistic.is_some_and(|k| k != third && k != 0));
    }

    #[test]
    fn optimistic_prefers_peers_never_unchoked() {
        let t0 = Instant::now();
        let mut peers: Vec<_> = (0..5).map(peer).collect();
        peers[0].download_rate = 100;
        for p in &mut peers[1..4] {
            p.last_unchoked_at = Some(t0);
        }
        // Candidates 1, 2, 3 weigh 1 each and 4 weighs 3: half the draws are 4's.
        let mut picks = [0u32; 5];
        for random in 0..6000 {
            let d = Choker::new().rechoke(&peers, 1, false, t0, random);
            picks[d.optimistic.unwrap() as usize] += 1;
        }
        assert_eq!(picks, [0, 1000, 1000, 1000, 3000]);
    }

    #[test]
    fn uninterested_peers_never_take_slots() {
        let t0 = Instant::now();
        for seeding in [false, true] {
            let mut peers: Vec<_> = (0..6).map(peer).collect();
            for p in &mut peers[..3] {
                p.interested = false;
                p.download_rate = 1_000_000;
                p.upload_rate = 1_000_000;
            }
            // Peer 0 is unchoked from before: it gets choked.
            peers[0].choked_by_us = false;
            peers[0].last_unchoked_at = Some(t0);
            let mut choker = Choker::new();
            for round in 0..10u32 {
                let now = t0 + ROUND * round;
                let d = choker.rechoke(&peers, 4, seeding, now, u64::from(round));
                apply(&mut peers, &d, now);
                assert_eq!(unchoked(&peers), [3, 4, 5], "round {round}");
                assert_eq!(d.optimistic, None);
            }
        }
    }

    #[test]
    fn snubbed_peers_are_left_out_when_leeching() {
        let t0 = Instant::now();
        let mut peers: Vec<_> = (0..4).map(peer).collect();
        peers[0].snubbed = true;
        peers[0].download_rate = 1000;
        peers[0].upload_rate = 1000;
        peers[1].snubbed = true;
        let mut choker = Choker::new();
        for round in 0..10u32 {
            let now = t0 + ROUND * round;
            let d = choker.rechoke(&peers, 1, false, now, u64::from(round));
            apply(&mut peers, &d, now);
            assert_eq!(unchoked(&peers), [2, 3], "round {round}");
        }
        // Seeding, a snub means nothing: the fastest upload wins.
        let d = Choker::new().rechoke(&peers, 1, true, t0, 0);
        assert!(d.unchoke.contains(&0));
    }

    #[test]
    fn no_slots_chokes_everyone() {
        let t0 = Instant::now();
        let mut peers: Vec<_> = (0..3).map(peer).collect();
        let mut choker = Choker::new();
        let d = choker.rechoke(&peers, 2, false, t0, 0);
        apply(&mut peers, &d, t0);
        assert_eq!(unchoked(&peers).len(), 3);
        let d = choker.rechoke(&peers, 0, false, t0 + ROUND, 0);
        assert_eq!(d.choke, [0, 1, 2]);
        assert_eq!(d.optimistic, None);
        assert_eq!(choker.optimistic(), None);
    }
}
