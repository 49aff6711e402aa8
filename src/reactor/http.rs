//! HTTP on the reactor: connections accepted by the tracker server (request heads read
//! with a deadline and a size cap, answered, kept alive when asked) and outgoing GETs to
//! HTTP trackers (connect, send, read the response until it is complete or the server
//! closes, with a deadline).
//!
//! Both are slab entries with their own token range. What a request means and what a
//! response is for is decided elsewhere (`trackers.rs`); this file only moves bytes.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::Reactor;
use crate::peer::conn::{RecvBuf, SendQueue};
use crate::wire::http::{self, HttpError, MAX_HEAD, Response};

/// Token range of accepted HTTP connections.
pub(super) const HTTP_SERVER_BASE: usize = 2 << 24;
/// Token range of outgoing HTTP requests.
pub(super) const HTTP_CLIENT_BASE: usize = 3 << 24;

/// A request head must arrive within this time of the connection or previous answer.
pub(super) const HTTP_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle kept-alive connection is closed after this.
pub(super) const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// An outgoing request must complete within this time.
pub(super) const HTTP_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection accepted by the tracker's HTTP listener.
#[derive(Debug)]
pub(super) struct HttpServerConn {
    pub(super) sock: TcpStream,
    pub(super) peer: SocketAddr,
    recv: RecvBuf,
    send: SendQueue,
    /// When the current request started (connection or previous answer).
    waiting_since: Instant,
    /// Close once the queued answer is written.
    close_after_write: bool,
    /// A request is under way (the connection is new, or part of a head came): the
    /// head timeout applies rather than the idle one.
    partial: bool,
    /// When it was accepted (tells its entry in `http_accept_order` from a stale one
    /// of an earlier connection in the same slab slot).
    accepted_at: Instant,
}

/// Who an outgoing request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FetchOwner {
    /// Torrent slab key.
    pub(super) torrent: usize,
    /// The tracker client's request id.
    pub(super) request: u64,
}

/// An outgoing HTTP GET.
#[derive(Debug)]
pub(super) struct HttpFetch {
    sock: TcpStream,
    owner: FetchOwner,
    connected: bool,
    request: Vec<u8>,
    written: usize,
    response: Vec<u8>,
    started_at: Instant,
}

impl Reactor {
    /// Accepts tracker HTTP connections until `WouldBlock`.
    pub(super) fn on_http_accept(&mut self, index: usize, now: Instant) {
        loop {
            let Some(listener) = self.http_listeners.get(index) else {
                return;
            };
            let (mut sock, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("tracker accept failed: {e}");
                    return;
                }
            };
            // At the cap, the oldest connection still owing its request head (a
            // slowloris, most likely: honest clients send theirs at once) makes room;
            // with none, the new one is dropped at once so the ones we serve stay fast.
            if self.http_conns.len() >= self.tracker_limits.max_http_connections
                && !self.evict_slowest()
            {
                self.tracker_counters.http_refused += 1;
                continue;
            }
            let entry = self.http_conns.vacant_entry();
            let token = Token(HTTP_SERVER_BASE + entry.key());
            if self
                .poll
                .registry()
                .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            let key = entry.key();
            entry.insert(HttpServerConn {
                sock,
                peer,
                recv: RecvBuf::new(),
                send: SendQueue::new(),
                waiting_since: now,
                close_after_write: false,
                // A new connection owes us a request head: the head timeout applies.
                partial: true,
                accepted_at: now,
            });
            self.http_accept_order.push_back((key, now));
            if self.http_accept_order.len() > 2 * self.http_conns.len() + 64 {
                let conns = &self.http_conns;
                self.http_accept_order
                    .retain(|&(k, at)| conns.get(k).is_some_and(|c| c.accepted_at == at));
            }
        }
    }

    /// Reads requests, answers them, writes answers.
    pub(super) fn on_http_server_event(&mut self, key: usize, now: Instant) {
        loop {
            let Some(conn) = self.http_conns.get_mut(key) else {
                return;
            };
            let pass = match conn.recv.read_from(&mut conn.sock, 64 * 1024, MAX_HEAD + 1) {
                Ok(p) => p,
                Err(_) => return self.drop_http_conn(key),
            };
            // Answer every complete request already buffered (pipelining).
            loop {
                let Some(conn) = self.http_conns.get_mut(key) else {
                    return;
                };
                if conn.close_after_write {
                    break;
                }
                let head = match http::parse_request(conn.recv.unconsumed(), usize::MAX) {
                    Ok(Some(head)) => head,
                    Ok(None) => {
                        // Part of a head: the head timeout runs (a fresh connection
                        // starts that way; an idle kept-alive one gets the idle timeout).
                        if !conn.recv.unconsumed().is_empty() {
                            conn.partial = true;
                        }
                        break;
                    }
                    Err(e) => {
                        let answer = match self.tracker_server.as_mut() {
                            Some(t) => t.on_bad_request(&e),
                            None => http::response("400 Bad Request", "text/plain", b"", false),
                        };
                        let Some(conn) = self.http_conns.get_mut(key) else {
                            return;
                        };
                        conn.send.queue(Bytes::from(answer));
                        conn.close_after_write = true;
                        break;
                    }
                };
                conn.recv.consume(head.len);
                conn.partial = false;
                conn.waiting_since = now;
                let peer = conn.peer;
                let keep_alive = head.keep_alive;
                let request = http::Request {
                    head,
                    body: Vec::new(),
                };
                let answer = match self.tracker_server.as_mut() {
                    Some(t) => t.on_http(&request, peer, now),
                    None => http::response(
                        "404 Not Found",
                        "text/plain",
                        b"no tracker here\n",
                        keep_alive,
                    ),
                };
                let Some(conn) = self.http_conns.get_mut(key) else {
                    return;
                };
                conn.send.queue(Bytes::from(answer));
                if !keep_alive {
                    conn.close_after_write = true;
                }
            }
            let Some(conn) = self.http_conns.get_mut(key) else {
                return;
            };
            if conn.send.write_to(&mut conn.sock).is_err() {
                return self.drop_http_conn(key);
            }
            if conn.close_after_write && conn.send.queued() == 0 {
                return self.drop_http_conn(key);
            }
            if pass.eof {
                if conn.send.queued() == 0 {
                    return self.drop_http_conn(key);
                }
                return;
            }
            if pass.drained || conn.close_after_write {
                return;
            }
        }
    }

    /// Closes the earliest-accepted tracker HTTP connection that is owing a request head
    /// (see `partial`); false when there is none. Amortised O(1): entries of
    /// connections gone or answered are dropped as they are met, and the queue is
    /// compacted when it outgrows the slab.
    fn evict_slowest(&mut self) -> bool {
        while let Some((key, at)) = self.http_accept_order.pop_front() {
            let slow = self
                .http_conns
                .get(key)
                .is_some_and(|c| c.partial && c.accepted_at == at);
            if slow {
                self.tracker_counters.http_evicted += 1;
                self.drop_http_conn(key);
                return true;
            }
        }
        false
    }

    pub(super) fn drop_http_conn(&mut self, key: usize) {
        if let Some(mut conn) = self.http_conns.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut conn.sock);
        }
    }

    /// Closes tracker HTTP connections that sent no complete head in time, or idled.
    pub(super) fn expire_http_conns(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .http_conns
            .iter()
            .filter(|(_, c)| {
                let limit = if c.partial {
                    HTTP_HEAD_TIMEOUT
                } else {
                    HTTP_IDLE_TIMEOUT
                };
                now.duration_since(c.waiting_since) >= limit && c.send.queued() == 0
            })
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            self.tracker_counters.http_timeouts += 1;
            self.drop_http_conn(key);
        }
    }

    /// Starts a GET of `url` to `addr` for `owner`.
    pub(super) fn start_fetch(
        &mut self,
        url: &http::HttpUrl,
        addr: SocketAddr,
        owner: FetchOwner,
        now: Instant,
    ) -> Result<(), String> {
        if url.tls {
            return Err("https trackers are not supported yet".into());
        }
        let mut sock = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        let entry = self.http_fetches.vacant_entry();
        let token = Token(HTTP_CLIENT_BASE + entry.key());
        self.poll
            .registry()
            .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        entry.insert(HttpFetch {
            sock,
            owner,
            connected: false,
            request: http::get_request(url, concat!("hivebt/", env!("CARGO_PKG_VERSION"))),
            written: 0,
            response: Vec::new(),
            started_at: now,
        });
        Ok(())
    }

    /// Drives an outgoing GET: finish the connect, write the request, read the answer.
    pub(super) fn on_fetch_event(&mut self, key: usize, now: Instant) {
        let Some(f) = self.http_fetches.get_mut(key) else {
            return;
        };
        if !f.connected {
            match f.sock.take_error() {
                Ok(None) if f.sock.peer_addr().is_ok() => f.connected = true,
                Ok(None) => return,
                Ok(Some(e)) | Err(e) => return self.finish_fetch(key, Err(e.to_string()), now),
            }
        }
        while f.written < f.request.len() {
            match f.sock.write(&f.request[f.written..]) {
                Ok(n) => f.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.finish_fetch(key, Err(e.to_string()), now),
            }
        }
        let mut buf = [0u8; 16 * 1024];
        let mut closed = false;
        loop {
            match f.sock.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    f.response.extend_from_slice(&buf[..n]);
                    if f.response.len() > http::MAX_BODY + MAX_HEAD {
                        return self.finish_fetch(key, Err(HttpError::TooLarge.to_string()), now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.finish_fetch(key, Err(e.to_string()), now),
            }
        }
        match http::parse_response(&f.response, closed) {
            Ok(Some(resp)) => self.finish_fetch(key, Ok(resp), now),
            Ok(None) => {}
            Err(e) => self.finish_fetch(key, Err(e.to_string()), now),
        }
    }

    /// Fails outgoing GETs past their deadline.
    pub(super) fn expire_fetches(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .http_fetches
            .iter()
            .filter(|(_, f)| now.duration_since(f.started_at) >= HTTP_FETCH_TIMEOUT)
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            self.finish_fetch(key, Err("tracker did not answer within 30 s".into()), now);
        }
    }

    fn finish_fetch(&mut self, key: usize, result: Result<Response, String>, now: Instant) {
        let Some(mut f) = self.http_fetches.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut f.sock);
        self.on_fetch_done(f.owner, result, now);
    }
}
