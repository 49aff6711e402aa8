//! Local service discovery (BEP 14) on the reactor: one UDP socket on port 6771 in the
//! multicast group 239.192.152.143, on the network of the first IPv4 peer listener
//! (the kernel's default multicast interface when that listener is on 0.0.0.0).
//!
//! Every torrent the engine offers for discovery ([`Engine::dht_torrents`]: not
//! private, not shutting down) is announced at once and then every
//! [`LSD_ANNOUNCE_EVERY`], up to [`MAX_INFOHASHES`] torrents in one datagram and at
//! most one datagram a second. Announces heard from others (not our own, which
//! multicast loops back: our cookie tells them) name peers for the torrents we have;
//! they go to the peer list as [`PeerSource::Lsd`], at most [`LSD_HEARD_PER_SECOND`]
//! announces a second so a flood costs a bounded amount of work.
//!
//! The socket is an endpoint of `reactor::udp` whose datagrams are routed here. Other
//! processes on the host may hold port 6771 too (`SO_REUSEADDR`/`SO_REUSEPORT`): each
//! gets its own copy of every announce.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;

use super::Reactor;
use super::udp::Roles;
use crate::rng::Rng;
use crate::torrent::peer_list::PeerSource;
use crate::types::{InfoHash, TorrentId};
use crate::wire::lsd::{self, GROUP_V4, MAX_INFOHASHES};

/// How often each torrent is announced on the LAN (BEP 14 leaves it to clients;
/// libtorrent announces every 5 minutes).
pub(super) const LSD_ANNOUNCE_EVERY: Duration = Duration::from_secs(5 * 60);

/// Announces from others handled per second, all senders together.
pub(super) const LSD_HEARD_PER_SECOND: u32 = 50;

/// Which torrents are due for an announce: pure, `now` passed in.
#[derive(Debug, Default)]
pub(super) struct LsdSchedule {
    due: HashMap<TorrentId, Instant>,
}

impl LsdSchedule {
    /// Of `torrents` (the live set), the info-hashes to announce now, at most
    /// [`MAX_INFOHASHES`], each then due again after [`LSD_ANNOUNCE_EVERY`]. New
    /// torrents are due at once; torrents no longer live are forgotten.
    pub(super) fn take_due(
        &mut self,
        torrents: &[(TorrentId, InfoHash)],
        now: Instant,
    ) -> Vec<InfoHash> {
        self.due
            .retain(|id, _| torrents.iter().any(|(t, _)| t == id));
        let mut out = Vec::new();
        for (id, hash) in torrents {
            let due = *self.due.entry(*id).or_insert(now);
            if due <= now && out.len() < MAX_INFOHASHES {
                out.push(*hash);
                self.due.insert(*id, now + LSD_ANNOUNCE_EVERY);
            }
        }
        out
    }
}

/// LSD's state in the reactor.
#[derive(Debug)]
pub(super) struct LsdIo {
    /// Index of its endpoint in `Reactor::udp`.
    endpoint: usize,
    /// Our peer port, announced.
    port: u16,
    /// Ours, in every announce: an announce carrying it is our own.
    cookie: String,
    schedule: LsdSchedule,
    /// Announces heard in the current second.
    heard: u32,
    second: Instant,
    /// Announces sent and heard (others'), for the log at exit.
    pub(super) sent: u64,
    pub(super) peers_heard: u64,
}

/// The LSD socket: 0.0.0.0:6771 shared with other processes, in the group on
/// `interface`, multicasting out of it with loopback on (other clients on this host
/// hear us) and a TTL of 1 (the LAN only).
fn bind(interface: Ipv4Addr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    set_reuse_port(&socket)?;
    socket.set_nonblocking(true)?;
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, GROUP_V4.port());
    socket.bind(&SocketAddr::V4(any).into())?;
    socket.join_multicast_v4(GROUP_V4.ip(), &interface)?;
    socket.set_multicast_if_v4(&interface)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_multicast_ttl_v4(1)?;
    Ok(UdpSocket::from_std(socket.into()))
}

/// `SO_REUSEPORT`: several processes on this host may listen on 6771 at once.
fn set_reuse_port(socket: &socket2::Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, an int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl LsdIo {
    /// LSD on the network of the first IPv4 address of `peer_addrs`, registered as an
    /// endpoint of `udp`; `None` (with a warning) when there is no IPv4 peer listener
    /// or the group cannot be joined there.
    pub(super) fn new(
        peer_addrs: &[SocketAddr],
        udp: &mut super::udp::UdpEndpoints,
        registry: &mio::Registry,
        now: Instant,
    ) -> Option<LsdIo> {
        let Some((interface, port)) = peer_addrs.iter().find_map(|a| match a.ip() {
            IpAddr::V4(ip) => Some((ip, a.port())),
            IpAddr::V6(_) => None,
        }) else {
            log::warn!("local service discovery is off: no IPv4 peer listener");
            return None;
        };
        let sock = match bind(interface) {
            Ok(s) => s,
            Err(e) => {
                log::warn!(
                    "local service discovery is off: cannot join {GROUP_V4} on {interface}: {e}"
                );
                return None;
            }
        };
        let roles = Roles {
            lsd: true,
            ..Roles::default()
        };
        let endpoint = match udp.add(sock, roles, registry) {
            Ok(i) => i,
            Err(e) => {
                log::warn!("local service discovery is off: {e}");
                return None;
            }
        };
        let cookie = format!("{:016x}", Rng::from_os().next_u64());
        Some(LsdIo {
            endpoint,
            port,
            cookie,
            schedule: LsdSchedule::default(),
            heard: 0,
            second: now,
            sent: 0,
            peers_heard: 0,
        })
    }
}

impl Reactor {
    /// Once a second: announce the torrents that are due, in one datagram.
    pub(super) fn lsd_second(&mut self, now: Instant) {
        let Some(l) = self.lsd.as_mut() else {
            return;
        };
        l.heard = 0;
        l.second = now;
        let torrents: Vec<(TorrentId, InfoHash)> = self
            .engine
            .dht_torrents()
            .iter()
            .map(|t| (t.id, t.info_hash))
            .collect();
        let due = l.schedule.take_due(&torrents, now);
        if due.is_empty() {
            return;
        }
        let packet = lsd::encode(l.port, &due, &l.cookie);
        let endpoint = l.endpoint;
        l.sent += 1;
        if let Err(e) = self.udp.send(endpoint, SocketAddr::V4(GROUP_V4), packet) {
            log::debug!("lsd announce not sent: {e}");
        }
    }

    /// An announce heard on the LSD socket: peers for the torrents we have.
    pub(super) fn on_lsd_datagram(&mut self, from: SocketAddr, packet: &[u8], now: Instant) {
        let Some(l) = self.lsd.as_mut() else {
            return;
        };
        if now >= l.second + Duration::from_secs(1) {
            l.heard = 0;
            l.second = now;
        }
        if l.heard >= LSD_HEARD_PER_SECOND {
            return;
        }
        l.heard += 1;
        let announce = match lsd::decode(packet) {
            Ok(a) => a,
            Err(e) => {
                log::debug!("lsd datagram from {from} ignored: {e}");
                return;
            }
        };
        if announce.cookie.as_deref() == Some(l.cookie.as_str()) {
            return;
        }
        let peer = SocketAddr::new(from.ip(), announce.port);
        let ours: Vec<TorrentId> = self
            .engine
            .dht_torrents()
            .iter()
            .filter(|t| announce.info_hashes.contains(&t.info_hash))
            .map(|t| t.id)
            .collect();
        for id in ours {
            l.peers_heard += 1;
            log::debug!("lsd: {peer} has torrent {id:?}");
            self.engine
                .learn_peers(id, vec![peer], PeerSource::Lsd, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torrents_are_announced_at_once_then_every_five_minutes_sixteen_at_a_time() {
        let t0 = Instant::now();
        let torrents: Vec<(TorrentId, InfoHash)> = (0..20u8)
            .map(|i| {
                (
                    TorrentId {
                        slot: u32::from(i),
                        generation: 0,
                    },
                    InfoHash([i; 20]),
                )
            })
            .collect();
        let mut s = LsdSchedule::default();
        assert_eq!(
            s.take_due(&torrents, t0).len(),
            16,
            "16 in the first datagram"
        );
        let second = t0 + Duration::from_secs(1);
        assert_eq!(s.take_due(&torrents, second).len(), 4, "the other 4 next");
        assert!(
            s.take_due(&torrents, second + Duration::from_secs(60))
                .is_empty()
        );
        let later = t0 + LSD_ANNOUNCE_EVERY;
        assert_eq!(
            s.take_due(&torrents, later).len(),
            16,
            "due again after 5 min"
        );
        // A torrent that went away is forgotten; one that comes back is due at once.
        s.take_due(&torrents[..1], later);
        assert_eq!(s.due.len(), 1);
        assert_eq!(s.take_due(&torrents[1..2], later), vec![InfoHash([1; 20])]);
    }
}
