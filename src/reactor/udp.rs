//! UDP on the reactor: every UDP socket is a [`UdpEndpoint`] (the socket, a bounded
//! send queue and its write readiness), read and written by one path.
//!
//! Owns the sockets: the tracker server's, bound to its configured addresses, the
//! tracker clients' ephemeral one of each address family, the DHT's and local service
//! discovery's. On a readable edge an
//! endpoint is read until `WouldBlock` and each datagram is routed by what it looks
//! like ([`classify`]) and what the endpoint serves ([`route`]): BEP 15 answers to the
//! tracker clients' exchange table, BEP 15 requests to the tracker server, and KRPC
//! to the DHT node of its socket (`reactor::dht`). What the datagram means is decided by the
//! sans-io cores; this file only moves bytes.
//!
//! # Sending
//!
//! A datagram is sent at once when the socket can take it. When the socket says
//! `WouldBlock`, or datagrams are already waiting (order is kept), it joins the
//! endpoint's queue of at most [`UDP_SEND_QUEUE`] datagrams, flushed on the next
//! writable edge; past the bound it is dropped and counted (the protocols retransmit).
//! An error other than `WouldBlock` on the first attempt is returned to the sender; on
//! a queued datagram it is logged and the datagram dropped.
//!
//! # Invariants
//!
//! - `write_blocked` is true exactly when the last send stopped at `WouldBlock`; then
//!   the queue is not empty and nothing is sent before the next writable edge.
//! - The queue never holds more than [`UDP_SEND_QUEUE`] datagrams.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use super::Reactor;
use crate::config::UDP_SEND_QUEUE;
use crate::wire::udp_tracker::PROTOCOL_ID;

/// Token range of UDP endpoints: `UDP_BASE + index`.
pub(super) const UDP_BASE: usize = 2000;

/// Biggest datagram read; BEP 15 answers with 200 IPv6 peers stay far below it.
const UDP_BUF: usize = 8192;

/// What a datagram is, judged from its first bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DatagramKind {
    /// A BEP 15 answer: an action 0..=3 (connect, announce, scrape, error) in its first
    /// four bytes, then the transaction id.
    TrackerResponse,
    /// A BEP 15 request: the protocol magic of a `connect`, or a connection id followed
    /// by the action 1 or 2 (announce, scrape).
    TrackerRequest,
    /// Anything else, KRPC among it (BEP 5: a bencoded dictionary, so its first byte
    /// is `d`).
    Other,
}

/// Tells a BEP 15 answer from a BEP 15 request from anything else.
///
/// The magic's first four bytes (`00 00 04 17`) are no answer's action, and KRPC's `d`
/// is neither, so connects and KRPC are never mistaken. An announce or scrape whose
/// connection id begins with `0..=3` in its upper 32 bits is taken for an answer (one
/// id in a billion); that only matters on a socket that serves both sides, and there
/// the answer then matches no exchange and is dropped.
pub(super) fn classify(packet: &[u8]) -> DatagramKind {
    let be32 = |at: usize| {
        packet
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if packet.first() == Some(&b'd') {
        return DatagramKind::Other;
    }
    if packet.len() >= 16 && packet[..8] == PROTOCOL_ID.to_be_bytes() {
        return DatagramKind::TrackerRequest;
    }
    if packet.len() >= 8 && be32(0).is_some_and(|action| action <= 3) {
        return DatagramKind::TrackerResponse;
    }
    if packet.len() >= 16 && be32(8).is_some_and(|action| action == 1 || action == 2) {
        return DatagramKind::TrackerRequest;
    }
    DatagramKind::Other
}

/// Who listens on an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Roles {
    /// The tracker server answers requests that arrive here.
    pub(super) tracker_server: bool,
    /// Tracker clients send from here and expect answers here.
    pub(super) tracker_clients: bool,
    /// A DHT node listens here.
    pub(super) dht: bool,
    /// Local service discovery's multicast socket (nothing else shares it).
    pub(super) lsd: bool,
}

/// Where one datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// To the tracker clients' exchange table.
    TrackerClients,
    /// To the tracker server.
    TrackerServer,
    /// To the DHT node of the endpoint.
    Dht,
    /// To local service discovery.
    Lsd,
    /// Nowhere.
    Drop,
}

/// Where a datagram of `kind` arriving at an endpoint with `roles` goes. On the tracker
/// server's sockets everything no other consumer takes goes to the server, which counts
/// it as malformed and answers it only when a client it knows could have sent it; on a
/// DHT socket, to the node, which does the same.
pub(super) fn route(kind: DatagramKind, roles: Roles) -> Route {
    match kind {
        _ if roles.lsd => Route::Lsd,
        DatagramKind::TrackerResponse if roles.tracker_clients => Route::TrackerClients,
        DatagramKind::TrackerRequest if roles.tracker_server => Route::TrackerServer,
        DatagramKind::Other if roles.dht => Route::Dht,
        _ if roles.tracker_server => Route::TrackerServer,
        _ if roles.dht => Route::Dht,
        _ => Route::Drop,
    }
}

/// What became of a datagram handed to [`UdpEndpoint::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// The kernel took it.
    Now,
    /// It waits in the queue for a writable edge.
    Queued,
    /// The queue was full; it is lost.
    Dropped,
}

/// One UDP socket with its send queue and write readiness.
#[derive(Debug)]
pub(super) struct UdpEndpoint {
    sock: UdpSocket,
    ipv6: bool,
    roles: Roles,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    /// The last send stopped at `WouldBlock`: wait for a writable edge.
    write_blocked: bool,
    /// Datagrams dropped at the queue's bound.
    dropped: u64,
}

impl UdpEndpoint {
    /// Sends `packet` to `to`, or queues it (see the module docs).
    fn send(&mut self, to: SocketAddr, packet: Vec<u8>) -> io::Result<Sent> {
        if self.write_blocked || !self.queue.is_empty() {
            return Ok(self.enqueue(to, packet));
        }
        match send_one(&self.sock, &packet, to) {
            Ok(()) => Ok(Sent::Now),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.write_blocked = true;
                Ok(self.enqueue(to, packet))
            }
            Err(e) => Err(e),
        }
    }

    fn enqueue(&mut self, to: SocketAddr, packet: Vec<u8>) -> Sent {
        if self.queue.len() >= UDP_SEND_QUEUE {
            self.dropped += 1;
            log::debug!("udp send queue full: datagram to {to} dropped");
            return Sent::Dropped;
        }
        self.queue.push_back((to, packet));
        Sent::Queued
    }

    /// Sends queued datagrams until `WouldBlock` or the queue is empty.
    fn flush(&mut self) {
        self.write_blocked = false;
        while let Some((to, packet)) = self.queue.front() {
            match send_one(&self.sock, packet, *to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return;
                }
                Err(e) => log::debug!("udp datagram to {to} dropped: {e}"),
            }
            self.queue.pop_front();
        }
    }
}

/// One `send_to`, retried on `Interrupted`.
fn send_one(sock: &UdpSocket, packet: &[u8], to: SocketAddr) -> io::Result<()> {
    loop {
        match sock.send_to(packet, to) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Every UDP endpoint of the reactor.
#[derive(Debug, Default)]
pub(super) struct UdpEndpoints {
    endpoints: Vec<UdpEndpoint>,
}

impl UdpEndpoints {
    /// Registers `sock` (non-blocking) for `roles`; returns its index.
    pub(super) fn add(
        &mut self,
        mut sock: UdpSocket,
        roles: Roles,
        registry: &Registry,
    ) -> io::Result<usize> {
        let index = self.endpoints.len();
        let token = Token(UDP_BASE + index);
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        let ipv6 = sock.local_addr()?.is_ipv6();
        self.endpoints.push(UdpEndpoint {
            sock,
            ipv6,
            roles,
            queue: VecDeque::new(),
            write_blocked: false,
            dropped: 0,
        });
        Ok(index)
    }

    /// The tracker clients' endpoint for addresses of family `ipv6`.
    pub(super) fn client_endpoint(&self, ipv6: bool) -> Option<usize> {
        self.endpoints
            .iter()
            .position(|e| e.roles.tracker_clients && e.ipv6 == ipv6)
    }

    /// Local addresses of the tracker server's endpoints.
    pub(super) fn server_addrs(&self) -> Vec<SocketAddr> {
        self.endpoints
            .iter()
            .filter(|e| e.roles.tracker_server)
            .filter_map(|e| e.sock.local_addr().ok())
            .collect()
    }

    /// Sends `packet` to `to` from endpoint `index`.
    pub(super) fn send(
        &mut self,
        index: usize,
        to: SocketAddr,
        packet: Vec<u8>,
    ) -> io::Result<Sent> {
        match self.endpoints.get_mut(index) {
            Some(e) => e.send(to, packet),
            None => Err(io::Error::other("no such UDP socket")),
        }
    }

    /// Datagrams dropped at the send queues' bound, over all endpoints.
    pub(super) fn dropped(&self) -> u64 {
        self.endpoints.iter().map(|e| e.dropped).sum()
    }
}

impl Reactor {
    /// Readiness on UDP endpoint `index`: flush on writable, read and route on readable.
    pub(super) fn on_udp_event(
        &mut self,
        index: usize,
        readable: bool,
        writable: bool,
        now: Instant,
    ) {
        if writable {
            if let Some(e) = self.udp.endpoints.get_mut(index) {
                e.flush();
            }
        }
        if readable {
            self.on_udp_readable(index, now);
        }
    }

    /// Reads endpoint `index` until `WouldBlock`, routing each datagram.
    fn on_udp_readable(&mut self, index: usize, now: Instant) {
        let mut buf = vec![0u8; UDP_BUF];
        let mut out = Vec::new();
        loop {
            let Some(endpoint) = self.udp.endpoints.get(index) else {
                return;
            };
            let (n, from) = match endpoint.sock.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("udp socket: {e}");
                    return;
                }
            };
            let (roles, ipv6) = (endpoint.roles, endpoint.ipv6);
            let packet = &buf[..n];
            match route(classify(packet), roles) {
                Route::TrackerClients => self.on_tracker_answer(from, packet, ipv6, now),
                Route::TrackerServer => {
                    let Some(server) = self.tracker_server.as_mut() else {
                        continue;
                    };
                    if server.on_datagram(packet, from, now, &mut out) {
                        let answer = std::mem::take(&mut out);
                        if let Err(e) = self.udp.send(index, from, answer) {
                            log::debug!("udp tracker answer to {from} dropped: {e}");
                        }
                    }
                }
                Route::Dht => self.on_dht_datagram(index, from, packet, now),
                Route::Lsd => self.on_lsd_datagram(from, packet, now),
                Route::Drop => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::{AnnounceResponse, Event, test_announce};
    use crate::types::InfoHash;
    use crate::wire::udp_tracker::{UdpRequest, UdpResponse};

    fn request(r: UdpRequest) -> Vec<u8> {
        let mut out = Vec::new();
        r.encode(&mut out);
        out
    }

    fn response(r: UdpResponse) -> Vec<u8> {
        let mut out = Vec::new();
        r.encode(&mut out, false);
        out
    }

    fn announce(connection_id: u64) -> UdpRequest {
        UdpRequest::Announce {
            connection_id,
            transaction_id: 3,
            request: test_announce(1, 1, 0, Event::None),
        }
    }

    #[test]
    fn every_bep15_request_is_a_request() {
        use DatagramKind::TrackerRequest;
        assert_eq!(
            classify(&request(UdpRequest::Connect { transaction_id: 0 })),
            TrackerRequest
        );
        for id in [0xdead_beef_0000_0001, u64::MAX, 0x0000_0004_0000_0000] {
            assert_eq!(classify(&request(announce(id))), TrackerRequest, "{id:x}");
            let scrape = UdpRequest::Scrape {
                connection_id: id,
                transaction_id: 9,
                info_hashes: vec![InfoHash([7; 20])],
            };
            assert_eq!(classify(&request(scrape)), TrackerRequest, "{id:x}");
        }
    }

    #[test]
    fn every_bep15_answer_is_an_answer() {
        use DatagramKind::TrackerResponse;
        let answers = [
            UdpResponse::Connect {
                transaction_id: 1,
                connection_id: PROTOCOL_ID,
            },
            UdpResponse::Announce {
                transaction_id: 2,
                response: AnnounceResponse {
                    interval: 2,
                    min_interval: None,
                    complete: Some(1),
                    incomplete: Some(2),
                    downloaded: None,
                    peers: vec![],
                    warning: None,
                    tracker_id: None,
                    external_ip: None,
                },
            },
            UdpResponse::Scrape {
                transaction_id: 3,
                stats: vec![Default::default()],
            },
            UdpResponse::Error {
                transaction_id: 4,
                message: "d1:ai1ee".into(),
            },
        ];
        for a in answers {
            assert_eq!(classify(&response(a.clone())), TrackerResponse, "{a:?}");
        }
    }

    #[test]
    fn krpc_and_junk_are_other() {
        use DatagramKind::Other;
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        assert_eq!(classify(ping), Other);
        assert_eq!(classify(b""), Other);
        assert_eq!(classify(b"\x00\x00\x00"), Other, "shorter than any header");
        assert_eq!(classify(&[0xff; 8]), Other, "no action 0..=3 up front");
        let mut bad_action = 0x1234_5678_9abc_def0u64.to_be_bytes().to_vec();
        bad_action.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 1]);
        assert_eq!(classify(&bad_action), Other);
    }

    #[test]
    fn routes_follow_content_and_roles() {
        let server = Roles {
            tracker_server: true,
            ..Roles::default()
        };
        let client = Roles {
            tracker_clients: true,
            ..Roles::default()
        };
        let both = Roles {
            tracker_server: true,
            tracker_clients: true,
            ..Roles::default()
        };
        let dht = Roles {
            dht: true,
            ..Roles::default()
        };
        let dht_and_clients = Roles {
            dht: true,
            tracker_clients: true,
            ..Roles::default()
        };
        let lsd = Roles {
            lsd: true,
            ..Roles::default()
        };
        use DatagramKind::*;
        // The tracker's sockets hand everything to the server, as they always did: it
        // counts junk as malformed and decides whether to answer.
        for kind in [TrackerRequest, TrackerResponse, Other] {
            assert_eq!(route(kind, server), Route::TrackerServer, "{kind:?}");
        }
        // The clients' sockets take answers only.
        assert_eq!(route(TrackerResponse, client), Route::TrackerClients);
        assert_eq!(route(TrackerRequest, client), Route::Drop);
        assert_eq!(route(Other, client), Route::Drop);
        // One socket serving both splits by content.
        assert_eq!(route(TrackerResponse, both), Route::TrackerClients);
        assert_eq!(route(TrackerRequest, both), Route::TrackerServer);
        // A DHT socket hands KRPC and junk to its node; shared with the tracker
        // clients, their answers still go to them.
        assert_eq!(route(Other, dht), Route::Dht);
        assert_eq!(route(TrackerRequest, dht), Route::Dht);
        assert_eq!(
            route(TrackerResponse, dht_and_clients),
            Route::TrackerClients
        );
        assert_eq!(route(Other, dht_and_clients), Route::Dht);
        // The LSD socket takes everything, whatever it looks like.
        for kind in [TrackerRequest, TrackerResponse, Other] {
            assert_eq!(route(kind, lsd), Route::Lsd, "{kind:?}");
        }
    }

    #[test]
    fn send_queue_keeps_order_and_its_bound() {
        let sock = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut e = UdpEndpoint {
            sock,
            ipv6: false,
            roles: Roles {
                tracker_clients: true,
                ..Roles::default()
            },
            queue: VecDeque::new(),
            write_blocked: true,
            dropped: 0,
        };
        // While blocked everything queues, up to the bound; then it is dropped.
        for i in 0..UDP_SEND_QUEUE {
            assert_eq!(e.send(to, vec![i as u8]).unwrap(), Sent::Queued);
        }
        assert_eq!(e.send(to, vec![0]).unwrap(), Sent::Dropped);
        assert_eq!((e.queue.len(), e.dropped), (UDP_SEND_QUEUE, 1));
        assert_eq!(e.queue.front().map(|(_, p)| p[0]), Some(0));
        // A writable edge flushes the queue in order (loopback takes it all).
        e.flush();
        assert!(e.queue.is_empty() && !e.write_blocked);
        assert_eq!(e.send(to, vec![1]).unwrap(), Sent::Now);
    }
}
