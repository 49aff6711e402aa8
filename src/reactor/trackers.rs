//! Trackers on the reactor. As a client: each torrent's `TrackerClient` says what to
//! send; this file resolves host names (on the resolver thread), sends UDP datagrams or
//! starts HTTP GETs, and feeds answers back, turning the peers it learns into dial
//! candidates. Each client is driven only when something happens to it: an answer, a
//! failure, or the one timer armed at its `poll_timeout` in the reactor's heap. As a server: UDP datagrams and HTTP requests go to the `TrackerService`
//! (the core's sans-io front ends) and its answers go back out. All on the one reactor thread.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mio::net::UdpSocket;

use super::http_fetch::FetchOwner;
use super::{Reactor, Tick};
use crate::timer::TimerId;
use crate::tracker::client::exchanges::UdpExchanges;
use crate::tracker::client::{ClientEvent, Outgoing, RequestId, RequestKind};
use crate::types::TorrentId;
use crate::wire::http::{self, Response};
use crate::wire::http_tracker;

/// A tracker request waiting for its host name to resolve.
#[derive(Debug)]
pub(super) struct PendingLookup {
    torrent: TorrentId,
    outgoing: Outgoing,
}

/// Tracker-side state of the reactor that is not the sans-io cores.
#[derive(Debug, Default)]
pub(super) struct TrackerIo {
    /// Look-ups by id.
    pub(super) lookups: HashMap<u64, PendingLookup>,
    pub(super) next_lookup: u64,
    /// Every torrent's BEP 15 exchanges in flight.
    pub(super) udp: UdpExchanges<TorrentId>,
    /// The timer armed for each torrent's tracker client, at its `poll_timeout`.
    pub(super) armed: HashMap<TorrentId, (Instant, TimerId)>,
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
    /// Lets torrent `tid`'s tracker client act: progress, timeouts, requests, events.
    pub(super) fn pump_tracker(&mut self, tid: TorrentId, now: Instant) {
        let Some(client) = self.engine.tracker_client(tid) else {
            return;
        };
        client.handle_timeout(now);
        let outgoing: Vec<Outgoing> = std::iter::from_fn(|| client.poll_transmit(now)).collect();
        let events: Vec<ClientEvent> = std::iter::from_fn(|| client.poll_event()).collect();
        self.engine.on_tracker_events(tid, events, now);
        for ip in self.engine.take_external_ips() {
            self.on_external_ip(ip, now);
        }
        for o in outgoing {
            self.send_tracker_request(tid, o, now);
        }
        self.arm_tracker(tid, now);
    }

    /// Keeps one timer armed for torrent `tid`'s tracker client: at `now` when a
    /// request waits to be sent, else at its `poll_timeout`, else none. An idle client
    /// costs nothing until then.
    pub(super) fn arm_tracker(&mut self, tid: TorrentId, now: Instant) {
        let due = self
            .engine
            .torrent_ref(tid)
            .and_then(|t| t.tracker.as_ref())
            .and_then(|c| {
                if c.wants_transmit() {
                    Some(now)
                } else {
                    c.poll_timeout()
                }
            });
        let armed = self.tracker_io.armed.get(&tid).copied();
        if armed.map(|(at, _)| at) == due {
            return;
        }
        if let Some((_, id)) = armed {
            self.timers.cancel(id);
            self.tracker_io.armed.remove(&tid);
        }
        if let Some(at) = due {
            let id = self.timers.schedule(at, Tick::Tracker(tid));
            self.tracker_io.armed.insert(tid, (at, id));
        }
    }

    /// Torrent `tid` is gone: its timer, look-ups and UDP exchanges go too (an HTTP
    /// answer still on its way finds no torrent and is dropped).
    pub(super) fn forget_tracker(&mut self, tid: TorrentId) {
        if let Some((_, timer)) = self.tracker_io.armed.remove(&tid) {
            self.timers.cancel(timer);
        }
        self.tracker_io.lookups.retain(|_, l| l.torrent != tid);
        self.tracker_io.udp.forget_torrent(tid);
    }

    /// Torrent `tid`'s tracker client timer fired.
    pub(super) fn on_tracker_timer(&mut self, tid: TorrentId, now: Instant) {
        self.tracker_io.armed.remove(&tid);
        self.pump_tracker(tid, now);
    }

    fn tracker_failed(&mut self, tid: TorrentId, request: RequestId, reason: String, now: Instant) {
        if let Some(client) = self
            .engine
            .torrent_mut(tid)
            .and_then(|t| t.tracker.as_mut())
        {
            client.on_request_failed(request, reason, now);
        }
        // The client moved on to its next tracker: that request goes out at once.
        self.arm_tracker(tid, now);
    }

    /// Resolves the tracker's host if needed, then sends.
    fn send_tracker_request(&mut self, tid: TorrentId, outgoing: Outgoing, now: Instant) {
        let target = match &outgoing.kind {
            RequestKind::Http { .. } => http::parse_url(&outgoing.url)
                .map(|u| (u.host, u.port))
                .map_err(|e| e.to_string()),
            RequestKind::Udp(_) => udp_host_port(&outgoing.url)
                .ok_or_else(|| format!("not a udp tracker URL: {}", outgoing.url)),
        };
        let (host, port) = match target {
            Ok(hp) => hp,
            Err(e) => return self.tracker_failed(tid, outgoing.request_id, e, now),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.send_resolved(tid, outgoing, SocketAddr::new(ip, port), now);
        }
        let id = self.tracker_io.next_lookup;
        self.tracker_io.next_lookup += 1;
        let request = outgoing.request_id;
        let asked = self.resolver().and_then(|r| r.resolve(id, &host, port));
        match asked {
            Ok(()) => {
                self.tracker_io.lookups.insert(
                    id,
                    PendingLookup {
                        torrent: tid,
                        outgoing,
                    },
                );
            }
            Err(e) => self.tracker_failed(tid, request, e, now),
        }
    }

    /// The resolver thread, started on first use.
    pub(super) fn resolver(&mut self) -> Result<&crate::resolver::Resolver, String> {
        if self.resolver.is_none() {
            let r = crate::resolver::Resolver::new(self.waker.clone())
                .map_err(|e| format!("cannot start the resolver: {e}"))?;
            self.resolver = Some(r);
        }
        self.resolver
            .as_ref()
            .ok_or_else(|| "no resolver".to_string())
    }

    /// Takes resolver answers and sends the requests that waited for them (the DHT's
    /// bootstrap names share the look-up ids).
    pub(super) fn on_lookups(&mut self, now: Instant) {
        let answers = self
            .resolver
            .as_ref()
            .map(|r| r.drain())
            .unwrap_or_default();
        for (id, result) in answers {
            if self.on_dht_resolved(id, &result, now) {
                continue;
            }
            let Some(p) = self.tracker_io.lookups.remove(&id) else {
                continue;
            };
            let usable = |a: &SocketAddr| match a {
                SocketAddr::V4(_) => true,
                SocketAddr::V6(_) => self.udp.client_endpoint(true).is_some(),
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

    fn send_resolved(
        &mut self,
        tid: TorrentId,
        outgoing: Outgoing,
        addr: SocketAddr,
        now: Instant,
    ) {
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
                            torrent: tid,
                            request: request.0,
                        };
                        self.start_fetch(&url, addr, owner, now)
                    });
                if let Err(e) = started {
                    self.tracker_failed(tid, request, e, now);
                }
            }
            RequestKind::Udp(step) => {
                let Some(endpoint) = self.udp.client_endpoint(addr.is_ipv6()) else {
                    let reason = "no UDP socket for that address family".to_string();
                    return self.tracker_failed(tid, request, reason, now);
                };
                let mut packet = Vec::with_capacity(100);
                self.tracker_io
                    .udp
                    .on_send(tid, request, addr, &step, now, &mut packet);
                // A datagram lost to a full queue is retransmitted (BEP 15).
                if let Err(e) = self.udp.send(endpoint, addr, packet) {
                    self.tracker_failed(tid, request, e.to_string(), now);
                }
            }
        }
    }

    /// A datagram routed to the tracker clients: if it answers an exchange in flight,
    /// its torrent's client takes it.
    pub(super) fn on_tracker_answer(
        &mut self,
        from: SocketAddr,
        packet: &[u8],
        ipv6: bool,
        now: Instant,
    ) {
        let Some(answer) = self.tracker_io.udp.on_datagram(from, packet, ipv6, now) else {
            return;
        };
        let Some(client) = self
            .engine
            .torrent_mut(answer.torrent)
            .and_then(|t| t.tracker.as_mut())
        else {
            return;
        };
        client.on_udp_response(answer.request, answer.response, now);
        self.pump_tracker(answer.torrent, now);
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
            .engine
            .torrent_mut(owner.torrent)
            .and_then(|t| t.tracker.as_mut())
        {
            client.on_http_response(RequestId(owner.request), answer, now);
        }
        self.pump_tracker(owner.torrent, now);
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
