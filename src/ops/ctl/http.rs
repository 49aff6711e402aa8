//! The blocking HTTP/1.1 client `ctl` talks to the daemon with: the strict
//! `http://HOST:PORT` URL, request bytes, answer parsing and the status-to-error mapping
//! (all pure), and [`Client::call`], one exchange per connection over a
//! `std::net::TcpStream` with connect, read and write timeouts.
//!
//! Depends on `wire::http` (the response parser), `serde_json` and `crate::error`. Every request asks for
//! `Connection: close`, so an answer ends at its `Content-Length`, at the last chunk or
//! when the daemon closes; it is bounded by [`MAX_ANSWER`] bytes, and a whole exchange
//! by one deadline, so a stuck or hostile server cannot hold `ctl` forever.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::render::printable;
use crate::error::{Error, Result};
use crate::wire::http;

/// Largest answer accepted: a list of tens of thousands of torrents fits.
pub const MAX_ANSWER: usize = 64 << 20;

/// The daemon's address, from a URL of exactly the form `http://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonUrl {
    /// Host name or address literal, IPv6 without its brackets.
    pub host: String,
    /// Port (always given).
    pub port: u16,
}

impl DaemonUrl {
    /// Parses `http://HOST:PORT` (a trailing `/` is allowed). Anything else — `https`,
    /// a missing port, a path, a query, user information — is refused with a message
    /// saying what was wrong, since a URL silently half-used is worse than none.
    pub fn parse(url: &str) -> std::result::Result<DaemonUrl, String> {
        let bad = |why: &str| format!("--url {url}: {why} (expected http://HOST:PORT)");
        if strip_prefix_ci(url, "https://").is_some() {
            return Err(bad(
                "https is not supported: the daemon's API speaks plain HTTP only",
            ));
        }
        let rest = strip_prefix_ci(url, "http://").ok_or_else(|| bad("not an http:// URL"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("only a host and a port are allowed"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in an IPv6 address"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address between [ ]"));
            }
            let port = after.strip_prefix(':').ok_or_else(|| bad("no port"))?;
            (host, port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !host_ok {
                return Err(bad("not a host name or address"));
            }
            (host, port)
        };
        let port = Some(port)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        Ok(DaemonUrl {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// `host:port` as the `Host` header carries it (brackets around IPv6).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for DaemonUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &s[prefix.len()..])
}

/// Percent-encodes `s` for a query value: everything but RFC 3986 unreserved
/// characters becomes `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads.
    Get,
    /// Adds and actions.
    Post,
    /// Changes to a torrent.
    Patch,
    /// Removal.
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to the API, before it meets a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// Its method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub target: String,
    /// The body's media type, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A `GET`.
    pub fn get(target: impl Into<String>) -> ApiRequest {
        ApiRequest::new(Method::Get, target, None, Vec::new())
    }

    /// A `POST` with no body (the torrent actions).
    pub fn post_empty(target: impl Into<String>) -> ApiRequest {
        ApiRequest::new(Method::Post, target, None, Vec::new())
    }

    /// A `DELETE`.
    pub fn delete(target: impl Into<String>) -> ApiRequest {
        ApiRequest::new(Method::Delete, target, None, Vec::new())
    }

    /// A request with a JSON body.
    pub fn json(method: Method, target: impl Into<String>, body: &serde_json::Value) -> ApiRequest {
        let bytes = body.to_string().into_bytes();
        ApiRequest::new(method, target, Some("application/json"), bytes)
    }

    /// A request with any body.
    pub fn new(
        method: Method,
        target: impl Into<String>,
        content_type: Option<&'static str>,
        body: Vec<u8>,
    ) -> ApiRequest {
        ApiRequest {
            method,
            target: target.into(),
            content_type,
            body,
        }
    }

    /// The request's bytes for the daemon at `url`, with the API token when there is
    /// one. A `Content-Length` goes with every method but `GET`, so a body-less `POST`
    /// says it has none.
    pub fn encode(&self, url: &DaemonUrl, token: Option<&str>) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hivebt/{}\r\nAccept: application/json\r\n",
            self.method.as_str(),
            self.target,
            url.authority(),
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(content_type) = self.content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if self.method != Method::Get || !self.body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Why the daemon's answer bytes were refused.
pub use crate::wire::http::HttpError as AnswerError;
/// A complete answer: status code and (de-chunked) body.
pub use crate::wire::http::Response as Answer;

/// Parses an answer from `buf` (see [`http::parse_response_limited`]), with a body of
/// at most [`MAX_ANSWER`] bytes.
pub fn parse_answer(buf: &[u8], closed: bool) -> std::result::Result<Option<Answer>, AnswerError> {
    http::parse_response_limited(buf, closed, MAX_ANSWER)
}

/// The `{"error", "code"}` body of a refused request.
#[derive(Deserialize)]
struct ApiError {
    error: String,
    code: String,
}

/// The body of a successful answer, or the error the daemon's refusal means: 4xx is
/// bad input (exit 2), 5xx and anything unexpected an operational failure (exit 1).
/// `hint` is added after a 401 (what to pass when no token was sent).
pub fn check_answer(answer: Answer, hint: Option<&str>) -> Result<Vec<u8>> {
    let status = answer.status;
    if (200..300).contains(&status) {
        return Ok(answer.body);
    }
    let said = match serde_json::from_slice::<ApiError>(&answer.body) {
        Ok(e) => format!(
            "the daemon says: {} ({})",
            printable(&e.error),
            printable(&e.code)
        ),
        Err(_) => {
            let text = String::from_utf8_lossy(&answer.body);
            let text: String = printable(text.trim()).chars().take(200).collect();
            let text = if text.is_empty() {
                "no reason given"
            } else {
                &text
            };
            format!("the daemon says: {text} (HTTP {status})")
        }
    };
    let said = match hint {
        Some(hint) if status == 401 => format!("{said}; {hint}"),
        _ => said,
    };
    match status {
        400..=499 => Err(Error::BadInput(said)),
        _ => Err(Error::Failed(said)),
    }
}

/// Talks to one daemon: one connection per request.
#[derive(Debug, Clone)]
pub struct Client {
    /// Where the daemon listens.
    pub url: DaemonUrl,
    /// The API token, sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Longest wait for a connection to be accepted.
    pub connect_timeout: Duration,
}

impl Client {
    /// Sends `request` and returns the successful answer's body, or the error it means
    /// (see [`check_answer`]); the whole exchange must end within `timeout`.
    pub fn call(&self, request: &ApiRequest, timeout: Duration) -> Result<Vec<u8>> {
        let hint = self
            .token
            .is_none()
            .then_some("give --token, set HIVEBT_TOKEN or give --state DIR to read DIR/api_token");
        check_answer(self.exchange(request, timeout)?, hint)
    }

    /// One exchange, with its failures worded for the user.
    pub fn exchange(&self, request: &ApiRequest, timeout: Duration) -> Result<Answer> {
        let unreachable = |e: &dyn fmt::Display| {
            Error::Failed(format!("cannot reach the daemon at {}: {e}", self.url))
        };
        let mut stream = self.connect().map_err(|e| unreachable(&e))?;
        let deadline = Instant::now() + timeout;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| unreachable(&e))?;
        // A daemon refusing a large upload may answer and close before it has all of
        // it; that answer is still the one to show, so read even after a failed write.
        let sent = stream.write_all(&request.encode(&self.url, self.token.as_deref()));
        match (read_answer(&mut stream, deadline), sent) {
            (Ok(answer), _) => Ok(answer),
            (Err(ReadFailure::Io(_)), Err(e)) if is_timeout(&e) => Err(unreachable(&format!(
                "could not send the request within {timeout:?}"
            ))),
            (Err(ReadFailure::Io(_)), Err(e)) => Err(unreachable(&e)),
            (Err(ReadFailure::Io(e)), Ok(())) if is_timeout(&e) => {
                Err(unreachable(&format!("no answer within {timeout:?}")))
            }
            (Err(ReadFailure::Io(e)), Ok(())) => Err(unreachable(&e)),
            (Err(ReadFailure::Answer(e)), _) => Err(Error::Failed(format!(
                "the daemon at {} sent a bad answer: {e}",
                self.url
            ))),
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in (self.url.host.as_str(), self.url.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host name has no address")
        }))
    }
}

enum ReadFailure {
    Io(io::Error),
    Answer(AnswerError),
}

/// Reads until [`parse_answer`] has a whole answer, the daemon closes, or `deadline`.
fn read_answer(
    stream: &mut TcpStream,
    deadline: Instant,
) -> std::result::Result<Answer, ReadFailure> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadFailure::Io(io::ErrorKind::TimedOut.into()));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(ReadFailure::Io)?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadFailure::Io(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(answer) = parse_answer(&buf, n == 0).map_err(ReadFailure::Answer)? {
            return Ok(answer);
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> DaemonUrl {
        DaemonUrl::parse("http://127.0.0.1:8080").unwrap()
    }

    #[test]
    fn strict_urls() {
        let u = DaemonUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8080));
        assert_eq!(u.to_string(), "http://127.0.0.1:8080");
        let u = DaemonUrl::parse("HTTP://Seedbox.example:9000/").unwrap();
        assert_eq!(u.authority(), "seedbox.example:9000");
        let u = DaemonUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.authority()),
            ("::1", "[::1]:8080".into())
        );
        for (bad, why) in [
            ("https://127.0.0.1:8080", "https is not supported"),
            ("127.0.0.1:8080", "not an http:// URL"),
            ("http://127.0.0.1", "no port"),
            ("http://127.0.0.1:", "port"),
            ("http://127.0.0.1:0", "port"),
            ("http://127.0.0.1:65536", "port"),
            ("http://127.0.0.1:+80", "port"),
            ("http://127.0.0.1:8080/api", "only a host and a port"),
            ("http://127.0.0.1:8080?x", "only a host and a port"),
            ("http://u:p@127.0.0.1:8080", "only a host and a port"),
            ("http://:8080", "not a host"),
            ("http://a b:8080", "not a host"),
            ("http://[::1:8080", "unclosed"),
            ("http://[zz]:8080", "IPv6"),
            ("http://[::1]", "no port"),
        ] {
            let e = DaemonUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains("http://HOST:PORT"), "{e}");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(
            percent_encode("/srv/my files&x=1"),
            "%2Fsrv%2Fmy%20files%26x%3D1"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn get_request_bytes() {
        let r = ApiRequest::get("/api/v1/torrents?state=seeding").encode(&url(), None);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            format!(
                "GET /api/v1/torrents?state=seeding HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
                 User-Agent: hivebt/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn requests_with_token_and_body() {
        let body = serde_json::json!({"magnet": "magnet:?xt=x"});
        let r =
            ApiRequest::json(Method::Post, "/api/v1/torrents", &body).encode(&url(), Some("t0k"));
        let text = String::from_utf8(r).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("POST /api/v1/torrents HTTP/1.1\r\n"),
            "{head}"
        );
        for line in [
            "Host: 127.0.0.1:8080",
            "Authorization: Bearer t0k",
            "Content-Type: application/json",
            "Content-Length: 25",
            "Connection: close",
        ] {
            assert!(head.split("\r\n").any(|l| l == line), "{line} in {head}");
        }
        assert_eq!(body, r#"{"magnet":"magnet:?xt=x"}"#);
        let r = ApiRequest::post_empty("/api/v1/torrents/ab/pause").encode(&url(), None);
        let text = String::from_utf8(r).unwrap();
        assert!(text.contains("\r\nContent-Length: 0\r\n"), "{text}");
        assert!(!text.contains("Authorization"), "{text}");
        assert!(!text.contains("Content-Type"), "{text}");
    }

    #[test]
    fn answers_by_length_chunks_or_close() {
        let full =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
        for cut in 0..full.len() {
            assert_eq!(parse_answer(&full[..cut], false), Ok(None), "cut {cut}");
            assert_eq!(
                parse_answer(&full[..cut], true),
                Err(AnswerError::Truncated),
                "cut {cut}"
            );
        }
        let a = parse_answer(full, false).unwrap().unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"[]"[..]));
        let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        for cut in 0..chunked.len() - 2 {
            assert_eq!(parse_answer(&chunked[..cut], false), Ok(None), "cut {cut}");
        }
        let a = parse_answer(chunked, false).unwrap().unwrap();
        assert_eq!((a.status, a.body.as_slice()), (201, &b"{\"a\":1}"[..]));
        let close = b"HTTP/1.0 500 Oops\r\n\r\nboom";
        assert_eq!(parse_answer(close, false), Ok(None));
        assert_eq!(parse_answer(close, true).unwrap().unwrap().body, b"boom");
    }

    #[test]
    fn bad_answers() {
        assert!(matches!(
            parse_answer(b"SSH-2.0-OpenSSH\r\n\r\n", false),
            Err(AnswerError::Malformed(_))
        ));
        for len in ["x", "-1", "", "99999999999999999999999"] {
            let a = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            assert!(
                matches!(
                    parse_answer(a.as_bytes(), true),
                    Err(AnswerError::Malformed(_))
                ),
                "{len}"
            );
        }
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_ANSWER + 1
        );
        assert_eq!(
            parse_answer(huge.as_bytes(), false),
            Err(AnswerError::TooLarge)
        );
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(
            parse_answer(bad_chunk, false),
            Err(AnswerError::Malformed(_))
        ));
        let long_head = [
            b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
            &[b'a'; http::MAX_RESPONSE_HEAD + 1],
        ]
        .concat();
        assert_eq!(parse_answer(&long_head, false), Err(AnswerError::TooLarge));
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        assert_eq!(check_answer(answer(201, "{}"), None).unwrap(), b"{}");
        let e = check_answer(
            answer(404, r#"{"error": "no such torrent", "code": "not_found"}"#),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the daemon says: no such torrent (not_found)"
        );
        assert_eq!(e.exit_code(), 2);
        let e = check_answer(
            answer(
                503,
                r#"{"error": "shutting down", "code": "shutting_down"}"#,
            ),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the daemon says: shutting down (shutting_down)"
        );
        assert_eq!(e.exit_code(), 1);
        let e = check_answer(answer(502, "<html>bad gateway</html>\n"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the daemon says: <html>bad gateway</html> (HTTP 502)"
        );
        assert_eq!(e.exit_code(), 1);
        let e = check_answer(answer(302, ""), None).unwrap_err();
        assert_eq!(e.to_string(), "the daemon says: no reason given (HTTP 302)");
        assert_eq!(e.exit_code(), 1);
        let unauthorized = r#"{"error": "log in first", "code": "unauthorized"}"#;
        let e = check_answer(answer(401, unauthorized), Some("give --token")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the daemon says: log in first (unauthorized); give --token"
        );
        assert_eq!(e.exit_code(), 2);
        let e = check_answer(
            answer(
                400,
                "{\"error\": \"bad \\u001b[31m\", \"code\": \"bad_request\"}",
            ),
            None,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "the daemon says: bad ?[31m (bad_request)");
    }
}
