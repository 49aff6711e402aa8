//! Trackers on the reactor. As a client: each torrent's `TrackerClient` says what to
//! send; this file resolves host names (on the resolver thread), sends UDP datagrams or
//! starts HTTP GETs, and feeds answers back, turning the peers it learns into dial
//! candidates. As a server: UDP datagrams and HTTP requests go to the `TrackerService`
//! (the core's sans-io front ends) and its answers go back out. All on the one reactor thread.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mio::net::UdpSocket;

use super::Reactor;
use super::http::FetchOwner;
use crate::tracker::client::{ClientEvent, Outgoing, RequestId, RequestKind, UdpStep};
use crate::wire::http::{self, Response};
use crate::wire::http_tracker;
use crate::wire::udp_tracker::{UdpRequest, UdpResponse};

/// Biggest datagram read; BEP 15 answers with 200 IPv6 peers stay far below it.
const UDP_BUF: usize = 8192;

/// A tracker request waiting for its host name to resolve.
#[derive(Debug)]
pub(super) struct PendingLookup {
    torrent: usize,
    outgoing: Outgoing,
}

/// A UDP tracker exchange in flight, found again by (tracker address, transaction id).
#[derive(Debug, Clone, Copy)]
pub(super) struct UdpExchange {
    torrent: usize,
    request: RequestId,
}

/// Tracker-side state of the reactor that is not the sans-io cores.
#[derive(Debug, Default)]
pub(super) struct TrackerIo {
    /// Look-ups by id.
    pub(super) lookups: HashMap<u64, PendingLookup>,
    pub(super) next_lookup: u64,
    /// UDP client exchanges by (tracker, transaction id).
    pub(super) udp: HashMap<(SocketAddr, u32), UdpExchange>,
}

/// Splits `udp://host:port[/path]` into host and port.
fn udp_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.get(..6).filter(|p| p.eq_ignore_ascii_case("udp://"))?;
    let rest = &url[rest.len()..];
    let authority = rest.split(['/', '?']).next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, port) = v6.split_once("]:")?;
        return Some((host.to_string(), port.parse().ok()?));
    }
    let (host, port) = authority.rsplit_once(':')?;
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

impl Reactor {
    /// Lets torrent `tkey`'s tracker client act: progress, timeouts, requests, events.
    pub(super) fn pump_tracker(&mut self, tkey: usize, now: Instant) {
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let left = t.storage.layout.total_length - t.bytes_done();
        let (up, down) = (t.up.total(), t.down.total());
        let Some(client) = t.tracker.as_mut() else {
            return;
        };
        client.set_progress(up, down, left);
        client.handle_timeout(now);
        let mut outgoing = Vec::new();
        while let Some(o) = client.poll_transmit(now) {
            outgoing.push(o);
        }
        let mut events = Vec::new();
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
        let mut got_peers = false;
        for e in events {
            match e {
                ClientEvent::Peers(addrs) => {
                    got_peers = true;
                    log::debug!("tracker gave {} peers", addrs.len());
                    t.add_candidates(addrs);
                }
                ClientEvent::Warning { url, message } => log::warn!("tracker {url}: {message}"),
                ClientEvent::Error { url, message } => log::warn!("tracker {url}: {message}"),
                ClientEvent::Swarm {
                    url,
                    complete,
                    incomplete,
                } => log::debug!("tracker {url}: {complete:?} seeds, {incomplete:?} leechers"),
            }
        }
        for o in outgoing {
            self.send_tracker_request(tkey, o, now);
        }
        if got_peers && !self.shutting_down {
            self.dial_candidates(now);
        }
    }

    fn tracker_failed(&mut self, tkey: usize, request: RequestId, reason: String, now: Instant) {
        if let Some(client) = self.torrents.get_mut(tkey).and_then(|t| t.tracker.as_mut()) {
            client.on_request_failed(request, reason, now);
        }
    }

    /// Resolves the tracker's host if needed, then sends.
    fn send_tracker_request(&mut self, tkey: usize, outgoing: Outgoing, now: Instant) {
        let target = match &outgoing.kind {
            RequestKind::Http { .. } => http::parse_url(&outgoing.url)
                .map(|u| (u.host, u.port))
                .map_err(|e| e.to_string()),
            RequestKind::Udp(_) => udp_host_port(&outgoing.url)
                .ok_or_else(|| format!("not a udp tracker URL: {}", outgoing.url)),
        };
        let (host, port) = match target {
            Ok(hp) => hp,
            Err(e) => return self.tracker_failed(tkey, outgoing.request_id, e, now),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.send_resolved(tkey, outgoing, SocketAddr::new(ip, port), now);
        }
        if self.resolver.is_none() {
            match crate::resolver::Resolver::new(self.waker.clone()) {
                Ok(r) => self.resolver = Some(r),
                Err(e) => {
                    let reason = format!("cannot start the resolver: {e}");
                    return self.tracker_failed(tkey, outgoing.request_id, reason, now);
                }
            }
        }
        let id = self.tracker_io.next_lookup;
        self.tracker_io.next_lookup += 1;
        let request = outgoing.request_id;
        let asked = self
            .resolver
            .as_ref()
            .map_or(Err("no resolver".to_string()), |r| {
                r.resolve(id, &host, port)
            });
        match asked {
            Ok(()) => {
                self.tracker_io.lookups.insert(
                    id,
                    PendingLookup {
                        torrent: tkey,
                        outgoing,
                    },
                );
            }
            Err(e) => self.tracker_failed(tkey, request, e, now),
        }
    }

    /// Takes resolver answers and sends the requests that waited for them.
    pub(super) fn on_lookups(&mut self, now: Instant) {
        let answers = self
            .resolver
            .as_ref()
            .map(|r| r.drain())
            .unwrap_or_default();
        for (id, result) in answers {
            let Some(p) = self.tracker_io.lookups.remove(&id) else {
                continue;
            };
            let usable = |a: &SocketAddr| match a {
                SocketAddr::V4(_) => true,
                SocketAddr::V6(_) => self.udp_client6.is_some(),
            };
            match result.map(|addrs| addrs.into_iter().find(usable)) {
                Ok(Some(addr)) => self.send_resolved(p.torrent, p.outgoing, addr, now),
                Ok(None) => {
                    let reason = format!("{}: no usable address", p.outgoing.url);
                    self.tracker_failed(p.torrent, p.outgoing.request_id, reason, now)
                }
                Err(e) => self.tracker_failed(p.torrent, p.outgoing.request_id, e, now),
            }
        }
    }

    fn send_resolved(&mut self, tkey: usize, outgoing: Outgoing, addr: SocketAddr, now: Instant) {
        let request = outgoing.request_id;
        match outgoing.kind {
            RequestKind::Http {
                announce,
                tracker_id,
            } => {
                let full =
                    http_tracker::announce_url(&outgoing.url, &announce, tracker_id.as_deref());
                let started = http::parse_url(&full)
                    .map_err(|e| e.to_string())
                    .and_then(|url| {
                        let owner = FetchOwner {
                            torrent: tkey,
                            request: request.0,
                        };
                        self.start_fetch(&url, addr, owner, now)
                    });
                if let Err(e) = started {
                    self.tracker_failed(tkey, request, e, now);
                }
            }
            RequestKind::Udp(step) => {
                let (transaction_id, packet) = match step {
                    UdpStep::Connect { transaction_id } => {
                        (transaction_id, UdpRequest::Connect { transaction_id })
                    }
                    UdpStep::Announce {
                        connection_id,
                        transaction_id,
                        announce,
                    } => (
                        transaction_id,
                        UdpRequest::Announce {
                            connection_id,
                            transaction_id,
                            request: announce,
                        },
                    ),
                };
                let mut buf = Vec::with_capacity(100);
                packet.encode(&mut buf);
                let socket = if addr.is_ipv4() {
                    self.udp_client4.as_ref()
                } else {
                    self.udp_client6.as_ref()
                };
                let sent = match socket {
                    Some(s) => s.send_to(&buf, addr).map(|_| ()),
                    None => Err(io::Error::other("no UDP socket for that address family")),
                };
                match sent {
                    Ok(()) => {
                        self.tracker_io.udp.insert(
                            (addr, transaction_id),
                            UdpExchange {
                                torrent: tkey,
                                request,
                            },
                        );
                    }
                    // A full socket buffer loses the datagram; BEP 15 retransmits.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => self.tracker_failed(tkey, request, e.to_string(), now),
                }
            }
        }
    }

    /// Reads answers from UDP trackers on the client socket of one family.
    pub(super) fn on_udp_client(&mut self, ipv6: bool, now: Instant) {
        let mut buf = [0u8; UDP_BUF];
        loop {
            let socket = if ipv6 {
                self.udp_client6.as_ref()
            } else {
                self.udp_client4.as_ref()
            };
            let Some(socket) = socket else { return };
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("udp tracker socket: {e}");
                    return;
                }
            };
            let Ok(response) = UdpResponse::decode(&buf[..n], ipv6) else {
                continue;
            };
            let tid = response.transaction_id();
            let Some(ex) = self.tracker_io.udp.remove(&(from, tid)) else {
                continue;
            };
            let Some(client) = self
                .torrents
                .get_mut(ex.torrent)
                .and_then(|t| t.tracker.as_mut())
            else {
                continue;
            };
            match response {
                UdpResponse::Connect {
                    transaction_id,
                    connection_id,
                } => client.on_udp_connect_response(ex.request, transaction_id, connection_id, now),
                UdpResponse::Announce {
                    transaction_id,
                    response,
                } => client.on_udp_announce_response(ex.request, transaction_id, response, now),
                UdpResponse::Error {
                    transaction_id,
                    message,
                } => client.on_udp_error(ex.request, transaction_id, message, now),
                UdpResponse::Scrape { .. } => {}
            }
            self.pump_tracker(ex.torrent, now);
        }
    }

    /// An HTTP announce finished.
    pub(super) fn on_fetch_done(
        &mut self,
        owner: FetchOwner,
        result: Result<Response, String>,
        now: Instant,
    ) {
        let answer = result.and_then(|r| {
            http_tracker::decode_announce_response(&r.body).map_err(|e| match r.status {
                200 => e.to_string(),
                code => format!("HTTP {code}: {e}"),
            })
        });
        if let Some(client) = self
            .torrents
            .get_mut(owner.torrent)
            .and_then(|t| t.tracker.as_mut())
        {
            client.on_http_response(RequestId(owner.request), answer, now);
        }
        self.pump_tracker(owner.torrent, now);
    }

    /// Answers datagrams on tracker server socket `index` until `WouldBlock`.
    pub(super) fn on_udp_server(&mut self, index: usize, now: Instant) {
        let mut buf = [0u8; UDP_BUF];
        let mut out = Vec::with_capacity(UDP_BUF);
        loop {
            let Some(socket) = self.udp_servers.get(index) else {
                return;
            };
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("udp tracker server socket: {e}");
                    return;
                }
            };
            let Some(server) = self.tracker_server.as_mut() else {
                return;
            };
            if !server.on_datagram(&buf[..n], from, now, &mut out) {
                continue;
            }
            let Some(socket) = self.udp_servers.get(index) else {
                return;
            };
            if let Err(e) = socket.send_to(&out, from) {
                // A full send buffer drops this answer; the client retransmits.
                log::debug!("udp tracker answer to {from} dropped: {e}");
            }
        }
    }
}

/// Binds a non-blocking UDP socket for the tracker client of one family.
pub(super) fn client_socket(ipv6: bool) -> Option<UdpSocket> {
    let addr: SocketAddr = if ipv6 {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    UdpSocket::bind(addr).ok()
}

#[cfg(test)]
mod tests {
    use super::udp_host_port;

    #[test]
    fn udp_urls() {
        assert_eq!(
            udp_host_port("udp://t.example:6969/announce"),
            Some(("t.example".into(), 6969))
        );
        assert_eq!(
            udp_host_port("UDP://127.0.0.1:80"),
            Some(("127.0.0.1".into(), 80))
        );
        assert_eq!(
            udp_host_port("udp://[::1]:6969/announce"),
            Some(("::1".into(), 6969))
        );
        assert_eq!(udp_host_port("udp://t.example/announce"), None);
        assert_eq!(udp_host_port("udp://:80"), None);
        assert_eq!(udp_host_port("http://t:80"), None);
    }
}
