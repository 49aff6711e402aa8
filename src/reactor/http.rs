//! The HTTP server on the reactor: accepted connections, each a socket plus an
//! [`HttpMachine`] and the [`HttpService`] of the listener it came in on (the
//! reactor's one accept loop, in `mod.rs`, hands them over with [`Reactor::take_http`]).
//!
//! This file only moves bytes: it takes connections, reads into the machine, hands complete
//! requests to the listener's service, writes answers and closes. What a request means
//! is the service's business (the tracker's routing lives in `tracker::server`).
//!
//! # Bounds and removal
//!
//! - At most `max_connections` are open; at the cap the oldest connection still owing
//!   its request (a slowloris, most likely: honest clients send theirs at once) makes
//!   room, and with none the new one is closed at once.
//! - Heads and bodies are bounded by the machine; its timeouts are checked by the
//!   per-second sweep.
//! - A connection that is done is marked closing and removed at the end of the turn
//!   ([`Reactor::reap_http`]), so a stale event in the same turn never reaches a new
//!   connection in its slot; events for a closing connection are ignored.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};
use slab::Slab;

use super::Reactor;
use super::http_machine::{HttpAnswer, HttpMachine, Next};
use crate::api::{ApiAnswer, ApiOutput, HttpConnId};
use crate::wire::http::{self, HttpError, Request};

/// Token range of accepted HTTP connections.
pub(super) const HTTP_SERVER_BASE: usize = 2 << 24;

/// Bytes an event stream may have unsent before its connection is closed.
const MAX_STREAM_BACKLOG: usize = 1 << 20;

/// Bytes read from one HTTP connection per pass.
const HTTP_READ_BUDGET: usize = 64 * 1024;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpService {
    /// The tracker's `/announce`, `/scrape`, `/stats` and `/metrics`.
    Tracker,
    /// The daemon's API (`/api/v1/...`, `/metrics`).
    Api,
}

/// A connection accepted by an HTTP listener.
#[derive(Debug)]
struct HttpServerConn {
    sock: TcpStream,
    peer: SocketAddr,
    service: HttpService,
    /// Tells this connection from earlier ones in the same slot (answers that come
    /// later are addressed by slot and serial).
    serial: u64,
    machine: HttpMachine,
    /// When it was accepted (tells its entry in `accept_order` from a stale one of an
    /// earlier connection in the same slab slot).
    accepted_at: Instant,
    /// Done; removed at the end of the turn.
    closing: bool,
}

/// Counts the services do not see.
#[derive(Debug, Clone, Copy, Default)]
struct HttpCounters {
    refused: u64,
    evicted: u64,
    timeouts: u64,
}

/// The reactor's HTTP server side.
#[derive(Debug, Default)]
pub(super) struct HttpServers {
    conns: Slab<HttpServerConn>,
    /// Connections by accept time, oldest first, for evicting the oldest one still
    /// owing its request at the cap (stale entries are skipped when popped).
    accept_order: VecDeque<(usize, Instant)>,
    /// Connections to remove at the end of the turn.
    closing: Vec<usize>,
    max_connections: usize,
    counters: HttpCounters,
    next_serial: u64,
}

impl HttpServers {
    /// Sets the most connections open at once.
    pub(super) fn set_max_connections(&mut self, max: usize) {
        self.max_connections = max;
    }

    fn open(&self) -> usize {
        self.conns.len() - self.closing.len()
    }

    fn close(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.closing {
                c.closing = true;
                self.closing.push(key);
            }
        }
    }
}

impl Reactor {
    /// An accepted HTTP connection for `service`, unless the cap is reached and no
    /// connection can be evicted for it.
    pub(super) fn take_http(
        &mut self,
        mut sock: TcpStream,
        peer: SocketAddr,
        service: HttpService,
        now: Instant,
    ) {
        if self.http.open() >= self.http.max_connections && !self.evict_slowest() {
            self.http.counters.refused += 1;
            return;
        }
        let entry = self.http.conns.vacant_entry();
        let key = entry.key();
        let token = Token(HTTP_SERVER_BASE + key);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut sock, token, interest)
            .is_err()
        {
            return;
        }
        self.http.next_serial += 1;
        let max_body = match service {
            HttpService::Tracker => crate::config::HTTP_MAX_REQUEST_BODY,
            HttpService::Api => crate::config::API_MAX_REQUEST_BODY,
        };
        entry.insert(HttpServerConn {
            sock,
            peer,
            service,
            serial: self.http.next_serial,
            machine: HttpMachine::new(now, max_body),
            accepted_at: now,
            closing: false,
        });
        let order = &mut self.http.accept_order;
        order.push_back((key, now));
        if order.len() > 2 * self.http.conns.len() + 64 {
            let conns = &self.http.conns;
            order.retain(|&(k, at)| conns.get(k).is_some_and(|c| c.accepted_at == at));
        }
    }

    /// Reads requests, has them answered, writes the answers.
    pub(super) fn on_http_server_event(&mut self, key: usize, now: Instant) {
        loop {
            let Some(conn) = self.http.conns.get_mut(key).filter(|c| !c.closing) else {
                return;
            };
            let limit = conn.machine.read_limit();
            let pass =
                match conn
                    .machine
                    .recv_mut()
                    .read_from(&mut conn.sock, HTTP_READ_BUDGET, limit)
                {
                    Ok(p) => p,
                    Err(_) => return self.http.close(key),
                };
            conn.machine.discard_input_if_streaming();
            let (peer, service, serial) = (conn.peer, conn.service, conn.serial);
            // Whether a request was taken or an answer finished: room in the buffer, so
            // what is still in the socket may be read now.
            let mut progressed = false;
            let close = loop {
                let Some(conn) = self.http.conns.get_mut(key) else {
                    return;
                };
                match conn.machine.poll_request(now) {
                    Next::Request(request) => {
                        progressed = true;
                        let id = HttpConnId { slot: key, serial };
                        let answer = self.serve_http(service, &request, peer, id, now);
                        if let Some(conn) = self.http.conns.get_mut(key) {
                            conn.machine.respond(answer);
                        }
                    }
                    Next::Bad(e) => {
                        progressed = true;
                        let answer = self.refuse_http(service, &e);
                        if let Some(conn) = self.http.conns.get_mut(key) {
                            conn.machine.refuse(answer);
                        }
                    }
                    Next::Idle => {}
                }
                let Some(conn) = self.http.conns.get_mut(key) else {
                    return;
                };
                let send = conn.machine.send_mut();
                if send.queued() == 0 {
                    break false;
                }
                if send.write_to(&mut conn.sock).is_err() {
                    break true;
                }
                if send.queued() > 0 {
                    break false;
                }
                if conn.machine.on_drained() {
                    break true;
                }
                // The answer is out: a pipelined request may be waiting.
                progressed = true;
            };
            let Some(conn) = self.http.conns.get_mut(key) else {
                return;
            };
            if close || (pass.eof && conn.machine.done_at_eof()) {
                return self.http.close(key);
            }
            if pass.eof || pass.drained || (pass.bytes == 0 && !progressed) {
                return;
            }
        }
    }

    /// Hands a complete request to `service`.
    fn serve_http(
        &mut self,
        service: HttpService,
        request: &Request,
        peer: SocketAddr,
        id: HttpConnId,
        now: Instant,
    ) -> HttpAnswer {
        match service {
            HttpService::Api => match self.api.as_mut() {
                Some(api) => match api.on_request(&mut self.engine, request, peer, id, now) {
                    ApiAnswer::Now(bytes) => HttpAnswer::Now(bytes),
                    ApiAnswer::Later => HttpAnswer::Later,
                    ApiAnswer::Stream(head) => HttpAnswer::Stream(head),
                },
                None => HttpAnswer::Now(http::response("404 Not Found", "text/plain", b"", false)),
            },
            HttpService::Tracker => HttpAnswer::Now(match self.tracker_server.as_mut() {
                Some(t) => t.on_http(request, peer, now),
                None => http::response(
                    "404 Not Found",
                    "text/plain",
                    b"no tracker here\n",
                    request.head.keep_alive,
                ),
            }),
        }
    }

    /// What `service` answers to bytes that are no acceptable request.
    fn refuse_http(&mut self, service: HttpService, error: &HttpError) -> Vec<u8> {
        if service == HttpService::Api {
            let (status, code) = match error {
                HttpError::TooLarge => (413, "too_large"),
                _ => (400, "bad_request"),
            };
            return crate::api::ApiError::new(status, code, format!("bad request: {error}"))
                .to_response(false);
        }
        match (service, self.tracker_server.as_mut()) {
            (HttpService::Tracker, Some(t)) => t.on_bad_request(error),
            (HttpService::Tracker | HttpService::Api, None) | (HttpService::Api, Some(_)) => {
                http::response("400 Bad Request", "text/plain", b"", false)
            }
        }
    }

    /// Closes the earliest-accepted connection still owing its request; false when
    /// there is none. Amortised O(1): entries of connections gone or answered are
    /// dropped as they are met, and the queue is compacted when it outgrows the slab.
    fn evict_slowest(&mut self) -> bool {
        while let Some((key, at)) = self.http.accept_order.pop_front() {
            let slow = self
                .http
                .conns
                .get(key)
                .is_some_and(|c| !c.closing && c.machine.owes_request() && c.accepted_at == at);
            if slow {
                self.http.counters.evicted += 1;
                self.http.close(key);
                return true;
            }
        }
        false
    }

    /// Removes the connections closed during the turn.
    pub(super) fn reap_http(&mut self) {
        for key in std::mem::take(&mut self.http.closing) {
            if let Some(mut conn) = self.http.conns.try_remove(key) {
                let _ = self.poll.registry().deregister(&mut conn.sock);
                if let Some(api) = self.api.as_mut() {
                    api.on_closed(HttpConnId {
                        slot: key,
                        serial: conn.serial,
                    });
                }
            }
        }
    }

    /// Writes what the API has for its connections: answers that waited for a task,
    /// and events for the streams.
    pub(super) fn pump_api(&mut self, now: Instant) {
        let mut touched = Vec::new();
        while let Some(out) = self.api.as_mut().and_then(|a| a.poll_output()) {
            let (id, answer) = match out {
                ApiOutput::Answer(id, bytes) => (id, Ok(bytes)),
                ApiOutput::Push(id, bytes) => (id, Err(bytes)),
            };
            let Some(conn) = self
                .http
                .conns
                .get_mut(id.slot)
                .filter(|c| c.serial == id.serial && !c.closing)
            else {
                continue;
            };
            match answer {
                Ok(bytes) => conn.machine.respond(HttpAnswer::Now(bytes)),
                Err(bytes) => {
                    // A reader that does not keep up loses its stream, not our memory.
                    if conn.machine.send_mut().queued() > MAX_STREAM_BACKLOG {
                        self.http.close(id.slot);
                        continue;
                    }
                    conn.machine.push_stream(bytes);
                }
            }
            if !touched.contains(&id.slot) {
                touched.push(id.slot);
            }
        }
        for slot in touched {
            self.on_http_server_event(slot, now);
        }
    }

    /// Closes connections past their head or idle timeout.
    pub(super) fn expire_http_conns(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .http
            .conns
            .iter()
            .filter(|(_, c)| !c.closing && c.machine.timed_out(now))
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            self.http.counters.timeouts += 1;
            self.http.close(key);
        }
    }
}
