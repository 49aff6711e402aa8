//! The tracker's two front ends as sans-io translators over the [`TrackerServer`] core:
//! one BEP 15 datagram in, at most one datagram out; one HTTP request in, one response
//! out. The reactor only moves bytes between sockets and these methods.
//!
//! Owns the core and the [`ConnectionIds`] that guard its UDP side. Depends on the
//! core, the codecs in `wire` (`udp_tracker`, `http_tracker`, `http`) and nothing
//! higher. `now` is an argument; nothing here reads the clock or touches a socket.
//!
//! # Datagram rules (BEP 15)
//!
//! - A `connect` is answered with a connection id derived from the sender's address
//!   and the time window, and counted.
//! - An `announce` or `scrape` must carry a connection id issued to this address in
//!   the current or previous window; otherwise it gets an error answer and counts as a
//!   bad connection id.
//! - A packet that does not decode counts as malformed. It is answered with an error
//!   only when its header names a transaction and its connection id is one we issued
//!   to that address (or the protocol magic of a `connect`); anything else is dropped,
//!   so the tracker never answers junk from forged addresses (no reflection).
//! - An answer lists only peers of the family of the address it goes to.
//!
//! # HTTP routing
//!
//! `GET` (or `HEAD`) of `/announce` and `/scrape` answer with bencode (failures as a
//! `failure reason` on HTTP 200, as BEP 3 clients expect), `/stats` with JSON and
//! `/metrics` with Prometheus text; another path gets 404 and another method 405, both
//! with a bencoded failure. Every response keeps the connection open iff the request
//! asked to. A request that is not HTTP gets 400 and the connection closes.

use std::net::SocketAddr;
use std::time::Instant;

use super::{ConnectionIds, Protocol, TrackerConfig, TrackerServer};
use crate::wire::http::{self, HttpError, Request};
use crate::wire::http_tracker;
use crate::wire::udp_tracker::{PROTOCOL_ID, UdpRequest, UdpResponse};

/// The tracker as the reactor serves it: the decision core plus its front ends.
#[derive(Debug)]
pub struct TrackerService {
    server: TrackerServer,
    ids: ConnectionIds,
}

impl TrackerService {
    /// A tracker with `config`; `seed` drives its random samples and `secret` keys its
    /// connection ids (both must come from the operating system's random source).
    pub fn new(config: TrackerConfig, seed: u64, secret: [u8; 16], now: Instant) -> Self {
        TrackerService {
            server: TrackerServer::new(config, seed),
            ids: ConnectionIds::new(secret, now),
        }
    }

    /// The decision core (counters, swarms).
    pub fn server(&self) -> &TrackerServer {
        &self.server
    }

    /// When [`TrackerService::handle_timeout`] has work (expiry steps).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    /// Runs one expiry step if one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.server.poll_timeout().is_some_and(|at| at <= now) {
            self.server.expire(now);
        }
    }

    /// Answers one datagram from `from` into `out` (cleared first); false when it is
    /// dropped. See the module docs for the rules.
    pub fn on_datagram(
        &mut self,
        packet: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        let Some(response) = self.answer_datagram(packet, from, now) else {
            return false;
        };
        response.encode(out, from.is_ipv6());
        true
    }

    fn answer_datagram(
        &mut self,
        packet: &[u8],
        from: SocketAddr,
        now: Instant,
    ) -> Option<UdpResponse> {
        let (server, ids) = (&mut self.server, &self.ids);
        let response = match UdpRequest::decode(packet) {
            Ok(UdpRequest::Connect { transaction_id }) => {
                server.count_udp_connect();
                UdpResponse::Connect {
                    transaction_id,
                    connection_id: ids.issue(from, now),
                }
            }
            // BEP 15: announces and scrapes must carry a connection id we issued to
            // this address.
            Ok(req @ (UdpRequest::Announce { .. } | UdpRequest::Scrape { .. }))
                if req
                    .connection_id()
                    .is_some_and(|id| !ids.valid(id, from, now)) =>
            {
                server.count_bad_connection_id();
                UdpResponse::Error {
                    transaction_id: req.transaction_id(),
                    message: "connection id expired or invalid".into(),
                }
            }
            Ok(UdpRequest::Announce {
                transaction_id,
                request,
                ..
            }) => match server.announce(Protocol::Udp, from, &request, now) {
                Ok(response) => UdpResponse::Announce {
                    transaction_id,
                    response,
                },
                Err(refusal) => UdpResponse::Error {
                    transaction_id,
                    message: refusal.to_string(),
                },
            },
            Ok(UdpRequest::Scrape {
                transaction_id,
                info_hashes,
                ..
            }) => {
                let stats = server
                    .scrape(Protocol::Udp, &info_hashes)
                    .into_iter()
                    .map(|(_, s)| s)
                    .collect();
                UdpResponse::Scrape {
                    transaction_id,
                    stats,
                }
            }
            Err(e) => {
                server.count_malformed(Protocol::Udp);
                // Answer only what a client we issued a connection id to could have
                // sent (or a connect with the protocol magic): anything else is junk,
                // and answering it would make us a reflector.
                let known = match e.connection_id {
                    Some(id) => id == PROTOCOL_ID || ids.valid(id, from, now),
                    None => true,
                };
                match e.transaction_id {
                    Some(transaction_id) if known => UdpResponse::Error {
                        transaction_id,
                        message: e.to_string(),
                    },
                    _ => return None,
                }
            }
        };
        Some(response)
    }

    /// Answers one complete HTTP request from `peer`: the full response bytes. See the
    /// module docs for the routes.
    pub fn on_http(&mut self, request: &Request, peer: SocketAddr, now: Instant) -> Vec<u8> {
        let head = &request.head;
        let keep = head.keep_alive;
        let server = &mut self.server;
        let bencoded = |body: Vec<u8>| http::response("200 OK", "text/plain", &body, keep);
        if head.method != "GET" && head.method != "HEAD" {
            return http::response(
                "405 Method Not Allowed",
                "text/plain",
                &http_tracker::encode_failure("only GET is supported"),
                keep,
            );
        }
        match head.path.as_str() {
            "/announce" => match http_tracker::parse_announce_query(&head.query) {
                Ok(req) => match server.announce(Protocol::Http, peer, &req, now) {
                    Ok(resp) => bencoded(http_tracker::encode_announce_response(
                        &resp,
                        req.compact,
                        req.no_peer_id,
                    )),
                    Err(refusal) => bencoded(http_tracker::encode_failure(&refusal.to_string())),
                },
                Err(e) => {
                    server.count_malformed(Protocol::Http);
                    bencoded(http_tracker::encode_failure(&e.to_string()))
                }
            },
            "/scrape" => match http_tracker::parse_scrape_query(&head.query) {
                Ok(hashes) => {
                    let stats = server.scrape(Protocol::Http, &hashes);
                    bencoded(http_tracker::encode_scrape_response(&stats))
                }
                Err(e) => {
                    server.count_malformed(Protocol::Http);
                    bencoded(http_tracker::encode_failure(&e.to_string()))
                }
            },
            "/stats" => http::response(
                "200 OK",
                "application/json",
                format!("{}\n", server.stats_json()).as_bytes(),
                keep,
            ),
            "/metrics" => http::response(
                "200 OK",
                "text/plain; version=0.0.4",
                server.metrics_text().as_bytes(),
                keep,
            ),
            _ => http::response(
                "404 Not Found",
                "text/plain",
                &http_tracker::encode_failure("unknown path; try /announce"),
                keep,
            ),
        }
    }

    /// The answer to bytes that are not an acceptable HTTP request; the connection
    /// closes after it.
    pub fn on_bad_request(&mut self, error: &HttpError) -> Vec<u8> {
        let body = http_tracker::encode_failure(&error.to_string());
        http::response("400 Bad Request", "text/plain", &body, false)
    }
}

#[cfg(test)]
#[path = "front_tests.rs"]
mod tests;
