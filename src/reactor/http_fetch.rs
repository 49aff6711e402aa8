//! Outgoing HTTP GETs to HTTP trackers on the reactor: connect, send the request, read
//! the response until it is complete or the server closes, with a deadline. Each fetch
//! is a slab entry with its own token range; what the answer means is decided by the
//! tracker client (`trackers.rs`), this file only moves bytes.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::Reactor;
use crate::wire::http::{self, HttpError, MAX_HEAD, Response};

/// Token range of outgoing HTTP requests.
pub(super) const HTTP_CLIENT_BASE: usize = 3 << 24;

/// An outgoing request must complete within this time.
pub(super) const HTTP_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Who an outgoing request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FetchOwner {
    /// The torrent.
    pub(super) torrent: crate::types::TorrentId,
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
