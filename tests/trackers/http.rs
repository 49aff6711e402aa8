//! Raw HTTP/1.1 to a tracker over `TcpStream` (requests written by hand, responses read
//! by `Content-Length`, keep-alive honoured), a small strict bencode decoder for the
//! answers, and the announce query string. Written here rather than taken from hivebt,
//! so the tests check hivebt's encoders against an independent reading of BEP 3/7/23/48.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Read and write timeout of every test connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as bencode, failing the test if it is not.
    pub fn bencode(&self) -> Bval {
        decode(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not bencode ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection, reusable while the server keeps it alive.
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    pub fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(HttpConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends `GET target HTTP/1.1` and reads the answer.
    pub fn get(&mut self, target: &str) -> io::Result<HttpResponse> {
        self.send_raw(format!("GET {target} HTTP/1.1\r\nHost: tracker\r\n\r\n").as_bytes())?;
        self.read_response()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one response: the head up to the blank line, then `Content-Length` bytes.
    pub fn read_response(&mut self) -> io::Result<HttpResponse> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| bad(format!("no Content-Length in {head:?}")))?;
        while self.buf.len() < head_end + len {
            self.fill()?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("closed after {} bytes", self.buf.len()),
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads until the server closes the connection (or resets it, or the read timeout
    /// passes) and returns what came: `Ok(bytes)` on a close or reset, `Err` on a
    /// timeout.
    pub fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(std::mem::take(&mut self.buf));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `GET target` on a fresh connection, failing the test on any I/O error.
pub fn get(addr: SocketAddr, target: &str) -> HttpResponse {
    HttpConn::connect(addr)
        .and_then(|mut c| c.get(target))
        .unwrap_or_else(|e| panic!("GET http://{addr}{target}: {e}"))
}

/// `GET /stats`, parsed as JSON.
pub fn stats(addr: SocketAddr) -> serde_json::Value {
    let r = get(addr, "/stats");
    assert_eq!(r.status, 200, "/stats: {}", r.text());
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("/stats is not JSON ({e}): {}", r.text()))
}

/// Every byte percent-encoded (valid for any query value).
pub fn urlencode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for b in bytes {
        let _ = write!(out, "%{b:02X}");
    }
    out
}

/// An announce as a client sends it; [`Announce::query`] makes the target.
#[derive(Clone, Debug)]
pub struct Announce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub port: u16,
    pub left: u64,
    pub event: Option<&'static str>,
    pub numwant: Option<i64>,
    /// `None`: no `compact` parameter at all.
    pub compact: Option<bool>,
    pub no_peer_id: bool,
}

impl Announce {
    /// A leecher (`left` 1000) on `port`, with a peer id derived from the port, asking
    /// for compact peers.
    pub fn new(info_hash: [u8; 20], port: u16) -> Announce {
        let mut peer_id = *b"-TT0001-000000000000";
        peer_id[14..20].copy_from_slice(format!("{port:06}").as_bytes());
        Announce {
            info_hash,
            peer_id,
            port,
            left: 1000,
            event: Some("started"),
            numwant: None,
            compact: Some(true),
            no_peer_id: false,
        }
    }

    pub fn seeder(mut self) -> Announce {
        self.left = 0;
        self
    }

    pub fn event(mut self, event: &'static str) -> Announce {
        self.event = Some(event);
        self
    }

    pub fn numwant(mut self, n: i64) -> Announce {
        self.numwant = Some(n);
        self
    }

    pub fn compact(mut self, c: Option<bool>) -> Announce {
        self.compact = c;
        self
    }

    /// `/announce?...`.
    pub fn query(&self) -> String {
        let mut q = format!(
            "/announce?info_hash={}&peer_id={}&port={}&uploaded=0&downloaded=0&left={}",
            urlencode(&self.info_hash),
            urlencode(&self.peer_id),
            self.port,
            self.left
        );
        if let Some(e) = self.event {
            let _ = write!(q, "&event={e}");
        }
        if let Some(n) = self.numwant {
            let _ = write!(q, "&numwant={n}");
        }
        if let Some(c) = self.compact {
            let _ = write!(q, "&compact={}", u8::from(c));
        }
        if self.no_peer_id {
            q.push_str("&no_peer_id=1");
        }
        q
    }
}

/// `/scrape?info_hash=...` for each hash.
pub fn scrape_query(hashes: &[[u8; 20]]) -> String {
    let parts: Vec<String> = hashes
        .iter()
        .map(|h| format!("info_hash={}", urlencode(h)))
        .collect();
    format!("/scrape?{}", parts.join("&"))
}

// ---------------------------------------------------------------------------------
// Bencode

/// A decoded bencode value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bval {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bval>),
    Dict(BTreeMap<Vec<u8>, Bval>),
}

impl Bval {
    /// `self[key]` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Bval> {
        match self {
            Bval::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// `self[key]`, failing the test with the whole value when absent.
    pub fn at(&self, key: &str) -> &Bval {
        self.get(key)
            .unwrap_or_else(|| panic!("no '{key}' in {}", self.show()))
    }

    pub fn int(&self) -> i64 {
        match self {
            Bval::Int(i) => *i,
            other => panic!("not an integer: {}", other.show()),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Bval::Bytes(b) => b,
            other => panic!("not a string: {}", other.show()),
        }
    }

    pub fn list(&self) -> &[Bval] {
        match self {
            Bval::List(l) => l,
            other => panic!("not a list: {}", other.show()),
        }
    }

    pub fn dict(&self) -> &BTreeMap<Vec<u8>, Bval> {
        match self {
            Bval::Dict(d) => d,
            other => panic!("not a dictionary: {}", other.show()),
        }
    }

    /// Readable rendering for failure messages (binary strings as hex).
    pub fn show(&self) -> String {
        match self {
            Bval::Int(i) => i.to_string(),
            Bval::Bytes(b) => match std::str::from_utf8(b) {
                Ok(t) if t.chars().all(|c| !c.is_control()) => format!("{t:?}"),
                _ => format!("0x{}", crate::common::fixture::hex(b)),
            },
            Bval::List(l) => {
                let items: Vec<String> = l.iter().map(Bval::show).collect();
                format!("[{}]", items.join(", "))
            }
            Bval::Dict(d) => {
                let items: Vec<String> = d
                    .iter()
                    .map(|(k, v)| format!("{}: {}", String::from_utf8_lossy(k), v.show()))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }
}

/// Decodes exactly one value spanning all of `buf`; dictionary keys must be sorted
/// and unique (BEP 3), integers canonical.
pub fn decode(buf: &[u8]) -> Result<Bval, String> {
    let (v, used) = value(buf, 0, 0)?;
    if used != buf.len() {
        return Err(format!("trailing bytes at offset {used}"));
    }
    Ok(v)
}

fn value(buf: &[u8], at: usize, depth: usize) -> Result<(Bval, usize), String> {
    if depth > 32 {
        return Err("nested too deep".into());
    }
    match buf.get(at) {
        Some(b'i') => {
            let end = buf[at..]
                .iter()
                .position(|&b| b == b'e')
                .ok_or("unterminated integer")?
                + at;
            let text = std::str::from_utf8(&buf[at + 1..end]).map_err(|e| e.to_string())?;
            let canonical = text == "0"
                || (!text.starts_with('0') && !text.starts_with("-0") && !text.is_empty());
            if !canonical {
                return Err(format!("non-canonical integer {text:?} at {at}"));
            }
            let n = text.parse().map_err(|e| format!("integer at {at}: {e}"))?;
            Ok((Bval::Int(n), end + 1))
        }
        Some(b'l') => {
            let mut items = Vec::new();
            let mut pos = at + 1;
            while buf.get(pos) != Some(&b'e') {
                let (v, next) = value(buf, pos, depth + 1)?;
                items.push(v);
                pos = next;
            }
            Ok((Bval::List(items), pos + 1))
        }
        Some(b'd') => {
            let mut dict = BTreeMap::new();
            let mut pos = at + 1;
            let mut last: Option<Vec<u8>> = None;
            while buf.get(pos) != Some(&b'e') {
                let (k, next) = value(buf, pos, depth + 1)?;
                let Bval::Bytes(k) = k else {
                    return Err(format!("non-string key at {pos}"));
                };
                if last.as_ref().is_some_and(|l| *l >= k) {
                    return Err(format!(
                        "key {:?} out of order or repeated at {pos}",
                        String::from_utf8_lossy(&k)
                    ));
                }
                let (v, after) = value(buf, next, depth + 1)?;
                last = Some(k.clone());
                dict.insert(k, v);
                pos = after;
            }
            Ok((Bval::Dict(dict), pos + 1))
        }
        Some(b'0'..=b'9') => {
            let colon = buf[at..]
                .iter()
                .position(|&b| b == b':')
                .ok_or("string without ':'")?
                + at;
            let len: usize = std::str::from_utf8(&buf[at..colon])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("bad string length at {at}"))?;
            let end = colon + 1 + len;
            if end > buf.len() {
                return Err(format!("string at {at} runs past the end"));
            }
            Ok((Bval::Bytes(buf[colon + 1..end].to_vec()), end))
        }
        Some(b) => Err(format!("unexpected byte {b:#04x} at {at}")),
        None => Err(format!("unexpected end at {at}")),
    }
}

/// Swarm counts from a BEP 48 scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub complete: i64,
    pub incomplete: i64,
    pub downloaded: i64,
}

/// Scrapes `info_hash` at `addr`: `None` when the answer does not list it.
pub fn scrape(addr: SocketAddr, info_hash: [u8; 20]) -> Option<Counts> {
    let r = get(addr, &scrape_query(&[info_hash]));
    assert_eq!(r.status, 200, "scrape: {}", r.text());
    let b = r.bencode();
    let entry = b.at("files").dict().get(info_hash.as_slice())?;
    Some(Counts {
        complete: entry.at("complete").int(),
        incomplete: entry.at("incomplete").int(),
        downloaded: entry.at("downloaded").int(),
    })
}
