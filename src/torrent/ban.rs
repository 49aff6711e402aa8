//! Bans for peers that sent data failing hash checks. A ban hits the peer *endpoint*
//! (address and port) and the peer id it handshook with, never its whole address at
//! first: carrier-grade NAT, seed-box hosts running one client per user and loopback
//! all carry many honest peers on one address. Only when
//! [`BAN_ENDPOINTS_PER_ADDRESS`] endpoints of one address are banned is the address
//! itself banned, so a peer cannot escape its ban forever by reconnecting from new
//! ports.
//!
//! Depends on `config` and `types`. Plain data, no clock: strikes and bans last for the
//! torrent's life in this session.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use crate::config::{BAN_ENDPOINTS_PER_ADDRESS, BAN_MAX_STRUCK, BAN_STRIKES};
use crate::types::PeerId;

/// Who sent a block: the connection's endpoint and the peer id from its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// The remote endpoint of the connection.
    pub addr: SocketAddr,
    /// The id the peer handshook with.
    pub peer_id: PeerId,
}

/// What a strike led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ban {
    /// This endpoint and peer id are banned; other endpoints of the address are not.
    Endpoint(Source),
    /// Too many endpoints of this address were banned: the address is.
    Address(IpAddr),
}

impl Ban {
    /// Whether a connection from `addr` that handshook as `peer_id` falls under it.
    pub fn covers(&self, addr: SocketAddr, peer_id: Option<PeerId>) -> bool {
        match self {
            Ban::Endpoint(s) => s.addr == addr || peer_id == Some(s.peer_id),
            Ban::Address(ip) => addr.ip() == *ip,
        }
    }
}

impl std::fmt::Display for Ban {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ban::Endpoint(s) => write!(f, "{}", s.addr),
            Ban::Address(ip) => write!(f, "address {ip} (too many banned endpoints)"),
        }
    }
}

/// Strikes and bans of one torrent.
#[derive(Debug, Default)]
pub struct Bans {
    strikes: HashMap<SocketAddr, u32>,
    endpoints: HashSet<SocketAddr>,
    ids: HashSet<PeerId>,
    per_address: HashMap<IpAddr, u32>,
    addresses: HashSet<IpAddr>,
}

impl Bans {
    /// Gives `who` a strike. Returns the ban it leads to, once: the endpoint's at its
    /// [`BAN_STRIKES`]th strike, or its address's when that was one banned endpoint too
    /// many.
    pub fn strike(&mut self, who: Source) -> Option<Ban> {
        if self.addresses.contains(&who.addr.ip()) || self.endpoints.contains(&who.addr) {
            return None;
        }
        if !self.strikes.contains_key(&who.addr) && self.strikes.len() >= BAN_MAX_STRUCK {
            let forget = self.strikes.keys().next().copied();
            if let Some(old) = forget {
                self.strikes.remove(&old);
            }
        }
        let strikes = self.strikes.entry(who.addr).or_default();
        *strikes += 1;
        if *strikes < BAN_STRIKES {
            return None;
        }
        self.strikes.remove(&who.addr);
        self.endpoints.insert(who.addr);
        self.ids.insert(who.peer_id);
        let ip = who.addr.ip();
        let banned_here = self.per_address.entry(ip).or_default();
        *banned_here += 1;
        if *banned_here >= BAN_ENDPOINTS_PER_ADDRESS {
            self.addresses.insert(ip);
            self.endpoints.retain(|a| a.ip() != ip);
            return Some(Ban::Address(ip));
        }
        Some(Ban::Endpoint(who))
    }

    /// Whether the whole address is banned (checked before a connection is accepted).
    pub fn address_banned(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip)
    }

    /// Whether dialling `addr` is barred: the endpoint or its address is banned.
    pub fn endpoint_banned(&self, addr: SocketAddr) -> bool {
        self.endpoints.contains(&addr) || self.addresses.contains(&addr.ip())
    }

    /// Whether a peer that handshook from `addr` as `peer_id` is banned.
    pub fn peer_banned(&self, addr: SocketAddr, peer_id: PeerId) -> bool {
        self.endpoint_banned(addr) || self.ids.contains(&peer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(addr: &str, id: u8) -> Source {
        Source {
            addr: addr.parse().unwrap(),
            peer_id: PeerId([id; 20]),
        }
    }

    #[test]
    fn a_ban_hits_the_endpoint_not_its_neighbours() {
        let mut b = Bans::default();
        let liar = src("127.0.0.1:7000", 1);
        let honest = src("127.0.0.1:7001", 2);
        assert_eq!(b.strike(liar), None, "one strike does not ban");
        assert_eq!(b.strike(liar), Some(Ban::Endpoint(liar)), "the second does");
        assert_eq!(b.strike(liar), None, "banned once only");
        assert!(b.endpoint_banned(liar.addr));
        assert!(!b.endpoint_banned(honest.addr), "same address, other port");
        assert!(!b.peer_banned(honest.addr, honest.peer_id));
        assert!(!b.address_banned(liar.addr.ip()));
        // Back from a new port with the same peer id: still banned.
        assert!(b.peer_banned("127.0.0.1:7999".parse().unwrap(), liar.peer_id));
        let ban = Ban::Endpoint(liar);
        assert!(ban.covers(liar.addr, None));
        assert!(!ban.covers(honest.addr, Some(honest.peer_id)));
    }

    #[test]
    fn strikes_of_different_endpoints_do_not_add_up() {
        let mut b = Bans::default();
        assert_eq!(b.strike(src("10.0.0.1:1", 1)), None);
        assert_eq!(b.strike(src("10.0.0.1:2", 2)), None);
        assert!(!b.endpoint_banned("10.0.0.1:1".parse().unwrap()));
        assert!(!b.endpoint_banned("10.0.0.1:2".parse().unwrap()));
    }

    #[test]
    fn too_many_banned_endpoints_ban_the_address() {
        let mut b = Bans::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let mut last = None;
        for port in 1..=BAN_ENDPOINTS_PER_ADDRESS as u16 {
            let s = Source {
                addr: SocketAddr::new(ip, port),
                peer_id: PeerId([port as u8; 20]),
            };
            b.strike(s);
            last = b.strike(s);
        }
        assert_eq!(last, Some(Ban::Address(ip)));
        assert!(b.address_banned(ip));
        assert!(b.endpoint_banned(SocketAddr::new(ip, 60000)));
        assert!(!b.address_banned("10.0.0.10".parse().unwrap()));
        assert!(b.endpoints.is_empty(), "folded into the address ban");
        assert!(Ban::Address(ip).covers(SocketAddr::new(ip, 5), None));
    }

    #[test]
    fn the_strike_table_is_bounded() {
        let mut b = Bans::default();
        for i in 0..(BAN_MAX_STRUCK as u32 + 100) {
            let addr = SocketAddr::new(IpAddr::from(i.to_be_bytes()), 1);
            b.strike(Source {
                addr,
                peer_id: PeerId([0; 20]),
            });
        }
        assert!(b.strikes.len() <= BAN_MAX_STRUCK);
    }
}
