//! One HTTP/1.1 server connection's protocol side, without its socket: the receive
//! buffer, the send queue and the [`HttpState`] that says what is legal now.
//!
//! Owns nothing but bytes and the state; depends on `wire::http` (parsing) and the
//! peer buffers (`peer::conn`), and never on a socket or the clock (`now` is passed
//! in). The reactor reads into [`HttpMachine::recv_mut`], asks
//! [`HttpMachine::poll_request`] for complete requests, hands each to the listener's
//! service, gives the answer back with [`HttpMachine::respond`], writes
//! [`HttpMachine::send_mut`] out and reports an empty queue with
//! [`HttpMachine::on_drained`].
//!
//! # Lifecycle
//!
//! `ReadingHead -> [ReadingBody ->] Waiting -> Writing -> ReadingHead` for each request
//! of a kept-alive connection, or `-> Writing -> closed` when the request asked for
//! `close` or was refused; `Waiting -> Streaming` for an open-ended response. Pipelined
//! requests wait in the receive buffer until the answer before them is written, so
//! answers always go out in order and one slow reader holds at most one answer.
//!
//! # Invariants
//!
//! - Nothing is queued to send in `ReadingHead`, `ReadingBody` and `Waiting`.
//! - A request is handed out only in `ReadingHead` or `ReadingBody`, and then the state
//!   is `Waiting` until [`HttpMachine::respond`].
//! - The receive buffer holds at most [`HttpMachine::read_limit`] bytes: a head of at
//!   most `MAX_HEAD` bytes and a body of at most the service's body limit (`config::HTTP_MAX_REQUEST_BODY` for the tracker).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::peer::conn::{RecvBuf, SendQueue};
use crate::wire::http::{self, HttpError, MAX_HEAD, Request, RequestHead};

/// A request head must arrive within this time of the connection or previous answer.
pub(super) const HTTP_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle kept-alive connection is closed after this.
pub(super) const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A service's answer to a complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HttpAnswer {
    /// The complete response, to write now.
    Now(Vec<u8>),
    /// The answer comes later (a worker's completion, say); the connection waits.
    Later,
    /// The head of an open-ended response (server-sent events); more follows with
    /// [`HttpMachine::push_stream`].
    Stream(Vec<u8>),
}

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HttpState {
    /// Waiting for a request head, part of which may be buffered. Reading and parsing
    /// are legal; nothing is queued. `partial`: the connection is new or part of a head
    /// came, so the head timeout runs rather than the idle one.
    ReadingHead {
        /// A request is under way (see above).
        partial: bool,
    },
    /// The head came with a `Content-Length` within the service's body limit; the
    /// body is read until that many bytes are buffered, under the head timeout.
    ReadingBody {
        /// The request's head.
        head: RequestHead,
    },
    /// The request went to the service, which answers later. Nothing is parsed (what
    /// the client pipelines stays buffered) and nothing is written; no timeout applies.
    Waiting {
        /// The request asked to keep the connection open.
        keep_alive: bool,
    },
    /// An answer is being written. Nothing is parsed until it is all out; then the
    /// next request is read, or the connection closes when `close_after`.
    Writing {
        /// Close once the queue is empty.
        close_after: bool,
    },
    /// An open-ended response: the service queues more as it comes; what the client
    /// sends is discarded; it ends when either side closes.
    Streaming,
}

/// What [`HttpMachine::poll_request`] found.
#[derive(Debug)]
pub(super) enum Next {
    /// A complete request for the service.
    Request(Request),
    /// Bytes that are no acceptable request: answer with [`HttpMachine::refuse`].
    Bad(HttpError),
    /// Nothing to do until more bytes come (or the answer is written).
    Idle,
}

/// One server connection without its socket. See the module docs.
#[derive(Debug)]
pub(super) struct HttpMachine {
    state: HttpState,
    recv: RecvBuf,
    send: SendQueue,
    /// When the current request started: the connection, or the previous head.
    waiting_since: Instant,
    /// Largest request body accepted.
    max_body: usize,
}

impl HttpMachine {
    /// A new connection, owing its first request head.
    pub(super) fn new(now: Instant, max_body: usize) -> HttpMachine {
        HttpMachine {
            state: HttpState::ReadingHead { partial: true },
            recv: RecvBuf::new(),
            send: SendQueue::new(),
            waiting_since: now,
            max_body,
        }
    }

    /// The receive buffer, to read into.
    pub(super) fn recv_mut(&mut self) -> &mut RecvBuf {
        &mut self.recv
    }

    /// The send queue, to write out.
    pub(super) fn send_mut(&mut self) -> &mut SendQueue {
        &mut self.send
    }

    /// Most bytes worth buffering now: a head (plus one byte, to tell an oversized
    /// head), or the head and body of the request being read.
    pub(super) fn read_limit(&self) -> usize {
        match &self.state {
            HttpState::ReadingBody { head } => head.content_length.max(MAX_HEAD + 1),
            _ => MAX_HEAD + 1,
        }
    }

    /// The next complete request, if one is buffered and the state allows it.
    pub(super) fn poll_request(&mut self, now: Instant) -> Next {
        if let HttpState::ReadingHead { partial } = &mut self.state {
            let head = match http::parse_request(self.recv.unconsumed(), self.max_body) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    // Part of a head: the head timeout runs (a fresh connection starts
                    // that way; an idle kept-alive one gets the idle timeout).
                    if !self.recv.unconsumed().is_empty() {
                        *partial = true;
                    }
                    return Next::Idle;
                }
                Err(e) => return Next::Bad(e),
            };
            self.recv.consume(head.len);
            self.waiting_since = now;
            self.state = HttpState::ReadingBody { head };
        }
        let HttpState::ReadingBody { head } = &self.state else {
            return Next::Idle;
        };
        let need = head.content_length;
        if self.recv.unconsumed().len() < need {
            return Next::Idle;
        }
        let body = self.recv.unconsumed()[..need].to_vec();
        self.recv.consume(need);
        let head = head.clone();
        self.state = HttpState::Waiting {
            keep_alive: head.keep_alive,
        };
        Next::Request(Request { head, body })
    }

    /// The service's answer to the request in `Waiting`. Ignored in any other state.
    pub(super) fn respond(&mut self, answer: HttpAnswer) {
        let HttpState::Waiting { keep_alive } = self.state else {
            return;
        };
        match answer {
            HttpAnswer::Now(bytes) => {
                self.send.queue(Bytes::from(bytes));
                self.state = HttpState::Writing {
                    close_after: !keep_alive,
                };
            }
            HttpAnswer::Later => {}
            HttpAnswer::Stream(head) => {
                self.send.queue(Bytes::from(head));
                self.state = HttpState::Streaming;
            }
        }
    }

    /// More of an open-ended response. Ignored unless `Streaming`.
    pub(super) fn push_stream(&mut self, bytes: Bytes) {
        if self.state == HttpState::Streaming {
            self.send.queue(bytes);
        }
    }

    /// Answers bytes that are no request with `response`, then closes.
    pub(super) fn refuse(&mut self, response: Vec<u8>) {
        self.send.queue(Bytes::from(response));
        self.state = HttpState::Writing { close_after: true };
    }

    /// The send queue is empty: true when the connection should now close.
    pub(super) fn on_drained(&mut self) -> bool {
        match self.state {
            HttpState::Writing { close_after: true } => true,
            HttpState::Writing { close_after: false } => {
                self.state = HttpState::ReadingHead { partial: false };
                false
            }
            _ => false,
        }
    }

    /// True while the connection owes us (the rest of) a request: the candidates for
    /// eviction at the connection cap.
    pub(super) fn owes_request(&self) -> bool {
        matches!(
            self.state,
            HttpState::ReadingHead { partial: true } | HttpState::ReadingBody { .. }
        )
    }

    /// True once the client's closing is the end: nothing is queued, or the rest is
    /// only a stream nobody reads.
    pub(super) fn done_at_eof(&self) -> bool {
        self.send.queued() == 0 || self.state == HttpState::Streaming
    }

    /// True when the connection has sat too long in its state at `now`: owing a head or
    /// body past the head timeout, or idle between requests past the idle timeout.
    pub(super) fn timed_out(&self, now: Instant) -> bool {
        let limit = match self.state {
            HttpState::ReadingHead { partial: true } | HttpState::ReadingBody { .. } => {
                HTTP_HEAD_TIMEOUT
            }
            HttpState::ReadingHead { partial: false } => HTTP_IDLE_TIMEOUT,
            _ => return false,
        };
        now.duration_since(self.waiting_since) >= limit
    }

    /// Drops what a streaming client sent (it has no say in a stream).
    pub(super) fn discard_input_if_streaming(&mut self) {
        if self.state == HttpState::Streaming {
            let n = self.recv.unconsumed().len();
            self.recv.consume(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HTTP_MAX_REQUEST_BODY;

    fn feed(m: &mut HttpMachine, bytes: &[u8]) {
        let limit = m.read_limit();
        let pass = m
            .recv_mut()
            .read_from(&mut &bytes[..], usize::MAX, limit)
            .unwrap();
        assert_eq!(pass.bytes, bytes.len(), "all of it fits");
    }

    fn request(m: &mut HttpMachine, now: Instant) -> Request {
        match m.poll_request(now) {
            Next::Request(r) => r,
            other => panic!("no request: {other:?}"),
        }
    }

    /// Writes everything queued (as if the socket took it) and reports the drain.
    fn drain(m: &mut HttpMachine) -> bool {
        let mut out = Vec::new();
        while m.send_mut().queued() > 0 {
            m.send_mut().write_to(&mut Sinkhole(&mut out)).unwrap();
        }
        m.on_drained()
    }

    struct Sinkhole<'a>(&'a mut Vec<u8>);

    impl std::io::Write for Sinkhole<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl crate::peer::conn::Sink for Sinkhole<'_> {
        fn send_file(&mut self, _: &std::fs::File, _: u64, _: usize) -> std::io::Result<usize> {
            unreachable!("HTTP answers are bytes")
        }
    }

    #[test]
    fn pipelined_requests_are_answered_one_at_a_time_in_order() {
        let t0 = Instant::now();
        let mut m = HttpMachine::new(t0, HTTP_MAX_REQUEST_BODY);
        assert!(m.owes_request());
        feed(
            &mut m,
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let a = request(&mut m, t0);
        assert_eq!(a.head.path, "/a");
        // While /a waits for its answer and then is written, /b is not handed out.
        assert!(matches!(m.poll_request(t0), Next::Idle));
        m.respond(HttpAnswer::Now(b"A".to_vec()));
        assert!(matches!(m.poll_request(t0), Next::Idle));
        assert!(!drain(&mut m), "kept alive");
        let b = request(&mut m, t0);
        assert_eq!((b.head.path.as_str(), b.head.keep_alive), ("/b", false));
        m.respond(HttpAnswer::Now(b"B".to_vec()));
        assert!(
            drain(&mut m),
            "closes after the answer to a `close` request"
        );
    }

    #[test]
    fn a_body_is_read_to_its_content_length() {
        let t0 = Instant::now();
        let mut m = HttpMachine::new(t0, HTTP_MAX_REQUEST_BODY);
        feed(
            &mut m,
            b"POST /api HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello",
        );
        assert!(matches!(m.poll_request(t0), Next::Idle));
        assert!(m.owes_request(), "a body under way counts as owed");
        assert!(m.timed_out(t0 + HTTP_HEAD_TIMEOUT));
        feed(&mut m, b" worldGET /next HTTP/1.1\r\n\r\n");
        let r = request(&mut m, t0);
        assert_eq!(
            (r.head.path.as_str(), r.body.as_slice()),
            ("/api", &b"hello world"[..])
        );
        m.respond(HttpAnswer::Now(b"ok".to_vec()));
        assert!(!drain(&mut m));
        assert_eq!(request(&mut m, t0).head.path, "/next");
    }

    #[test]
    fn oversized_bodies_and_junk_are_refused_and_closed() {
        let t0 = Instant::now();
        let mut m = HttpMachine::new(t0, HTTP_MAX_REQUEST_BODY);
        let head = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            HTTP_MAX_REQUEST_BODY + 1
        );
        feed(&mut m, head.as_bytes());
        let Next::Bad(e) = m.poll_request(t0) else {
            panic!("an oversized body was accepted");
        };
        assert_eq!(e, HttpError::TooLarge);
        m.refuse(b"400".to_vec());
        assert!(drain(&mut m));

        let mut m = HttpMachine::new(t0, HTTP_MAX_REQUEST_BODY);
        feed(&mut m, b"\x16\x03\x01 not http\r\n\r\n");
        assert!(matches!(
            m.poll_request(t0),
            Next::Bad(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn timeouts_follow_the_state() {
        let t0 = Instant::now();
        let mut m = HttpMachine::new(t0, HTTP_MAX_REQUEST_BODY);
        // A new connection owes a head: the head timeout.
        assert!(!m.timed_out(t0 + HTTP_HEAD_TIMEOUT - Duration::from_millis(1)));
        assert!(m.timed_out(t0 + HTTP_HEAD_TIMEOUT));
        feed(&mut m, b"GET / HTTP/1.1\r\n\r\n");
        let t1 = t0 + Duration::from_secs(1);
        request(&mut m, t1);
        // Waiting for a service and writing never time out here.
        assert!(!m.timed_out(t1 + HTTP_IDLE_TIMEOUT * 10));
        m.respond(HttpAnswer::Now(b"x".to_vec()));
        assert!(!m.timed_out(t1 + HTTP_IDLE_TIMEOUT * 10));
        drain(&mut m);
        // Idle between requests: the idle timeout, counted from the last head.
        assert!(!m.owes_request());
        assert!(!m.timed_out(t1 + HTTP_HEAD_TIMEOUT));
        assert!(m.timed_out(t1 + HTTP_IDLE_TIMEOUT));
        // A byte of the next head starts the head timeout again.
        feed(&mut m, b"G");
        assert!(matches!(m.poll_request(t1), Next::Idle));
        assert!(m.owes_request() && m.timed_out(t1 + HTTP_HEAD_TIMEOUT));
    }

    #[test]
    fn later_answers_and_streams() {
        let t0 = Instant::now();
        let mut m = HttpMachine::new(t0, HTTP_MAX_REQUEST_BODY);
        feed(
            &mut m,
            b"GET /slow HTTP/1.1\r\n\r\nGET /events HTTP/1.1\r\n\r\n",
        );
        request(&mut m, t0);
        m.respond(HttpAnswer::Later);
        assert!(matches!(m.poll_request(t0), Next::Idle), "still waiting");
        assert_eq!(m.send_mut().queued(), 0);
        m.push_stream(Bytes::from_static(b"ignored"));
        assert_eq!(m.send_mut().queued(), 0, "no stream while waiting");
        m.respond(HttpAnswer::Now(b"slow answer".to_vec()));
        assert!(!drain(&mut m));
        request(&mut m, t0);
        m.respond(HttpAnswer::Stream(b"head".to_vec()));
        m.push_stream(Bytes::from_static(b"data: 1\n\n"));
        assert_eq!(m.send_mut().queued(), 4 + 9);
        assert!(!drain(&mut m), "a stream stays open when drained");
        feed(&mut m, b"chatter");
        m.discard_input_if_streaming();
        assert!(matches!(m.poll_request(t0), Next::Idle));
        assert!(m.done_at_eof());
    }
}
