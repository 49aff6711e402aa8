//! Rate limits and connection caps: the session's upload and download limits, and
//! each torrent's own limits and connection cap beside them.
//!
//! A block is sent (or requested) only when every throttle that applies lets it
//! through, and its bytes are spent from each. A connection turned away waits in the
//! throttle that turned it away, and only there: one waiting for its torrent's tokens
//! holds no session tokens and blocks no other torrent's connection, and the session's
//! throttle hands its tokens out as it always has. Every `limit::REFILL_INTERVAL` the
//! reactor calls [`Engine::refill_limits`], which tops up the session's buckets and
//! those of the torrents in `Engine::rate_capped`, and serves the connections they
//! hand back.
//!
//! A torrent's connection cap counts every connection that names it: dials in flight,
//! handshakes under way and active peers (as `--max-peers` counts every connection).
//! At the cap nothing is dialled for it and an incoming peer is refused at its
//! handshake (`CloseReason::TorrentFull`); incoming peers are not evicted to make room.
//! A cap lowered below what the torrent holds closes the excess at once, least useful
//! first ([`usefulness`]).
//!
//! Invariant: a torrent is in `Engine::rate_capped` exactly when its caps hold a
//! throttle; `Torrent::caps` is `None` when nothing is capped.

use std::cmp::Reverse;
use std::time::Instant;

use super::Engine;
use crate::limit::{Throttle, Throttles, Woken};
use crate::peer::close::CloseReason;
use crate::peer::conn::{ConnState, Connection};
use crate::torrent::state::Torrent;
use crate::types::ConnKey;

/// One torrent's own limits, as a front sets them (`None` or 0: not limited; the
/// session's limits apply either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TorrentCaps {
    /// Upload bytes per second.
    pub up: Option<u64>,
    /// Download bytes per second.
    pub down: Option<u64>,
    /// Most connections at once, dials and handshakes included.
    pub max_connections: Option<usize>,
}

/// Which way payload goes through a throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// Blocks we send.
    Up,
    /// Blocks we request.
    Down,
}

impl Way {
    fn of<K>(self, t: &mut Throttles<K>) -> Option<&mut Throttle<K>> {
        match self {
            Way::Up => t.up.as_mut(),
            Way::Down => t.down.as_mut(),
        }
    }
}

/// The throttles payload of torrent `t` going `way` must pass: the session's, then
/// the torrent's.
pub(crate) fn gates<'a>(
    session: &'a mut Throttles<ConnKey>,
    t: &'a mut Torrent,
    way: Way,
) -> [Option<&'a mut Throttle<ConnKey>>; 2] {
    let own = t.caps.as_deref_mut().and_then(|c| way.of(&mut c.throttles));
    [way.of(session), own]
}

/// Whether `k` may send a block through every one of `gates`. The first that has no
/// tokens keeps `k` waiting; the ones after it are not asked, so `k` waits in one.
pub(crate) fn admit(gates: [Option<&mut Throttle<ConnKey>>; 2], k: ConnKey) -> bool {
    gates.into_iter().flatten().all(|g| g.admit(k))
}

/// How many of `want` blocks `k` may ask for through every one of `gates` (waiting in
/// each that gives it fewer than it wanted).
pub(crate) fn afford(
    gates: [Option<&mut Throttle<ConnKey>>; 2],
    k: ConnKey,
    mut want: usize,
    block: u64,
) -> usize {
    for g in gates.into_iter().flatten() {
        if want == 0 {
            break;
        }
        want = g.afford(k, want, block);
    }
    want
}

/// Spends `n` bytes from every one of `gates`.
pub(crate) fn spend(gates: [Option<&mut Throttle<ConnKey>>; 2], n: u64) {
    for g in gates.into_iter().flatten() {
        g.spend(n);
    }
}

/// How much a connection is worth keeping when its torrent must shed some, lowest
/// closed first: one not yet past its handshake, then one where neither side is
/// interested, then one choked both ways, then one that can move data; the newest
/// first within each.
fn usefulness(c: &Connection) -> (u8, Reverse<Instant>) {
    let rank = match &c.state {
        ConnState::Active(s) if !s.peer_interested() && !s.am_interested() => 1,
        ConnState::Active(s) if s.am_choking() && s.peer_choking() => 2,
        ConnState::Active(_) => 3,
        _ => 0,
    };
    (rank, Reverse(c.started_at))
}

impl Engine {
    /// Tops up the session's and the torrents' buckets and lets the connections that
    /// waited for them go on.
    pub fn refill_limits(&mut self, now: Instant) {
        let mut woken = self.throttles.refill(now);
        for &id in &self.rate_capped {
            let Some(t) = self
                .torrents
                .get_mut(id.slot as usize)
                .filter(|t| t.id == id)
            else {
                continue;
            };
            if let Some(caps) = t.caps.as_deref_mut() {
                woken.extend(caps.throttles.refill(now));
            }
        }
        self.wake(woken, now);
    }

    /// Serves the connections that waited to send and asks again for those that
    /// waited to request.
    pub(crate) fn wake(&mut self, woken: Woken<ConnKey>, now: Instant) {
        for key in self.live_all(woken.up) {
            self.serve_requests(key, now);
        }
        for key in self.live_all(woken.down) {
            self.fill_requests(key, now);
            self.want_write(key, now);
        }
    }

    /// Whether torrent `tkey` is at its own connection cap. O(connections), and only
    /// for a torrent that has a cap.
    pub(crate) fn torrent_full(&self, tkey: usize) -> bool {
        let cap = self
            .torrents
            .get(tkey)
            .and_then(|t| t.caps.as_ref())
            .and_then(|c| c.max_connections);
        cap.is_some_and(|cap| self.conns_of(tkey).count() >= cap)
    }

    /// The open connections that name torrent `tkey` (dials, handshakes, peers).
    fn conns_of(&self, tkey: usize) -> impl Iterator<Item = (usize, &Connection)> {
        self.conns
            .iter()
            .filter(move |(_, c)| c.torrent == Some(tkey) && !c.is_closing())
    }

    /// Closes the connections of torrent `tkey` beyond its own cap, least useful first.
    pub(crate) fn shed_excess(&mut self, tkey: usize) {
        let Some(cap) = self.torrents[tkey]
            .caps
            .as_ref()
            .and_then(|c| c.max_connections)
        else {
            return;
        };
        let mut mine: Vec<(usize, (u8, Reverse<Instant>))> = self
            .conns_of(tkey)
            .map(|(key, c)| (key, usefulness(c)))
            .collect();
        if mine.len() <= cap {
            return;
        }
        mine.sort_by_key(|&(_, worth)| worth);
        let excess = mine.len() - cap;
        for (key, _) in mine.into_iter().take(excess) {
            self.close(key, CloseReason::TorrentFull);
        }
    }
}
