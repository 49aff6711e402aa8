//! Minimal HTTP/1.1 for tracker traffic: URL splitting, building a GET, parsing a
//! request head (server side) and a response (client side, with `Content-Length`,
//! chunked bodies or read-to-close). Built on `httparse`; no I/O.
//!
//! Depends on `httparse`. Sizes are bounded: a request head over `MAX_HEAD` bytes or a
//! response body over `MAX_BODY` bytes is an error, so a hostile peer cannot make us
//! buffer without end.

use std::fmt;

/// Largest request or response head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest response body accepted (a tracker reply with thousands of peers fits).
pub const MAX_BODY: usize = 1024 * 1024;
const MAX_HEADERS: usize = 32;

/// An `http://` or `https://` URL split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https` was given (not supported for requests yet).
    pub tls: bool,
    /// Host name or address literal (brackets removed from IPv6).
    pub host: String,
    /// Port (default 80 / 443).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

/// Why HTTP bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not `http://host[:port]/...`.
    BadUrl(String),
    /// The head is malformed.
    Malformed(String),
    /// The head or body is larger than allowed.
    TooLarge,
    /// The connection closed before the message was complete.
    Truncated,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl(u) => write!(f, "not an http URL: {u}"),
            HttpError::Malformed(m) => write!(f, "malformed HTTP: {m}"),
            HttpError::TooLarge => f.write_str("HTTP message too large"),
            HttpError::Truncated => f.write_str("connection closed mid-response"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Splits `http://host:port/path?query`.
pub fn parse_url(url: &str) -> Result<HttpUrl, HttpError> {
    let bad = || HttpError::BadUrl(url.to_string());
    let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "http://") {
        (false, r)
    } else if let Some(r) = strip_prefix_ci(url, "https://") {
        (true, r)
    } else {
        return Err(bad());
    };
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() || host.contains('@') {
        return Err(bad());
    }
    Ok(HttpUrl {
        tls,
        host,
        port,
        target,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &s[prefix.len()..])
}

/// A GET request for `url`, asking the server to close the connection afterwards.
pub fn get_request(url: &HttpUrl, user_agent: &str) -> Vec<u8> {
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let default = if url.tls { 443 } else { 80 };
    let host = if url.port == default {
        host
    } else {
        format!("{host}:{}", url.port)
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.target
    )
    .into_bytes()
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query after `?` (empty when none), still percent-encoded.
    pub query: String,
    /// The client asked to keep the connection open (HTTP/1.1 without `close`, or
    /// HTTP/1.0 with `keep-alive`).
    pub keep_alive: bool,
    /// Bytes of body that follow the head (`Content-Length`; 0 when absent).
    pub content_length: usize,
    /// Bytes of the head, including the blank line.
    pub len: usize,
    /// Every header, its name lowercased and its value as text (invalid UTF-8 lossily
    /// replaced), in the order sent.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first header named `name` (lowercase), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }
}

/// A complete request: its head and a body of `head.content_length` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The head.
    pub head: RequestHead,
    /// The body (empty for the usual `GET`).
    pub body: Vec<u8>,
}

/// Parses a request head from the start of `buf`: `Ok(None)` while incomplete. A
/// `Content-Length` that is not a number, or given twice with different values, is
/// malformed; one over `max_body` is [`HttpError::TooLarge`].
pub fn parse_request(buf: &[u8], max_body: usize) -> Result<Option<RequestHead>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => Err(HttpError::TooLarge),
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let version = req.version.unwrap_or(0);
            let connection = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("connection"))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase());
            let keep_alive = match (version, connection.as_deref()) {
                (_, Some(c)) if c.contains("close") => false,
                (1, _) => true,
                (_, Some(c)) => c.contains("keep-alive"),
                _ => false,
            };
            // RFC 9112 section 6.1: a request with Transfer-Encoding has no usable
            // Content-Length; bodies here are never chunked, so refuse it rather than
            // read its body as the next request.
            if req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
            {
                return Err(HttpError::Malformed(
                    "Transfer-Encoding on a request is not accepted; send Content-Length".into(),
                ));
            }
            let content_length = request_content_length(req.headers)?;
            if content_length > max_body {
                return Err(HttpError::TooLarge);
            }
            Ok(Some(RequestHead {
                method: req.method.unwrap_or("").to_string(),
                path: path.to_string(),
                query: query.to_string(),
                keep_alive,
                content_length,
                len,
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
            }))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Err(HttpError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(HttpError::Malformed(e.to_string())),
    }
}

/// The `Content-Length` of a request: 0 when absent, an error when it is not a number
/// or repeated with another value (RFC 9112 section 6.3: a message with conflicting
/// lengths is unrecoverable).
fn request_content_length(headers: &[httparse::Header<'_>]) -> Result<usize, HttpError> {
    let mut found: Option<usize> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let n = std::str::from_utf8(h.value)
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| HttpError::Malformed("bad Content-Length".into()))?;
        if found.is_some_and(|f| f != n) {
            return Err(HttpError::Malformed("conflicting Content-Length".into()));
        }
        found = Some(n);
    }
    Ok(found.unwrap_or(0))
}

/// A response with a body and its length, `Connection` as asked.
pub fn response(status: &str, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A complete response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// Longest response head read; response heads carry more headers than requests.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;
const MAX_RESPONSE_HEADERS: usize = 64;

/// Parses a response from `buf` with a body of at most [`MAX_BODY`] bytes; see
/// [`parse_response_limited`].
pub fn parse_response(buf: &[u8], closed: bool) -> Result<Option<Response>, HttpError> {
    parse_response_limited(buf, closed, MAX_BODY)
}

/// Parses a response from `buf`; `closed` says the peer closed the connection (then a
/// body without a length ends there). `Ok(None)` while incomplete. A head over
/// [`MAX_RESPONSE_HEAD`] or a body (de-chunked or not) over `max_body` bytes is
/// [`HttpError::TooLarge`], however it is framed.
pub fn parse_response_limited(
    buf: &[u8],
    closed: bool,
    max_body: usize,
) -> Result<Option<Response>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > MAX_RESPONSE_HEAD => {
            return Err(HttpError::TooLarge);
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            return Err(HttpError::TooLarge);
        }
        Ok(httparse::Status::Partial) if closed => return Err(HttpError::Truncated),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let rest = &buf[head_len..];
    let body = if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        dechunk(rest, max_body)?
    } else if let Some(len) = header("content-length") {
        let len: usize = Some(len.as_str())
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| HttpError::Malformed("bad Content-Length".into()))?;
        if len > max_body {
            return Err(HttpError::TooLarge);
        }
        rest.get(..len).map(<[u8]>::to_vec)
    } else if rest.len() > max_body {
        return Err(HttpError::TooLarge);
    } else {
        closed.then(|| rest.to_vec())
    };
    match body {
        Some(body) => Ok(Some(Response { status, body })),
        None if closed => Err(HttpError::Truncated),
        None => Ok(None),
    }
}

/// Decodes a chunked body (RFC 9112 section 7.1; trailers are ignored) of at most
/// `max_body` bytes; `Ok(None)` while incomplete.
fn dechunk(mut buf: &[u8], max_body: usize) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&buf[..line_end]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed("bad chunk size".into()))?;
        if size == 0 {
            return Ok(Some(out));
        }
        if out.len().saturating_add(size) > max_body {
            return Err(HttpError::TooLarge);
        }
        let start = line_end + 2;
        let Some(chunk) = buf.get(start..start + size) else {
            return Ok(None);
        };
        out.extend_from_slice(chunk);
        match buf.get(start + size..start + size + 2) {
            None => return Ok(None),
            Some(b"\r\n") => buf = &buf[start + size + 2..],
            Some(_) => return Err(HttpError::Malformed("chunk without CRLF".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://tracker.example:6969/announce?passkey=x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("tracker.example", 6969, "/announce?passkey=x")
        );
        let u = parse_url("HTTP://[::1]:80/a").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        let u = parse_url("https://t.example").unwrap();
        assert_eq!((u.tls, u.port, u.target.as_str()), (true, 443, "/"));
        let u = parse_url("http://t.example?x=1").unwrap();
        assert_eq!(u.target, "/?x=1");
        for bad in [
            "udp://x:1",
            "http://",
            "http://:80/",
            "http://h:port/",
            "http://[::1/",
            "http://u@h/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn get_request_host_header() {
        let r = get_request(
            &parse_url("http://[::1]:8080/announce?a=b").unwrap(),
            "hivebt",
        );
        let text = String::from_utf8(r).unwrap();
        assert!(
            text.starts_with("GET /announce?a=b HTTP/1.1\r\nHost: [::1]:8080\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn request_heads() {
        let full = b"GET /announce?info_hash=%01 HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_request(&full[..cut], 0), Ok(None), "cut {cut}");
        }
        let h = parse_request(full, 0).unwrap().unwrap();
        assert_eq!(
            (h.path.as_str(), h.query.as_str(), h.keep_alive, h.len),
            ("/announce", "info_hash=%01", true, full.len())
        );
        let h = parse_request(b"GET /stats HTTP/1.0\r\n\r\n", 0)
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse_request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0)
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        assert!(matches!(
            parse_request(b"\x00\x01 junk\r\n\r\n", 0),
            Err(HttpError::Malformed(_))
        ));
        let long = [b"GET /".as_slice(), &vec![b'a'; MAX_HEAD + 10]].concat();
        assert_eq!(parse_request(&long, 0), Err(HttpError::TooLarge));
        let complete = [long.as_slice(), b" HTTP/1.1\r\n\r\n"].concat();
        assert_eq!(parse_request(&complete, 0), Err(HttpError::TooLarge));
    }

    #[test]
    fn request_content_length_is_bounded_and_checked() {
        let head = |cl: &str| format!("POST /x HTTP/1.1\r\n{cl}\r\n\r\n");
        let h = parse_request(head("Content-Length: 12").as_bytes(), 12)
            .unwrap()
            .unwrap();
        assert_eq!(h.content_length, 12);
        let h = parse_request(b"GET / HTTP/1.1\r\n\r\n", 12)
            .unwrap()
            .unwrap();
        assert_eq!(h.content_length, 0);
        assert_eq!(
            parse_request(head("Content-Length: 13").as_bytes(), 12),
            Err(HttpError::TooLarge)
        );
        for bad in [
            "Content-Length: -1",
            "Content-Length: 1x",
            "Content-Length: ",
            "Content-Length: 99999999999999999999999",
            "Content-Length: 1\r\nContent-Length: 2",
        ] {
            assert!(
                matches!(
                    parse_request(head(bad).as_bytes(), 12),
                    Err(HttpError::Malformed(_))
                ),
                "{bad}"
            );
        }
        let same = head("Content-Length: 3\r\nContent-Length: 3");
        let h = parse_request(same.as_bytes(), 12).unwrap().unwrap();
        assert_eq!(h.content_length, 3);
    }

    #[test]
    fn responses() {
        let r = response("200 OK", "text/plain", b"hello", false);
        let p = parse_response(&r, false).unwrap().unwrap();
        assert_eq!((p.status, p.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(parse_response(&r[..r.len() - 1], false), Ok(None));
        assert_eq!(
            parse_response(&r[..r.len() - 1], true),
            Err(HttpError::Truncated)
        );
        let no_len = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert_eq!(parse_response(no_len, false), Ok(None));
        assert_eq!(parse_response(no_len, true).unwrap().unwrap().body, b"body");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nd2:a\r\n3;x=1\r\ni1e\r\n1\r\ne\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked, false).unwrap().unwrap().body,
            b"d2:ai1ee"
        );
        assert_eq!(
            parse_response(&chunked[..chunked.len() - 8], false),
            Ok(None)
        );
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_response(huge.as_bytes(), false),
            Err(HttpError::TooLarge)
        );
    }
}
