//! The HTTP tracker protocol, both sides: announce and scrape query strings (BEP 3,
//! BEP 48), and the bencoded responses with compact (BEP 23), IPv6 (BEP 7) and
//! dictionary peer lists.
//!
//! Depends on `types`, `config`, `wire::bencode`, `wire::compact` and the
//! announce/scrape model in `tracker`. Pure: strings and bytes in, values out; the
//! HTTP request line, headers, chunking and compression are the I/O shell's.
//!
//! Query strings. Values are percent-decoded to raw bytes: `%XX` in either case, and
//! `+` as a space, as `application/x-www-form-urlencoded` says. The second matters
//! only for a client that form-encodes (its `+` is a space, its real `+` is `%2B`); an
//! RFC 3986 encoder never leaves `+` unescaped in a binary value, so no client is
//! misread. A `%` without two hex digits after it, in a parameter hivebt reads, is an
//! error naming the parameter. Unknown parameters (`supportcrypto`, `corrupt`,
//! `redundant`, ...) are ignored, and when a known one is repeated in an announce the
//! first wins.
//!
//! Responses. Decoding is lenient on unknown keys and strict on the types and ranges
//! of known ones: an `interval` that is a string is an error, not a default. A body
//! that is not bencode is an error naming the byte offset. A `failure reason` is
//! returned as [`HttpTrackerError::Failure`] whatever else the body holds.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::config::MAX_HTTP_SCRAPE_HASHES;
use crate::tracker::{AnnounceRequest, AnnounceResponse, Event, PeerEntry, ScrapeStats};
use crate::types::{InfoHash, PeerId};
use crate::wire::bencode::{self, DictBuilder, Node, Value};
use crate::wire::{compact, percent};

/// Why a query string or a tracker response was refused. The `Display` text of a
/// query error is fit to send back as a `failure reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpTrackerError {
    /// A required query parameter is absent.
    MissingParam(&'static str),
    /// A query parameter with a `%` not followed by two hex digits.
    BadEscape(&'static str),
    /// A binary query parameter of the wrong length once decoded.
    BadLength {
        /// The parameter.
        param: &'static str,
        /// Its only valid length.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// A query parameter whose value is not of its kind (a number, an event).
    InvalidParam(&'static str),
    /// A scrape naming more torrents than [`MAX_HTTP_SCRAPE_HASHES`].
    TooManyInfoHashes {
        /// The limit.
        max: usize,
    },
    /// The response body is not one bencoded value.
    Bencode(bencode::Error),
    /// The response body is bencode but not a dictionary.
    NotADict {
        /// What it is instead.
        found: &'static str,
    },
    /// The tracker refused the request: its `failure reason`, lossily UTF-8.
    Failure(String),
    /// A required response key is absent.
    MissingKey(&'static str),
    /// A response key whose value has the wrong type.
    WrongType {
        /// The key.
        key: &'static str,
        /// The type it must have.
        expected: &'static str,
        /// The type it has.
        found: &'static str,
    },
    /// A response integer outside the range of its field.
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value.
        value: i64,
    },
    /// A compact peer list that is not a whole number of entries.
    PartialPeerEntry {
        /// `peers` or `peers6`.
        key: &'static str,
        /// Bytes of the list.
        len: usize,
        /// Bytes per entry.
        entry: usize,
    },
    /// A scrape `files` key that is not a 20-byte info-hash.
    BadInfoHashKey {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for HttpTrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpTrackerError::MissingParam(p) => write!(f, "missing {p}"),
            HttpTrackerError::BadEscape(p) => write!(f, "{p} has a bad %-escape"),
            HttpTrackerError::BadLength {
                param, expected, ..
            } => write!(f, "{param} must be {expected} bytes"),
            HttpTrackerError::InvalidParam(p) => write!(f, "invalid {p}"),
            HttpTrackerError::TooManyInfoHashes { max } => {
                write!(f, "more than {max} info_hash parameters")
            }
            HttpTrackerError::Bencode(e) => write!(f, "tracker response: {e}"),
            HttpTrackerError::NotADict { found } => {
                write!(f, "tracker response is a {found}, not a dictionary")
            }
            HttpTrackerError::Failure(reason) => write!(f, "tracker failure: {reason}"),
            HttpTrackerError::MissingKey(k) => write!(f, "tracker response has no '{k}'"),
            HttpTrackerError::WrongType {
                key,
                expected,
                found,
            } => write!(
                f,
                "tracker response '{key}' is a {found}, expected {expected}"
            ),
            HttpTrackerError::OutOfRange { key, value } => {
                write!(f, "tracker response '{key}' of {value} is out of range")
            }
            HttpTrackerError::PartialPeerEntry { key, len, entry } => write!(
                f,
                "tracker response '{key}' of {len} bytes is not a whole number of {entry}-byte entries"
            ),
            HttpTrackerError::BadInfoHashKey { len } => write!(
                f,
                "scrape response 'files' key of {len} bytes is not a 20-byte info-hash"
            ),
        }
    }
}

impl std::error::Error for HttpTrackerError {}

// ---------------------------------------------------------------------------------
// Server side: query strings in, bencoded bodies out.
// ---------------------------------------------------------------------------------

/// A required query parameter's raw value.
fn required<'q>(value: Option<&'q str>, name: &'static str) -> Result<&'q str, HttpTrackerError> {
    value.ok_or(HttpTrackerError::MissingParam(name))
}

/// The raw values of the announce parameters hivebt reads, first occurrence each.
#[derive(Default)]
struct AnnounceParams<'q> {
    info_hash: Option<&'q str>,
    peer_id: Option<&'q str>,
    port: Option<&'q str>,
    uploaded: Option<&'q str>,
    downloaded: Option<&'q str>,
    left: Option<&'q str>,
    event: Option<&'q str>,
    numwant: Option<&'q str>,
    compact: Option<&'q str>,
    no_peer_id: Option<&'q str>,
    key: Option<&'q str>,
    ip: Option<&'q str>,
}

/// Parses an announce query string (what follows the `?`, without it).
///
/// Required: `info_hash` and `peer_id` (20 bytes each once decoded), `port` and
/// `left`. `uploaded` and `downloaded` are statistics only and default to 0. `event`
/// is `started`, `completed`, `stopped`, or `empty` or absent for a regular announce;
/// BEP 21's `paused` is read as a regular announce. A negative `numwant` means "the
/// tracker's default", as does an absent one; a larger one than fits 32 bits is
/// capped. `no_peer_id` is on when present with any value but `0`; `compact` is on
/// unless it is `0` (BEP 23: a tracker may answer compact by default, and most
/// clients cannot do without it).
/// `key` is read as up to 8 hex digits (what libtorrent and Transmission send), else
/// as a decimal number, else, since any stable value serves its purpose, as a 32-bit
/// FNV-1a hash of its bytes. An `ip` that is not an IP address (a host name) is
/// ignored.
pub fn parse_announce_query(query: &str) -> Result<AnnounceRequest, HttpTrackerError> {
    let mut p = AnnounceParams::default();
    for (key, value) in query_pairs(query) {
        let slot = match &*key {
            b"info_hash" => &mut p.info_hash,
            b"peer_id" => &mut p.peer_id,
            b"port" => &mut p.port,
            b"uploaded" => &mut p.uploaded,
            b"downloaded" => &mut p.downloaded,
            b"left" => &mut p.left,
            b"event" => &mut p.event,
            b"numwant" => &mut p.numwant,
            b"compact" => &mut p.compact,
            b"no_peer_id" => &mut p.no_peer_id,
            b"key" => &mut p.key,
            b"ip" => &mut p.ip,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let info_hash = InfoHash(bytes20("info_hash", required(p.info_hash, "info_hash")?)?);
    let peer_id = PeerId(bytes20("peer_id", required(p.peer_id, "peer_id")?)?);
    let port = number("port", required(p.port, "port")?)?;
    let left = number("left", required(p.left, "left")?)?;
    let uploaded = p.uploaded.map_or(Ok(0), |v| number("uploaded", v))?;
    let downloaded = p.downloaded.map_or(Ok(0), |v| number("downloaded", v))?;
    let event = match p
        .event
        .map(|v| decode_param("event", v))
        .transpose()?
        .as_deref()
    {
        None | Some(b"" | b"empty" | b"paused") => Event::None,
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        Some(_) => return Err(HttpTrackerError::InvalidParam("event")),
    };
    let numwant = p
        .numwant
        .map(|v| number::<i64>("numwant", v))
        .transpose()?
        .and_then(|n| (n >= 0).then(|| u32::try_from(n).unwrap_or(u32::MAX)));
    let flag = |v: Option<&str>, name| -> Result<bool, HttpTrackerError> {
        Ok(v.map(|v| decode_param(name, v))
            .transpose()?
            .is_some_and(|v| &*v != b"0"))
    };
    let key = p.key.map(|v| decode_param("key", v)).transpose()?;
    let ip = p.ip.map(|v| decode_param("ip", v)).transpose()?;
    Ok(AnnounceRequest {
        info_hash,
        peer_id,
        port,
        uploaded,
        downloaded,
        left,
        event,
        numwant,
        key: key.as_deref().and_then(parse_key),
        compact: p.compact.is_none() || flag(p.compact, "compact")?,
        no_peer_id: flag(p.no_peer_id, "no_peer_id")?,
        claimed_ip: ip.as_deref().and_then(parse_ip),
    })
}

/// Parses a scrape query string: every `info_hash`, in order, duplicates dropped. No
/// `info_hash` at all is a request for every torrent and gives an empty list; whether
/// to serve it is the server's choice. More than [`MAX_HTTP_SCRAPE_HASHES`]
/// occurrences is an error, not a shortened answer.
pub fn parse_scrape_query(query: &str) -> Result<Vec<InfoHash>, HttpTrackerError> {
    let mut hashes: Vec<InfoHash> = Vec::new();
    let mut seen = 0;
    for (key, value) in query_pairs(query) {
        if &*key != b"info_hash" {
            continue;
        }
        seen += 1;
        if seen > MAX_HTTP_SCRAPE_HASHES {
            return Err(HttpTrackerError::TooManyInfoHashes {
                max: MAX_HTTP_SCRAPE_HASHES,
            });
        }
        let h = InfoHash(bytes20("info_hash", value)?);
        if !hashes.contains(&h) {
            hashes.push(h);
        }
    }
    Ok(hashes)
}

/// The body answering an announce. `compact` writes `peers` as 6-byte IPv4 entries
/// (BEP 23, always present) and `peers6` as 18-byte IPv6 entries (BEP 7, present when
/// there are any); otherwise `peers` is a list of dictionaries with `ip` (text, either
/// family), `port` and, unless `no_peer_id` or the id is unknown, `peer id`. Optional
/// fields are written when set.
pub fn encode_announce_response(
    resp: &AnnounceResponse,
    compact: bool,
    no_peer_id: bool,
) -> Vec<u8> {
    let mut d = DictBuilder::new();
    d.int(b"interval", i64::from(resp.interval));
    let optional = [
        (&b"min interval"[..], resp.min_interval),
        (b"complete", resp.complete),
        (b"incomplete", resp.incomplete),
        (b"downloaded", resp.downloaded),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            d.int(key, i64::from(v));
        }
    }
    if let Some(w) = &resp.warning {
        d.bytes(b"warning message", w.as_bytes());
    }
    if let Some(id) = &resp.tracker_id {
        d.bytes(b"tracker id", id);
    }
    match resp.external_ip {
        Some(IpAddr::V4(ip)) => {
            d.bytes(b"external ip", &ip.octets());
        }
        Some(IpAddr::V6(ip)) => {
            d.bytes(b"external ip", &ip.octets());
        }
        None => {}
    }
    if compact {
        let addrs = || resp.peers.iter().map(|p| &p.addr);
        let mut v4 = Vec::new();
        compact::encode(addrs(), false, &mut v4);
        d.bytes(b"peers", &v4);
        let mut v6 = Vec::new();
        compact::encode(addrs(), true, &mut v6);
        if !v6.is_empty() {
            d.bytes(b"peers6", &v6);
        }
    } else {
        let mut list = vec![b'l'];
        for p in &resp.peers {
            let mut peer = DictBuilder::new();
            peer.bytes(b"ip", p.addr.ip().to_string().as_bytes());
            peer.int(b"port", i64::from(p.addr.port()));
            if let Some(id) = p.peer_id.filter(|_| !no_peer_id) {
                peer.bytes(b"peer id", &id.0);
            }
            list.extend_from_slice(&peer.finish());
        }
        list.push(b'e');
        d.raw(b"peers", list);
    }
    d.finish()
}

/// The body refusing a request: `d14:failure reason<len>:<reason>e`.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    let mut d = DictBuilder::new();
    d.bytes(b"failure reason", reason.as_bytes());
    d.finish()
}

/// The body answering a scrape (BEP 48): `files`, keyed by raw 20-byte info-hashes,
/// each with `complete`, `downloaded` and `incomplete`. A hash listed twice is written
/// once, with its last counts.
pub fn encode_scrape_response(files: &[(InfoHash, ScrapeStats)]) -> Vec<u8> {
    let mut all = DictBuilder::new();
    for (hash, s) in files {
        let mut one = DictBuilder::new();
        one.int(b"complete", i64::from(s.complete))
            .int(b"downloaded", i64::from(s.downloaded))
            .int(b"incomplete", i64::from(s.incomplete));
        all.raw(&hash.0, one.finish());
    }
    let mut d = DictBuilder::new();
    d.raw(b"files", all.finish());
    d.finish()
}

// ---------------------------------------------------------------------------------
// Client side: URLs out, bencoded bodies in.
// ---------------------------------------------------------------------------------

/// The URL of an announce to the tracker at `base` (as the torrent gives it). The
/// parameters go after a `?`, or after a `&` when `base` already has a query; a
/// `#fragment`, which HTTP never sends, is dropped. Binary values are
/// percent-encoded, `compact=1` is always asked for, `key` is written as 8 hex
/// digits, and `tracker_id` (from an earlier response) goes in `trackerid`.
pub fn announce_url(base: &str, req: &AnnounceRequest, tracker_id: Option<&[u8]>) -> String {
    let base = base.split_once('#').map_or(base, |(b, _)| b);
    let mut url = String::with_capacity(base.len() + 240);
    url.push_str(base);
    match base.find('?') {
        None => url.push('?'),
        Some(_) if base.ends_with(['?', '&']) => {}
        Some(_) => url.push('&'),
    }
    url.push_str("info_hash=");
    percent::encode_into(&req.info_hash.0, &mut url);
    url.push_str("&peer_id=");
    percent::encode_into(&req.peer_id.0, &mut url);
    url.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1",
        req.port, req.uploaded, req.downloaded, req.left
    ));
    if req.no_peer_id {
        url.push_str("&no_peer_id=1");
    }
    let event = match req.event {
        Event::None => None,
        Event::Started => Some("started"),
        Event::Completed => Some("completed"),
        Event::Stopped => Some("stopped"),
    };
    if let Some(e) = event {
        url.push_str("&event=");
        url.push_str(e);
    }
    if let Some(n) = req.numwant {
        url.push_str(&format!("&numwant={n}"));
    }
    if let Some(k) = req.key {
        url.push_str(&format!("&key={k:08x}"));
    }
    if let Some(id) = tracker_id {
        url.push_str("&trackerid=");
        percent::encode_into(id, &mut url);
    }
    if let Some(ip) = req.claimed_ip {
        url.push_str("&ip=");
        percent::encode_into(ip.to_string().as_bytes(), &mut url);
    }
    url
}

/// The scrape URL of an HTTP announce URL, by the convention BEP 48 builds on: the
/// text after the last `/` must start with `announce`, which becomes `scrape`, and
/// that `/` must be in the path (not the host, query or fragment). `None` means the
/// tracker has no scrape by convention. Case matters: `/Announce` has none.
pub fn scrape_url(announce_url: &str) -> Option<String> {
    let authority_at = announce_url.find("://").map_or(0, |i| i + 3);
    let path_at = announce_url[authority_at..]
        .find(['/', '?', '#'])
        .map_or(announce_url.len(), |i| authority_at + i);
    let path_end = announce_url[path_at..]
        .find(['?', '#'])
        .map_or(announce_url.len(), |i| path_at + i);
    let slash = announce_url.rfind('/')?;
    if slash < path_at || slash >= path_end {
        return None;
    }
    let tail = announce_url[slash + 1..].strip_prefix("announce")?;
    Some(format!("{}scrape{tail}", &announce_url[..=slash]))
}

/// Decodes an announce response body. `peers` may be compact or a list of
/// dictionaries (whose `ip` may be either family; entries naming a host rather than
/// an address are skipped, since resolving is not a codec's job), `peers6` compact;
/// IPv4 peers come first. `interval` is required.
pub fn decode_announce_response(body: &[u8]) -> Result<AnnounceResponse, HttpTrackerError> {
    let root = response_dict(body)?;
    let mut peers = Vec::new();
    if let Some(node) = root.get(b"peers") {
        match &node.value {
            Value::Bytes(list) => compact_peers("peers", list, false, &mut peers)?,
            Value::List(items) => {
                for item in items {
                    if let Some(p) = dict_peer(item)? {
                        peers.push(p);
                    }
                }
            }
            _ => return Err(wrong_type("peers", "a string or a list", node)),
        }
    }
    if let Some(list) = bytes_at(&root, "peers6")? {
        compact_peers("peers6", list, true, &mut peers)?;
    }
    Ok(AnnounceResponse {
        interval: u32_at(&root, "interval")?.ok_or(HttpTrackerError::MissingKey("interval"))?,
        min_interval: u32_at(&root, "min interval")?,
        complete: u32_at(&root, "complete")?,
        incomplete: u32_at(&root, "incomplete")?,
        downloaded: u32_at(&root, "downloaded")?,
        peers,
        warning: bytes_at(&root, "warning message")?
            .map(|w| String::from_utf8_lossy(w).into_owned()),
        tracker_id: bytes_at(&root, "tracker id")?.map(<[u8]>::to_vec),
        // BEP 24; any other length is ignored, not an error: the peers still count.
        external_ip: bytes_at(&root, "external ip")?.and_then(|b| match b.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
            _ => None,
        }),
    })
}

/// Decodes a scrape response body (BEP 48) into each torrent's counts, in the order
/// of the `files` dictionary. A missing count is 0; `name` and other keys are
/// ignored.
pub fn decode_scrape_response(
    body: &[u8],
) -> Result<Vec<(InfoHash, ScrapeStats)>, HttpTrackerError> {
    let root = response_dict(body)?;
    let files = root
        .get(b"files")
        .ok_or(HttpTrackerError::MissingKey("files"))?;
    let entries = files
        .as_dict()
        .ok_or_else(|| wrong_type("files", "a dictionary", files))?;
    let mut out = Vec::with_capacity(entries.len());
    for (key, stats) in entries {
        let hash = <[u8; 20]>::try_from(*key)
            .map_err(|_| HttpTrackerError::BadInfoHashKey { len: key.len() })?;
        if stats.as_dict().is_none() {
            return Err(wrong_type("files", "a dictionary of dictionaries", stats));
        }
        let count = |k| u32_at(stats, k).map(Option::unwrap_or_default);
        out.push((
            InfoHash(hash),
            ScrapeStats {
                complete: count("complete")?,
                downloaded: count("downloaded")?,
                incomplete: count("incomplete")?,
            },
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------

/// The `key=value` pairs of a query string with keys percent-decoded (a key with a
/// bad escape matches no known parameter and is skipped) and values left raw.
fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, [u8]>, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent::decode(key)?, value))
        })
}

fn decode_param<'q>(name: &'static str, raw: &'q str) -> Result<Cow<'q, [u8]>, HttpTrackerError> {
    percent::decode(raw).ok_or(HttpTrackerError::BadEscape(name))
}

fn bytes20(name: &'static str, raw: &str) -> Result<[u8; 20], HttpTrackerError> {
    let v = decode_param(name, raw)?;
    <[u8; 20]>::try_from(&*v).map_err(|_| HttpTrackerError::BadLength {
        param: name,
        expected: 20,
        got: v.len(),
    })
}

fn number<T: std::str::FromStr>(name: &'static str, raw: &str) -> Result<T, HttpTrackerError> {
    let v = decode_param(name, raw)?;
    std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(HttpTrackerError::InvalidParam(name))
}

/// A `key` as hex, decimal or, failing both, a hash of its bytes; `None` when empty.
fn parse_key(raw: &[u8]) -> Option<u32> {
    if raw.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(raw).ok();
    let hex = text
        .filter(|t| t.len() <= 8 && t.bytes().all(|c| c.is_ascii_hexdigit()))
        .and_then(|t| u32::from_str_radix(t, 16).ok());
    let decimal = text
        .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|t| t.parse().ok());
    Some(hex.or(decimal).unwrap_or_else(|| fnv1a(raw)))
}

/// 32-bit FNV-1a: a stable stand-in for a `key` that is not a number.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// An `ip` parameter as an address, brackets around IPv6 allowed; `None` for names.
fn parse_ip(raw: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(raw).ok()?;
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

/// Decodes a response body to its top-level dictionary, turning a `failure reason`
/// into [`HttpTrackerError::Failure`].
fn response_dict(body: &[u8]) -> Result<Node<'_>, HttpTrackerError> {
    // Unsorted keys are harmless in a response: it is read, never hashed.
    let (root, _warnings) = bencode::decode(body).map_err(HttpTrackerError::Bencode)?;
    if root.as_dict().is_none() {
        return Err(HttpTrackerError::NotADict {
            found: root.type_name(),
        });
    }
    if let Some(reason) = bytes_at(&root, "failure reason")? {
        return Err(HttpTrackerError::Failure(
            String::from_utf8_lossy(reason).into_owned(),
        ));
    }
    Ok(root)
}

fn wrong_type(key: &'static str, expected: &'static str, found: &Node<'_>) -> HttpTrackerError {
    HttpTrackerError::WrongType {
        key,
        expected,
        found: found.type_name(),
    }
}

/// The byte string under `key`, if the dictionary has one; any other type is an error.
fn bytes_at<'a>(dict: &Node<'a>, key: &'static str) -> Result<Option<&'a [u8]>, HttpTrackerError> {
    dict.get(key.as_bytes())
        .map(|n| n.as_bytes().ok_or_else(|| wrong_type(key, "a string", n)))
        .transpose()
}

/// The integer under `key` as a `T`, if the dictionary has one; any other type, or a
/// value out of `T`'s range, is an error.
fn int_at<T: TryFrom<i64>>(
    dict: &Node<'_>,
    key: &'static str,
) -> Result<Option<T>, HttpTrackerError> {
    let Some(node) = dict.get(key.as_bytes()) else {
        return Ok(None);
    };
    let value = node
        .as_int()
        .ok_or_else(|| wrong_type(key, "an integer", node))?;
    T::try_from(value)
        .map(Some)
        .map_err(|_| HttpTrackerError::OutOfRange { key, value })
}

fn u32_at(dict: &Node<'_>, key: &'static str) -> Result<Option<u32>, HttpTrackerError> {
    int_at(dict, key)
}

fn compact_peers(
    key: &'static str,
    list: &[u8],
    ipv6: bool,
    out: &mut Vec<PeerEntry>,
) -> Result<(), HttpTrackerError> {
    let addrs = compact::decode(list, ipv6).ok_or(HttpTrackerError::PartialPeerEntry {
        key,
        len: list.len(),
        entry: compact::entry_len(ipv6),
    })?;
    out.extend(addrs.into_iter().map(|addr| PeerEntry {
        addr,
        peer_id: None,
    }));
    Ok(())
}

/// One entry of a dictionary-style `peers` list; `None` when its `ip` is a host name.
/// A `peer id` that is not 20 bytes is dropped: the id is informational only.
fn dict_peer(item: &Node<'_>) -> Result<Option<PeerEntry>, HttpTrackerError> {
    if item.as_dict().is_none() {
        return Err(wrong_type("peers", "a list of dictionaries", item));
    }
    let ip = bytes_at(item, "ip")?.ok_or(HttpTrackerError::MissingKey("ip"))?;
    let port: u16 = int_at(item, "port")?.ok_or(HttpTrackerError::MissingKey("port"))?;
    let peer_id = bytes_at(item, "peer id")?
        .and_then(|id| <[u8; 20]>::try_from(id).ok())
        .map(PeerId);
    Ok(parse_ip(ip).map(|ip| PeerEntry {
        addr: SocketAddr::new(ip, port),
        peer_id,
    }))
}

#[cfg(test)]
mod tests;
