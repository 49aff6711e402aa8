//! The BEP 15 exchanges in flight for every torrent's tracker client: which torrent and
//! which request a UDP tracker's answer belongs to.
//!
//! One table for all torrents, keyed by (tracker address, transaction id) as BEP 15
//! matches answers: a datagram from another address, or with a transaction id we did
//! not send there, belongs to nobody and is dropped. Sans-io: [`UdpExchanges::on_send`]
//! encodes the datagram a [`UdpStep`] asks for and remembers it, and
//! [`UdpExchanges::on_datagram`] decodes what arrived and says whose it is; the
//! reactor moves the bytes and hands the answer to that torrent's
//! [`TrackerClient`](super::TrackerClient) with
//! [`on_udp_response`](super::TrackerClient::on_udp_response). Depends on the client's
//! types and `wire::udp_tracker`. `now` is an argument.
//!
//! # Invariants
//!
//! - An entry is forgotten when its answer arrives (a duplicate answer is dropped), or
//!   once it is older than [`EXCHANGE_TTL`] since its last transmission: by then the
//!   client has retransmitted (which refreshes the entry, since a retransmission keeps
//!   its transaction id) or given up on it. So the table holds at most the exchanges of
//!   the last [`EXCHANGE_TTL`], whatever silent trackers do.
//! - Sweeps for old entries run when the table has doubled since the last one, so
//!   sending stays amortised O(1).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{RequestId, UDP_MAX_RETRANSMIT_EXPONENT, UDP_RETRANSMIT_BASE, UdpStep};
use crate::wire::udp_tracker::{UdpRequest, UdpResponse};

/// How long an exchange is remembered after its last transmission: the longest wait
/// for an answer (BEP 15's `15 · 2^n` at our largest n) plus slack for a timer that
/// fires late.
pub const EXCHANGE_TTL: Duration =
    Duration::from_secs(UDP_RETRANSMIT_BASE.as_secs() * (1 << UDP_MAX_RETRANSMIT_EXPONENT) + 15);

/// Whose exchange an entry is.
#[derive(Debug, Clone, Copy)]
struct Exchange<K> {
    torrent: K,
    request: RequestId,
    sent_at: Instant,
}

/// An answer from a UDP tracker, matched to the exchange it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpAnswer<K> {
    /// The torrent whose client sent the request.
    pub torrent: K,
    /// The client's request id.
    pub request: RequestId,
    /// The decoded answer.
    pub response: UdpResponse,
}

/// Every torrent's UDP tracker exchanges in flight, each torrent named by a `K` (the
/// reactor's is a generation-checked `TorrentId`). See the module docs.
#[derive(Debug)]
pub struct UdpExchanges<K> {
    by_key: HashMap<(SocketAddr, u32), Exchange<K>>,
    /// Entries after the last sweep; the next one runs at twice as many.
    swept_len: usize,
}

impl<K> Default for UdpExchanges<K> {
    fn default() -> Self {
        UdpExchanges {
            by_key: HashMap::new(),
            swept_len: 0,
        }
    }
}

impl<K: Copy + Eq> UdpExchanges<K> {
    /// No exchanges.
    pub fn new() -> UdpExchanges<K> {
        UdpExchanges::default()
    }

    /// Encodes the datagram for `step` into `out` (cleared first) and remembers that
    /// an answer from `tracker` with its transaction id belongs to `request` of
    /// `torrent`.
    pub fn on_send(
        &mut self,
        torrent: K,
        request: RequestId,
        tracker: SocketAddr,
        step: &UdpStep,
        now: Instant,
        out: &mut Vec<u8>,
    ) {
        let (transaction_id, packet) = match step {
            UdpStep::Connect { transaction_id } => (
                *transaction_id,
                UdpRequest::Connect {
                    transaction_id: *transaction_id,
                },
            ),
            UdpStep::Announce {
                connection_id,
                transaction_id,
                announce,
            } => (
                *transaction_id,
                UdpRequest::Announce {
                    connection_id: *connection_id,
                    transaction_id: *transaction_id,
                    request: announce.clone(),
                },
            ),
        };
        out.clear();
        packet.encode(out);
        let exchange = Exchange {
            torrent,
            request,
            sent_at: now,
        };
        self.by_key.insert((tracker, transaction_id), exchange);
        if self.by_key.len() > 2 * self.swept_len + 64 {
            self.by_key
                .retain(|_, e| now.saturating_duration_since(e.sent_at) <= EXCHANGE_TTL);
            self.swept_len = self.by_key.len();
        }
    }

    /// A datagram from `from` that arrived on a socket of family `ipv6`: the answer and
    /// whose it is, when it decodes and answers an exchange in flight (which is then
    /// forgotten); `None` for anything else.
    pub fn on_datagram(
        &mut self,
        from: SocketAddr,
        packet: &[u8],
        ipv6: bool,
        now: Instant,
    ) -> Option<UdpAnswer<K>> {
        let response = UdpResponse::decode(packet, ipv6).ok()?;
        let key = (from, response.transaction_id());
        let exchange = self.by_key.remove(&key)?;
        if now.saturating_duration_since(exchange.sent_at) > EXCHANGE_TTL {
            return None;
        }
        if let UdpResponse::Scrape { .. } = response {
            // We never send scrapes: whatever this answers, it is not ours.
            self.by_key.insert(key, exchange);
            return None;
        }
        Some(UdpAnswer {
            torrent: exchange.torrent,
            request: exchange.request,
            response,
        })
    }

    /// Forgets every exchange of `torrent` (it is gone; a later answer is dropped).
    pub fn forget_torrent(&mut self, torrent: K) {
        self.by_key.retain(|_, e| e.torrent != torrent);
    }

    /// Exchanges remembered.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::tracker::{AnnounceResponse, Event, test_announce};

    fn tracker(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn connect_answer(transaction_id: u32) -> Vec<u8> {
        let mut out = Vec::new();
        UdpResponse::Connect {
            transaction_id,
            connection_id: 99,
        }
        .encode(&mut out, false);
        out
    }

    /// Sends a connect with `transaction_id` to `tracker` for `torrent`'s `request`.
    fn send_connect(
        x: &mut UdpExchanges<usize>,
        torrent: usize,
        request: u64,
        tracker: SocketAddr,
        transaction_id: u32,
        now: Instant,
    ) {
        let step = UdpStep::Connect { transaction_id };
        x.on_send(
            torrent,
            RequestId(request),
            tracker,
            &step,
            now,
            &mut Vec::new(),
        );
    }

    fn announce_step(transaction_id: u32) -> UdpStep {
        UdpStep::Announce {
            connection_id: 99,
            transaction_id,
            announce: test_announce(1, 6881, 3, Event::Started),
        }
    }

    #[test]
    fn the_datagram_sent_is_the_step_encoded() {
        let t0 = Instant::now();
        let mut x = UdpExchanges::new();
        let mut out = Vec::new();
        x.on_send(
            0,
            RequestId(1),
            tracker(1),
            &UdpStep::Connect { transaction_id: 7 },
            t0,
            &mut out,
        );
        assert_eq!(
            UdpRequest::decode(&out),
            Ok(UdpRequest::Connect { transaction_id: 7 })
        );
        let step = announce_step(8);
        x.on_send(0, RequestId(2), tracker(1), &step, t0, &mut out);
        let UdpStep::Announce { announce, .. } = step else {
            unreachable!()
        };
        assert_eq!(
            UdpRequest::decode(&out),
            Ok(UdpRequest::Announce {
                connection_id: 99,
                transaction_id: 8,
                request: announce,
            })
        );
        assert_eq!(x.len(), 2);
    }

    #[test]
    fn answers_go_to_the_torrent_that_asked_once() {
        let t0 = Instant::now();
        let mut x = UdpExchanges::new();
        send_connect(&mut x, 3, 10, tracker(1), 7, t0);
        send_connect(&mut x, 5, 20, tracker(2), 7, t0);
        send_connect(&mut x, 5, 21, tracker(1), 8, t0);
        // Same transaction id, other tracker: each answer finds its own torrent.
        let a = x.on_datagram(tracker(2), &connect_answer(7), false, t0);
        assert_eq!(a.map(|a| (a.torrent, a.request)), Some((5, RequestId(20))));
        let a = x.on_datagram(tracker(1), &connect_answer(7), false, t0);
        assert_eq!(a.map(|a| (a.torrent, a.request)), Some((3, RequestId(10))));
        // A duplicate, an unknown transaction id, a stranger, junk: nobody's.
        assert_eq!(
            x.on_datagram(tracker(1), &connect_answer(7), false, t0),
            None
        );
        assert_eq!(
            x.on_datagram(tracker(1), &connect_answer(9), false, t0),
            None
        );
        assert_eq!(
            x.on_datagram(tracker(3), &connect_answer(8), false, t0),
            None
        );
        assert_eq!(x.on_datagram(tracker(1), b"\x00\x00", false, t0), None);
        assert_eq!(x.len(), 1);
        // An error answer is an answer too.
        let mut err = Vec::new();
        UdpResponse::Error {
            transaction_id: 8,
            message: "no".into(),
        }
        .encode(&mut err, false);
        let a = x.on_datagram(tracker(1), &err, false, t0).expect("matched");
        assert_eq!((a.torrent, a.request), (5, RequestId(21)));
        assert!(matches!(a.response, UdpResponse::Error { .. }));
        assert!(x.is_empty());
    }

    #[test]
    fn scrape_answers_and_removed_torrents_are_dropped() {
        let t0 = Instant::now();
        let mut x = UdpExchanges::new();
        let mut out = Vec::new();
        x.on_send(1, RequestId(1), tracker(1), &announce_step(5), t0, &mut out);
        let mut scrape = Vec::new();
        UdpResponse::Scrape {
            transaction_id: 5,
            stats: vec![],
        }
        .encode(&mut scrape, false);
        assert_eq!(x.on_datagram(tracker(1), &scrape, false, t0), None);
        assert_eq!(x.len(), 1, "a scrape answer does not consume the exchange");
        let mut answer = Vec::new();
        UdpResponse::Announce {
            transaction_id: 5,
            response: AnnounceResponse {
                interval: 60,
                min_interval: None,
                complete: Some(1),
                incomplete: Some(0),
                downloaded: None,
                peers: vec![],
                warning: None,
                tracker_id: None,
                external_ip: None,
            },
        }
        .encode(&mut answer, false);
        x.forget_torrent(1);
        assert_eq!(x.on_datagram(tracker(1), &answer, false, t0), None);
    }

    #[test]
    fn silent_trackers_do_not_grow_the_table() {
        let t0 = Instant::now();
        let mut x = UdpExchanges::new();
        // A thousand exchanges nobody answers, one a second.
        for i in 0..1000u32 {
            let now = t0 + Duration::from_secs(u64::from(i));
            send_connect(&mut x, 0, u64::from(i), tracker(1), i, now);
            assert!(
                x.len() <= 2 * (EXCHANGE_TTL.as_secs() as usize + 1) + 64,
                "{} entries at {i} s",
                x.len()
            );
        }
        // An answer to an exchange older than the TTL is dropped even if not swept yet.
        let mut x = UdpExchanges::new();
        send_connect(&mut x, 0, 1, tracker(1), 1, t0);
        let late = t0 + EXCHANGE_TTL + Duration::from_secs(1);
        assert_eq!(
            x.on_datagram(tracker(1), &connect_answer(1), false, late),
            None
        );
        let in_time = t0 + EXCHANGE_TTL;
        send_connect(&mut x, 0, 1, tracker(1), 1, t0);
        assert!(
            x.on_datagram(tracker(1), &connect_answer(1), false, in_time)
                .is_some()
        );
    }
}
