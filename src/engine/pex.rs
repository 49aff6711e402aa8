//! Peer exchange (BEP 11) in the engine: which torrents offer `ut_pex` (not private
//! ones, BEP 27), the per-second check that sends each peer its due message, and what
//! a message from a peer adds to the torrent's peer list.
//!
//! Depends on `peer::pex` (the per-peer state and diff) and `wire::pex` (the codec).
//! A peer is advertised at the address others can dial: where we dialled it, or for a
//! peer that dialled us its IP with the listen port of its extension handshake (one
//! that did not say is not advertised, as libtorrent does). What a peer sends costs
//! only that peer: a message within `PEX_MIN_GAP` of its last one is ignored, one that
//! does not decode closes it, and of the rest at most `MAX_PEERS` addresses per family
//! are used; addresses on the local network are taken only from a peer on it.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::Engine;
use crate::peer::close::CloseReason;
use crate::peer::conn::{ConnState, Connection};
use crate::peer::ext::{Extension, Registry};
use crate::peer::pex::SwarmPeer;
use crate::torrent::peer_list::PeerSource;
use crate::torrent::state::Torrent;
use crate::wire::peer::Message;
use crate::wire::pex::{PexFlags, PexMessage};

/// Peer exchange totals since the start (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PexCounters {
    /// Messages sent.
    pub sent: u64,
    /// Messages received and used.
    pub received: u64,
    /// Messages ignored for coming within `PEX_MIN_GAP` of the sender's last.
    pub too_soon: u64,
    /// Messages that did not decode (their senders were closed).
    pub malformed: u64,
    /// Entries left out of messages past `MAX_PEERS` per list.
    pub entries_cut: u64,
    /// Addresses handed to the peer lists.
    pub peers_learned: u64,
}

/// The extensions torrent `t` offers its peers out of `all`: no peer exchange for a
/// private torrent (BEP 27: its peers come from its trackers only).
pub(crate) fn offered(all: &Registry, t: &Torrent) -> Registry {
    if t.meta.info.private {
        all.without(Extension::UtPex)
    } else {
        all.clone()
    }
}

/// How connection `c` is advertised to other peers, if it is active and dialable.
fn advertised(c: &Connection) -> Option<SwarmPeer> {
    let s = c.session()?;
    let addr = if c.outgoing {
        c.addr
    } else {
        SocketAddr::new(c.addr.ip(), s.listen_port()?)
    };
    let flags = PexFlags::default()
        .with(PexFlags::SEED, s.have().is_all_set())
        .with(PexFlags::CONNECTABLE, c.outgoing);
    Some(SwarmPeer {
        addr: canonical(addr),
        flags,
    })
}

/// `addr` with an IPv4-mapped IPv6 address (a dual-stack socket's) as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Loopback, private, link-local or unique-local: reachable only nearby.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Whether an address `from` sent in `added` is worth dialling at all.
fn dialable(addr: SocketAddr, from: SocketAddr) -> bool {
    let ip = addr.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    addr.port() != 0
        && !ip.is_unspecified()
        && !ip.is_multicast()
        && !broadcast
        && (!is_local(ip) || is_local(from.ip().to_canonical()))
}

impl Engine {
    /// Peer exchange totals since the start.
    pub fn pex_counters(&self) -> PexCounters {
        self.pex
    }

    /// Per second: every peer of a public torrent whose peer exchange message is due
    /// and who speaks `ut_pex` gets the diff of the torrent's connected peers. A
    /// torrent with one peer has nothing to tell it and is skipped (as libtorrent
    /// does; what it was told of is dropped once a second peer comes).
    pub(crate) fn pex_tick(&mut self, now: Instant) {
        let keys: Vec<usize> = self
            .torrents
            .iter()
            .filter(|(_, t)| !t.meta.info.private && t.is_active() && t.peers.len() > 1)
            .map(|(k, _)| k)
            .collect();
        for tkey in keys {
            self.pex_send(tkey, now);
        }
    }

    fn pex_send(&mut self, tkey: usize, now: Instant) {
        let peers = self.live_all(self.torrents[tkey].peers.clone());
        let due: Vec<usize> = peers
            .iter()
            .copied()
            .filter(|&k| {
                self.conns[k]
                    .session()
                    .is_some_and(|s| s.extension_id(Extension::UtPex).is_some() && s.pex().due(now))
            })
            .collect();
        if due.is_empty() {
            return;
        }
        let swarm: Vec<SwarmPeer> = peers
            .iter()
            .filter_map(|&k| advertised(&self.conns[k]))
            .collect();
        for key in due {
            let conn = &mut self.conns[key];
            let own = [
                canonical(conn.addr),
                advertised(conn).map_or(conn.addr, |p| p.addr),
            ];
            let Connection { state, send, .. } = conn;
            let ConnState::Active(s) = state else {
                continue;
            };
            let Some(id) = s.extension_id(Extension::UtPex) else {
                continue;
            };
            let Some(msg) = s.pex_mut().poll_message(now, &swarm, &own) else {
                continue;
            };
            send.queue_msg(&Message::Extended {
                id,
                payload: &msg.encode(),
            });
            self.pex.sent += 1;
            self.want_write(key, now);
        }
    }

    /// A `ut_pex` message from connection `key` of torrent `tkey`: the peers it added
    /// that we are not connected to join the peer list (source `Pex`). See the module
    /// docs for what is ignored.
    pub(crate) fn on_pex(&mut self, key: usize, tkey: usize, payload: &[u8], now: Instant) {
        let Some(t) = self.torrents.get(tkey) else {
            return;
        };
        if t.meta.info.private {
            return;
        }
        let id = t.id;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let from = conn.addr;
        let Some(s) = conn.session_mut() else {
            return;
        };
        if !s.pex_mut().on_message(now) {
            log::debug!("{from}: ut_pex message too soon after its last; ignored");
            self.pex.too_soon += 1;
            return;
        }
        let decoded = match PexMessage::decode(payload) {
            Ok(d) => d,
            Err(e) => {
                log::debug!("{from}: {e}");
                self.pex.malformed += 1;
                return self.close(key, CloseReason::ProtocolViolation);
            }
        };
        self.pex.received += 1;
        self.pex.entries_cut += decoded.ignored as u64;
        if decoded.ignored > 0 {
            log::debug!(
                "{from}: ut_pex message past {} peers per list: {} ignored",
                crate::wire::pex::MAX_PEERS,
                decoded.ignored
            );
        }
        let connected: Vec<SocketAddr> = self
            .live_all(self.torrents[tkey].peers.clone())
            .into_iter()
            .flat_map(|k| {
                let c = &self.conns[k];
                [Some(canonical(c.addr)), advertised(c).map(|p| p.addr)]
            })
            .flatten()
            .collect();
        let listen_port = self.listen_port;
        let is_us = |a: SocketAddr| {
            Some(a.port()) == listen_port && (a.ip().is_loopback() || a.ip().is_unspecified())
        };
        let addrs: Vec<SocketAddr> = decoded
            .msg
            .added
            .into_iter()
            .map(|(a, _)| canonical(a))
            .filter(|&a| dialable(a, from) && !is_us(a) && !connected.contains(&a))
            .collect();
        if !addrs.is_empty() {
            log::debug!("{from}: ut_pex gave {} peers", addrs.len());
            self.pex.peers_learned += addrs.len() as u64;
            self.learn_peers(id, addrs, PeerSource::Pex, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_dialable_addresses_and_local_ones_only_from_local_peers() {
        let public = a("198.51.100.7:6881");
        let lan = a("192.168.1.2:6881");
        for (addr, ok_from_public, ok_from_lan) in [
            (public, true, true),
            (lan, false, true),
            (a("127.0.0.1:6881"), false, true),
            (a("[fe80::1]:6881"), false, true),
            (a("[2001:db8::1]:6881"), true, true),
            (a("198.51.100.7:0"), false, false),
            (a("0.0.0.0:6881"), false, false),
            (a("224.0.0.1:6881"), false, false),
            (a("255.255.255.255:6881"), false, false),
            (a("[::]:6881"), false, false),
        ] {
            assert_eq!(dialable(addr, public), ok_from_public, "{addr} from public");
            assert_eq!(dialable(addr, lan), ok_from_lan, "{addr} from lan");
        }
        assert!(dialable(lan, a("[::ffff:10.0.0.1]:1")), "mapped sender");
        assert_eq!(canonical(a("[::ffff:10.0.0.1]:5")), a("10.0.0.1:5"));
    }
}
