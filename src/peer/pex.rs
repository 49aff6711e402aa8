//! Peer exchange with one connected peer (BEP 11), sans-io: when our next `ut_pex`
//! message to it is due and what it says (the torrent's connected peers it was not
//! told of yet, and those it was told of that are gone), and whether a message from it
//! came too soon to be used.
//!
//! Depends on `wire::pex`. Plain data, `now` passed in; the engine hands it the
//! torrent's peers as they should be advertised (see [`SwarmPeer`]). Invariants:
//! - a message holds at most [`MAX_PEERS`] added and [`MAX_PEERS`] dropped per address
//!   family; what does not fit waits for the next one;
//! - a peer is never told its own address, nor told of one peer twice without a
//!   `dropped` between;
//! - at most [`MAX_TOLD`] addresses are remembered per peer;
//! - messages go out at most once per [`PEX_INTERVAL`]; one arriving within
//!   [`PEX_MIN_GAP`] of the last one used is ignored whole.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::pex::{MAX_PEERS, PexFlags, PexMessage};

/// How often a peer gets a message from us (BEP 11: at most once a minute).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);

/// A message from a peer within this of the last one used is ignored (a little under
/// [`PEX_INTERVAL`], for senders whose minute is measured from a late tick).
pub const PEX_MIN_GAP: Duration = Duration::from_secs(45);

/// Most addresses remembered as told to one peer.
pub const MAX_TOLD: usize = 1000;

/// A connected peer of the torrent as peer exchange advertises it: the address others
/// can dial (for a peer that connected to us, its IP with the listen port from its
/// extension handshake) and what we know of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmPeer {
    /// Where to reach it.
    pub addr: SocketAddr,
    /// Seed, connectable, ...
    pub flags: PexFlags,
}

/// Peer exchange state of one connection. See the module docs.
#[derive(Debug, Default)]
pub struct PeerPex {
    /// When our next message may go; `None` before the first.
    next_send_at: Option<Instant>,
    /// Addresses it was told are connected and not told dropped since.
    told: HashSet<SocketAddr>,
    /// When the last message from it that was used arrived.
    used_at: Option<Instant>,
    /// Its messages ignored for coming too soon.
    early: u64,
}

impl PeerPex {
    /// Whether our next message may go at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.next_send_at.is_none_or(|at| now >= at)
    }

    /// Our message to the peer at `now`, if one is due and it says anything: the peers
    /// of `swarm` it was not told of (none at an address in `own`, its own addresses)
    /// and those it was told of that left `swarm`, each list bounded per family.
    pub fn poll_message(
        &mut self,
        now: Instant,
        swarm: &[SwarmPeer],
        own: &[SocketAddr],
    ) -> Option<PexMessage> {
        if !self.due(now) {
            return None;
        }
        self.next_send_at = Some(now + PEX_INTERVAL);
        let mut msg = PexMessage::default();
        let mut counts = [0usize; 2];
        for p in swarm {
            let family = usize::from(p.addr.is_ipv6());
            if counts[family] == MAX_PEERS || self.told.len() >= MAX_TOLD {
                continue;
            }
            if own.contains(&p.addr) || !self.told.insert(p.addr) {
                continue;
            }
            counts[family] += 1;
            msg.added.push((p.addr, p.flags));
        }
        let mut counts = [0usize; 2];
        let gone: Vec<SocketAddr> = self
            .told
            .iter()
            .filter(|a| !swarm.iter().any(|p| p.addr == **a))
            .copied()
            .collect();
        for addr in gone {
            let family = usize::from(addr.is_ipv6());
            if counts[family] < MAX_PEERS {
                counts[family] += 1;
                self.told.remove(&addr);
                msg.dropped.push(addr);
            }
        }
        debug_assert!(self.told.len() <= MAX_TOLD);
        (!msg.is_empty()).then_some(msg)
    }

    /// A message from the peer arrived at `now`: whether to use it (false when it
    /// came within [`PEX_MIN_GAP`] of the last one used).
    pub fn on_message(&mut self, now: Instant) -> bool {
        if self
            .used_at
            .is_some_and(|at| now.saturating_duration_since(at) < PEX_MIN_GAP)
        {
            self.early += 1;
            return false;
        }
        self.used_at = Some(now);
        true
    }

    /// Its messages ignored for coming too soon.
    pub fn early(&self) -> u64 {
        self.early
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16, flags: PexFlags) -> SwarmPeer {
        SwarmPeer {
            addr: SocketAddr::from(([10, 0, 0, 1], port)),
            flags,
        }
    }

    fn v6(port: u16) -> SwarmPeer {
        SwarmPeer {
            addr: SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], port)),
            flags: PexFlags::default(),
        }
    }

    #[test]
    fn diffs_once_a_minute_and_never_names_the_peer_itself() {
        let t0 = Instant::now();
        let mut p = PeerPex::default();
        let me = peer(1, PexFlags::default());
        let seed = peer(2, PexFlags::SEED.with(PexFlags::CONNECTABLE, true));
        let swarm = [me, seed, peer(3, PexFlags::default())];
        assert!(p.due(t0));
        let first = p.poll_message(t0, &swarm, &[me.addr]).unwrap();
        assert_eq!(
            first.added,
            [(seed.addr, PexFlags(0x12)), (swarm[2].addr, PexFlags(0))]
        );
        assert!(first.dropped.is_empty());
        // Not again within the minute, even with news.
        let later = [me, seed, peer(4, PexFlags::default())];
        assert!(!p.due(t0 + PEX_INTERVAL - Duration::from_millis(1)));
        assert_eq!(
            p.poll_message(t0 + Duration::from_secs(59), &later, &[me.addr]),
            None
        );
        let t1 = t0 + PEX_INTERVAL;
        let diff = p.poll_message(t1, &later, &[me.addr]).unwrap();
        assert_eq!(diff.added, [(later[2].addr, PexFlags(0))]);
        assert_eq!(diff.dropped, [swarm[2].addr]);
        // Nothing changed: nothing is sent, and the minute starts again.
        assert_eq!(p.poll_message(t1 + PEX_INTERVAL, &later, &[me.addr]), None);
        assert!(!p.due(t1 + PEX_INTERVAL + Duration::from_secs(1)));
    }

    #[test]
    fn each_list_is_bounded_per_family_and_the_rest_waits() {
        let t0 = Instant::now();
        let mut p = PeerPex::default();
        let mut swarm: Vec<SwarmPeer> = (0..MAX_PEERS as u16 + 20)
            .map(|i| peer(100 + i, PexFlags::default()))
            .collect();
        swarm.extend((0..MAX_PEERS as u16 + 5).map(|i| v6(100 + i)));
        let m = p.poll_message(t0, &swarm, &[]).unwrap();
        let fam =
            |m: &PexMessage, six: bool| m.added.iter().filter(|(a, _)| a.is_ipv6() == six).count();
        assert_eq!((fam(&m, false), fam(&m, true)), (MAX_PEERS, MAX_PEERS));
        let m = p.poll_message(t0 + PEX_INTERVAL, &swarm, &[]).unwrap();
        assert_eq!((fam(&m, false), fam(&m, true)), (20, 5));
        // Everyone leaves: dropped in bounded batches too.
        let t2 = t0 + 2 * PEX_INTERVAL;
        let m = p.poll_message(t2, &[], &[]).unwrap();
        assert!(m.added.is_empty());
        assert_eq!(m.dropped.len(), 2 * MAX_PEERS);
        let m = p.poll_message(t2 + PEX_INTERVAL, &[], &[]).unwrap();
        assert_eq!(m.dropped.len(), 25);
        assert_eq!(p.poll_message(t2 + 2 * PEX_INTERVAL, &[], &[]), None);
    }

    #[test]
    fn what_it_is_told_is_bounded() {
        let t0 = Instant::now();
        let mut p = PeerPex::default();
        let mut at = t0;
        for round in 0..30u16 {
            // Every earlier peer stays connected and 50 more join each minute.
            let swarm: Vec<SwarmPeer> = (0..(round + 1) * MAX_PEERS as u16)
                .map(|i| peer(1000 + i, PexFlags::default()))
                .collect();
            let _ = p.poll_message(at, &swarm, &[]);
            at += PEX_INTERVAL;
        }
        assert_eq!(p.told.len(), MAX_TOLD);
    }

    #[test]
    fn messages_from_it_are_used_at_most_once_a_gap() {
        let t0 = Instant::now();
        let mut p = PeerPex::default();
        assert!(p.on_message(t0));
        assert!(!p.on_message(t0 + Duration::from_secs(1)));
        assert!(!p.on_message(t0 + PEX_MIN_GAP - Duration::from_millis(1)));
        assert!(p.on_message(t0 + PEX_MIN_GAP));
        assert_eq!(p.early(), 2);
    }
}
