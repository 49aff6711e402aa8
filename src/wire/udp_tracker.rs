//! The UDP tracker protocol (BEP 15): connect, announce, scrape and error packets,
//! both directions, over IPv4 and IPv6.
//!
//! Depends on `types`, `wire::compact` and the announce/scrape model in `tracker`
//! (plain data that itself depends only on `types`). Pure: a packet in, a value out,
//! and back; no sockets, no clock, no connection-id policy (issuing and checking
//! connection ids is the tracker server's business, retransmitting the client's).
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! connect   request  connection_id=0x41727101980:8 action=0:4 transaction_id:4      16 bytes
//!           response action=0:4 transaction_id:4 connection_id:8                    16 bytes
//! announce  request  connection_id:8 action=1:4 transaction_id:4 info_hash:20
//!                    peer_id:20 downloaded:8 left:8 uploaded:8 event:4 ip:4 key:4
//!                    num_want:4 port:2                                           >= 98 bytes
//!           response action=1:4 transaction_id:4 interval:4 leechers:4 seeders:4
//!                    (ip:4|16 port:2)*                               20 + 6n or 20 + 18n
//! scrape    request  connection_id:8 action=2:4 transaction_id:4 info_hash:20 * n   n in 1..=74
//!           response action=2:4 transaction_id:4 (seeders:4 completed:4 leechers:4) * n
//! error     response action=3:4 transaction_id:4 message
//! ```
//!
//! Rules the decoders keep, for any input:
//! - they never panic and never read past the slice;
//! - every packet has an exact length, except the announce request, which may be
//!   followed by BEP 41 options (ignored: hivebt neither sends nor needs them), and
//!   the error response, whose message runs to the end;
//! - the address family of an announce response's peers is that of the datagram's
//!   transport (BEP 15: 6-byte entries over IPv4, 18-byte entries over IPv6); the
//!   caller says which, since only the socket knows;
//! - a scrape names 1 to [`MAX_SCRAPE_HASHES`] torrents (BEP 15: "up to about 74
//!   torrents can be scraped at once"), in requests and responses alike;
//! - request errors are split the way a server needs them ([`UdpError`]): a packet
//!   whose header cannot be read, or a connect without the protocol id, is dropped
//!   in silence (it may not be BitTorrent at all, and answering it would make the
//!   server a reflector); anything else carries the transaction id to answer with an
//!   error packet.
//!
//! Decoding then encoding any accepted packet gives back the same value. The request
//! bytes come back the same too, except that BEP 41 options are dropped and any
//! negative `num_want` is written as -1.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::tracker::{AnnounceRequest, AnnounceResponse, Event, PeerEntry, ScrapeStats};
use crate::types::{InfoHash, PeerId};
use crate::wire::compact;

/// The protocol id a connect request carries in place of a connection id.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Most info-hashes in one scrape request, and stats in one scrape response (BEP 15).
pub const MAX_SCRAPE_HASHES: usize = 74;

/// The `action` field of every packet.
pub mod action {
    /// Connect: obtain a connection id.
    pub const CONNECT: u32 = 0;
    /// Announce.
    pub const ANNOUNCE: u32 = 1;
    /// Scrape.
    pub const SCRAPE: u32 = 2;
    /// Error (responses only).
    pub const ERROR: u32 = 3;
}

/// Bytes of a connect request and of a connect response.
pub const CONNECT_LEN: usize = 16;

/// Bytes of an announce request without BEP 41 options.
pub const ANNOUNCE_REQUEST_LEN: usize = 98;

/// Bytes of an announce response before its peer list.
pub const ANNOUNCE_RESPONSE_HEADER_LEN: usize = 20;

/// Bytes of a request header: connection id, action, transaction id.
const REQUEST_HEADER_LEN: usize = 16;

/// Bytes of a response header: action, transaction id.
const RESPONSE_HEADER_LEN: usize = 8;

/// Bytes of one info-hash in a scrape request.
const INFO_HASH_LEN: usize = 20;

/// Bytes of one torrent's counts in a scrape response.
const SCRAPE_STATS_LEN: usize = 12;

/// A packet a client sends to a UDP tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpRequest {
    /// Asks for a connection id; carries [`PROTOCOL_ID`] where the others carry one.
    Connect {
        /// Chosen by the client, echoed in the response.
        transaction_id: u32,
    },
    /// An announce. Decoded, `request` has `compact` set (UDP answers are always
    /// compact), `no_peer_id` clear, `key` always present (the field always is),
    /// `numwant` `None` for any negative value (BEP 15 uses -1 for "default") and
    /// `claimed_ip` from the `ip` field when it is not 0. Encoded, a missing key is
    /// written as 0 and a claimed IPv6 address as 0: the field only holds IPv4.
    Announce {
        /// The id the tracker gave in its connect response.
        connection_id: u64,
        /// Chosen by the client, echoed in the response.
        transaction_id: u32,
        /// What the client announces.
        request: AnnounceRequest,
    },
    /// A scrape of 1 to [`MAX_SCRAPE_HASHES`] torrents. Encoding writes at most the
    /// first [`MAX_SCRAPE_HASHES`]; a client splits longer lists over several packets.
    Scrape {
        /// The id the tracker gave in its connect response.
        connection_id: u64,
        /// Chosen by the client, echoed in the response.
        transaction_id: u32,
        /// The torrents, in the order the counts come back.
        info_hashes: Vec<InfoHash>,
    },
}

/// A packet a UDP tracker sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpResponse {
    /// A connection id for later announces and scrapes.
    Connect {
        /// The request's transaction id.
        transaction_id: u32,
        /// Valid for a while (BEP 15: a client may use it for one minute).
        connection_id: u64,
    },
    /// The answer to an announce. Decoded, `response` has `complete` and
    /// `incomplete` set and no `min_interval`, `downloaded`, `warning` or
    /// `tracker_id`, which UDP cannot carry; encoding leaves those out and writes a
    /// missing count as 0.
    Announce {
        /// The request's transaction id.
        transaction_id: u32,
        /// Interval, counts and peers.
        response: AnnounceResponse,
    },
    /// Counts for each torrent of a scrape, in the request's order. Encoding writes
    /// at most [`MAX_SCRAPE_HASHES`].
    Scrape {
        /// The request's transaction id.
        transaction_id: u32,
        /// One entry per requested info-hash.
        stats: Vec<ScrapeStats>,
    },
    /// The tracker refuses the request.
    Error {
        /// The request's transaction id.
        transaction_id: u32,
        /// Human-readable reason; bytes that are not UTF-8 are replaced and trailing
        /// NULs (some trackers send a C string) are dropped.
        message: String,
    },
}

/// Why a packet was refused, with what is known of who sent it.
///
/// For a request, `transaction_id` is set once the 16-byte header has been read and
/// the packet is BitTorrent enough to answer (see [`UdpError::is_answerable`]).
/// `connection_id` is set for announces, scrapes and unknown actions, so a server can
/// check it before answering, exactly as it would before answering a good request.
/// For a response, `transaction_id` is set once the 8-byte header has been read, so a
/// client can fail the matching transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpError {
    /// The transaction id, when the header was readable.
    pub transaction_id: Option<u32>,
    /// The connection id an announce, scrape or unknown action carried.
    pub connection_id: Option<u64>,
    /// What was wrong.
    pub kind: UdpErrorKind,
}

/// What was wrong with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpErrorKind {
    /// Shorter than the header (16 bytes for a request, 8 for a response).
    Truncated {
        /// The packet's length.
        got: usize,
        /// The header's length.
        min: usize,
    },
    /// A connect request without [`PROTOCOL_ID`].
    BadProtocolId(u64),
    /// An action this direction does not have (requests: 0..=2, responses: 0..=3).
    UnknownAction(u32),
    /// A fixed-size packet of the wrong size.
    BadLength {
        /// The packet's action.
        action: u32,
        /// Its only valid length.
        expected: usize,
        /// The packet's length.
        got: usize,
    },
    /// A packet shorter than the fixed part of its action.
    TooShort {
        /// The packet's action.
        action: u32,
        /// The smallest valid length.
        min: usize,
        /// The packet's length.
        got: usize,
    },
    /// A list (info-hashes, peers, scrape counts) that is not a whole number of
    /// entries.
    PartialEntry {
        /// The packet's action.
        action: u32,
        /// Bytes per entry.
        entry: usize,
        /// Bytes of the list.
        got: usize,
    },
    /// A scrape request with no info-hash.
    NoInfoHashes,
    /// A scrape naming more than [`MAX_SCRAPE_HASHES`] torrents.
    TooManyInfoHashes {
        /// How many it names.
        count: usize,
    },
    /// An announce `event` outside 0..=3.
    BadEvent(u32),
}

impl UdpError {
    /// Whether a server should answer with an error packet (after checking
    /// `connection_id`, when there is one) rather than drop the packet.
    pub fn is_answerable(&self) -> bool {
        self.transaction_id.is_some()
    }

    /// A refusal that is dropped: the header itself is unusable.
    fn drop(kind: UdpErrorKind) -> UdpError {
        UdpError {
            transaction_id: None,
            connection_id: None,
            kind,
        }
    }
}

impl fmt::Display for UdpError {
    /// The reason alone, fit to send as an error packet's message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for UdpError {}

impl fmt::Display for UdpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpErrorKind::Truncated { got, min } => {
                write!(
                    f,
                    "packet of {got} bytes is shorter than the {min}-byte header"
                )
            }
            UdpErrorKind::BadProtocolId(id) => {
                write!(
                    f,
                    "connect request has protocol id {id:#x}, not {PROTOCOL_ID:#x}"
                )
            }
            UdpErrorKind::UnknownAction(a) => write!(f, "unknown action {a}"),
            UdpErrorKind::BadLength {
                action,
                expected,
                got,
            } => write!(
                f,
                "{} packet of {got} bytes, expected exactly {expected}",
                action_name(*action)
            ),
            UdpErrorKind::TooShort { action, min, got } => write!(
                f,
                "{} packet of {got} bytes, expected at least {min}",
                action_name(*action)
            ),
            UdpErrorKind::PartialEntry { action, entry, got } => write!(
                f,
                "{} list of {got} bytes is not a whole number of {entry}-byte entries",
                action_name(*action)
            ),
            UdpErrorKind::NoInfoHashes => f.write_str("scrape names no info-hash"),
            UdpErrorKind::TooManyInfoHashes { count } => write!(
                f,
                "scrape names {count} info-hashes, at most {MAX_SCRAPE_HASHES} are allowed"
            ),
            UdpErrorKind::BadEvent(e) => write!(f, "unknown announce event {e}"),
        }
    }
}

fn action_name(action: u32) -> &'static str {
    match action {
        action::CONNECT => "connect",
        action::ANNOUNCE => "announce",
        action::SCRAPE => "scrape",
        action::ERROR => "error",
        _ => "unknown",
    }
}

/// The BEP 15 code of an announce event.
fn event_code(event: Event) -> u32 {
    match event {
        Event::None => 0,
        Event::Completed => 1,
        Event::Started => 2,
        Event::Stopped => 3,
    }
}

fn event_from_code(code: u32) -> Option<Event> {
    Some(match code {
        0 => Event::None,
        1 => Event::Completed,
        2 => Event::Started,
        3 => Event::Stopped,
        _ => return None,
    })
}

/// Reads big-endian fields front to back. Every read is checked, so a decoder that
/// miscounted gets `None` rather than a panic.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
}

/// The fields of an announce request after its header.
struct AnnounceFields {
    info_hash: [u8; 20],
    peer_id: [u8; 20],
    downloaded: u64,
    left: u64,
    uploaded: u64,
    event: u32,
    ip: [u8; 4],
    key: u32,
    num_want: i32,
    port: u16,
}

impl AnnounceFields {
    fn read(r: &mut Reader<'_>) -> Option<AnnounceFields> {
        Some(AnnounceFields {
            info_hash: r.array()?,
            peer_id: r.array()?,
            downloaded: r.u64()?,
            left: r.u64()?,
            uploaded: r.u64()?,
            event: r.u32()?,
            ip: r.array()?,
            key: r.u32()?,
            num_want: r.i32()?,
            port: r.u16()?,
        })
    }
}

impl UdpRequest {
    /// The transaction id the response must echo.
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpRequest::Connect { transaction_id }
            | UdpRequest::Announce { transaction_id, .. }
            | UdpRequest::Scrape { transaction_id, .. } => *transaction_id,
        }
    }

    /// The connection id an announce or scrape carries; `None` for a connect.
    pub fn connection_id(&self) -> Option<u64> {
        match self {
            UdpRequest::Connect { .. } => None,
            UdpRequest::Announce { connection_id, .. }
            | UdpRequest::Scrape { connection_id, .. } => Some(*connection_id),
        }
    }

    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            UdpRequest::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&action::CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            UdpRequest::Announce {
                connection_id,
                transaction_id,
                request: req,
            } => {
                out.reserve(ANNOUNCE_REQUEST_LEN);
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&action::ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                out.extend_from_slice(&req.info_hash.0);
                out.extend_from_slice(&req.peer_id.0);
                out.extend_from_slice(&req.downloaded.to_be_bytes());
                out.extend_from_slice(&req.left.to_be_bytes());
                out.extend_from_slice(&req.uploaded.to_be_bytes());
                out.extend_from_slice(&event_code(req.event).to_be_bytes());
                let ip = match req.claimed_ip {
                    Some(IpAddr::V4(ip)) => ip.octets(),
                    Some(IpAddr::V6(_)) | None => [0; 4],
                };
                out.extend_from_slice(&ip);
                out.extend_from_slice(&req.key.unwrap_or(0).to_be_bytes());
                let num_want = match req.numwant {
                    Some(n) => i32::try_from(n).unwrap_or(i32::MAX),
                    None => -1,
                };
                out.extend_from_slice(&num_want.to_be_bytes());
                out.extend_from_slice(&req.port.to_be_bytes());
            }
            UdpRequest::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                let hashes = &info_hashes[..info_hashes.len().min(MAX_SCRAPE_HASHES)];
                out.reserve(REQUEST_HEADER_LEN + INFO_HASH_LEN * hashes.len());
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&action::SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                for h in hashes {
                    out.extend_from_slice(&h.0);
                }
            }
        }
    }

    /// Decodes one datagram a client sent.
    pub fn decode(packet: &[u8]) -> Result<UdpRequest, UdpError> {
        let mut r = Reader::new(packet);
        let header = (r.u64(), r.u32(), r.u32());
        let (Some(connection_id), Some(act), Some(transaction_id)) = header else {
            return Err(UdpError::drop(UdpErrorKind::Truncated {
                got: packet.len(),
                min: REQUEST_HEADER_LEN,
            }));
        };
        let body = r.rest;
        let fail = |kind| UdpError {
            transaction_id: Some(transaction_id),
            connection_id: (act != action::CONNECT).then_some(connection_id),
            kind,
        };
        match act {
            action::CONNECT => {
                if connection_id != PROTOCOL_ID {
                    return Err(UdpError::drop(UdpErrorKind::BadProtocolId(connection_id)));
                }
                if !body.is_empty() {
                    return Err(fail(UdpErrorKind::BadLength {
                        action: act,
                        expected: CONNECT_LEN,
                        got: packet.len(),
                    }));
                }
                Ok(UdpRequest::Connect { transaction_id })
            }
            action::ANNOUNCE => {
                // Whatever follows the fixed fields is BEP 41 options, ignored.
                let a = AnnounceFields::read(&mut r).ok_or_else(|| {
                    fail(UdpErrorKind::TooShort {
                        action: act,
                        min: ANNOUNCE_REQUEST_LEN,
                        got: packet.len(),
                    })
                })?;
                let event = event_from_code(a.event)
                    .ok_or_else(|| fail(UdpErrorKind::BadEvent(a.event)))?;
                let ip = Ipv4Addr::from(a.ip);
                let request = AnnounceRequest {
                    info_hash: InfoHash(a.info_hash),
                    peer_id: PeerId(a.peer_id),
                    port: a.port,
                    uploaded: a.uploaded,
                    downloaded: a.downloaded,
                    left: a.left,
                    event,
                    numwant: u32::try_from(a.num_want).ok(),
                    key: Some(a.key),
                    compact: true,
                    no_peer_id: false,
                    claimed_ip: (!ip.is_unspecified()).then_some(IpAddr::V4(ip)),
                };
                Ok(UdpRequest::Announce {
                    connection_id,
                    transaction_id,
                    request,
                })
            }
            action::SCRAPE => {
                let info_hashes = scrape_hashes(body).map_err(fail)?;
                Ok(UdpRequest::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                })
            }
            other => Err(fail(UdpErrorKind::UnknownAction(other))),
        }
    }
}

/// The info-hashes of a scrape request's body.
fn scrape_hashes(body: &[u8]) -> Result<Vec<InfoHash>, UdpErrorKind> {
    if body.is_empty() {
        return Err(UdpErrorKind::NoInfoHashes);
    }
    let count = entry_count(body, INFO_HASH_LEN, action::SCRAPE)?;
    if count > MAX_SCRAPE_HASHES {
        return Err(UdpErrorKind::TooManyInfoHashes { count });
    }
    let mut r = Reader::new(body);
    Ok(std::iter::from_fn(|| r.array().map(InfoHash)).collect())
}

/// How many `entry`-byte entries `list` holds, if it holds a whole number.
fn entry_count(list: &[u8], entry: usize, act: u32) -> Result<usize, UdpErrorKind> {
    if list.len() % entry != 0 {
        return Err(UdpErrorKind::PartialEntry {
            action: act,
            entry,
            got: list.len(),
        });
    }
    Ok(list.len() / entry)
}

impl UdpResponse {
    /// The transaction id of the request this answers.
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction_id, .. }
            | UdpResponse::Announce { transaction_id, .. }
            | UdpResponse::Scrape { transaction_id, .. }
            | UdpResponse::Error { transaction_id, .. } => *transaction_id,
        }
    }

    /// Appends the packet to `out`. `ipv6` is the family of the socket it goes out
    /// on: an announce response lists only the peers of that family (BEP 15), in
    /// 18-byte entries over IPv6 and 6-byte entries over IPv4.
    pub fn encode(&self, out: &mut Vec<u8>, ipv6: bool) {
        let (act, transaction_id) = match self {
            UdpResponse::Connect { transaction_id, .. } => (action::CONNECT, transaction_id),
            UdpResponse::Announce { transaction_id, .. } => (action::ANNOUNCE, transaction_id),
            UdpResponse::Scrape { transaction_id, .. } => (action::SCRAPE, transaction_id),
            UdpResponse::Error { transaction_id, .. } => (action::ERROR, transaction_id),
        };
        out.extend_from_slice(&act.to_be_bytes());
        out.extend_from_slice(&transaction_id.to_be_bytes());
        match self {
            UdpResponse::Connect { connection_id, .. } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            UdpResponse::Announce { response, .. } => {
                out.extend_from_slice(&response.interval.to_be_bytes());
                out.extend_from_slice(&response.incomplete.unwrap_or(0).to_be_bytes());
                out.extend_from_slice(&response.complete.unwrap_or(0).to_be_bytes());
                let addrs = response.peers.iter().map(|p| &p.addr);
                compact::encode(addrs, ipv6, out);
            }
            UdpResponse::Scrape { stats, .. } => {
                for s in stats.iter().take(MAX_SCRAPE_HASHES) {
                    out.extend_from_slice(&s.complete.to_be_bytes());
                    out.extend_from_slice(&s.downloaded.to_be_bytes());
                    out.extend_from_slice(&s.incomplete.to_be_bytes());
                }
            }
            UdpResponse::Error { message, .. } => out.extend_from_slice(message.as_bytes()),
        }
    }

    /// Decodes one datagram a tracker sent; `ipv6` is the family of the socket it
    /// arrived on, which decides the size of announce peer entries.
    pub fn decode(packet: &[u8], ipv6: bool) -> Result<UdpResponse, UdpError> {
        let mut r = Reader::new(packet);
        let (Some(act), Some(transaction_id)) = (r.u32(), r.u32()) else {
            return Err(UdpError::drop(UdpErrorKind::Truncated {
                got: packet.len(),
                min: RESPONSE_HEADER_LEN,
            }));
        };
        let fail = |kind| UdpError {
            transaction_id: Some(transaction_id),
            connection_id: None,
            kind,
        };
        match act {
            action::CONNECT => {
                let connection_id = r.u64().filter(|_| r.rest.is_empty()).ok_or_else(|| {
                    fail(UdpErrorKind::BadLength {
                        action: act,
                        expected: CONNECT_LEN,
                        got: packet.len(),
                    })
                })?;
                Ok(UdpResponse::Connect {
                    transaction_id,
                    connection_id,
                })
            }
            action::ANNOUNCE => {
                let (Some(interval), Some(leechers), Some(seeders)) = (r.u32(), r.u32(), r.u32())
                else {
                    return Err(fail(UdpErrorKind::TooShort {
                        action: act,
                        min: ANNOUNCE_RESPONSE_HEADER_LEN,
                        got: packet.len(),
                    }));
                };
                entry_count(r.rest, compact::entry_len(ipv6), act).map_err(fail)?;
                let peers = compact::decode(r.rest, ipv6)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|addr| PeerEntry {
                        addr,
                        peer_id: None,
                    })
                    .collect();
                Ok(UdpResponse::Announce {
                    transaction_id,
                    response: AnnounceResponse {
                        interval,
                        min_interval: None,
                        complete: Some(seeders),
                        incomplete: Some(leechers),
                        downloaded: None,
                        peers,
                        warning: None,
                        tracker_id: None,
                        external_ip: None,
                    },
                })
            }
            action::SCRAPE => {
                let count = entry_count(r.rest, SCRAPE_STATS_LEN, act).map_err(fail)?;
                if count > MAX_SCRAPE_HASHES {
                    return Err(fail(UdpErrorKind::TooManyInfoHashes { count }));
                }
                let stats = std::iter::from_fn(|| {
                    Some(ScrapeStats {
                        complete: r.u32()?,
                        downloaded: r.u32()?,
                        incomplete: r.u32()?,
                    })
                })
                .collect();
                Ok(UdpResponse::Scrape {
                    transaction_id,
                    stats,
                })
            }
            action::ERROR => {
                let message = String::from_utf8_lossy(r.rest);
                Ok(UdpResponse::Error {
                    transaction_id,
                    message: message.trim_end_matches('\0').to_owned(),
                })
            }
            other => Err(fail(UdpErrorKind::UnknownAction(other))),
        }
    }
}

#[cfg(test)]
mod tests;
