//! Trackers, both sides: the announce and scrape model shared by the wire codecs
//! (`wire::http_tracker`, `wire::udp_tracker`), the tracker server core and the client
//! core that `seed` and `download` use ([`client`]).
//!
//! Depends on `types`. Plain data: what an announce or scrape asks and answers,
//! independent of whether it travelled over HTTP (BEP 3, BEP 23, BEP 7, BEP 48) or UDP
//! (BEP 15).
//!
//! [`server`] is the tracker's decision core (swarms, sampling, expiry, connection ids,
//! stats).

pub mod client;

use std::net::SocketAddr;

use crate::types::{InfoHash, PeerId};

pub mod server;

/// The `event` of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A regular re-announce.
    None,
    /// The first announce of a download or seed.
    Started,
    /// The download just finished (sent once).
    Completed,
    /// The client is leaving the swarm.
    Stopped,
}

/// What a client tells a tracker in an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The client's peer id.
    pub peer_id: PeerId,
    /// The client's listening port.
    pub port: u16,
    /// Payload bytes uploaded this session.
    pub uploaded: u64,
    /// Payload bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes still missing (0 for a seed).
    pub left: u64,
    /// Why the client announces now.
    pub event: Event,
    /// Peers wanted; `None` lets the tracker choose.
    pub numwant: Option<u32>,
    /// `key` (BEP 15 / common HTTP extension): identifies the client across IP changes.
    pub key: Option<u32>,
    /// `compact=1` asked for (HTTP only; UDP is always compact).
    pub compact: bool,
    /// `no_peer_id=1` asked for (HTTP only).
    pub no_peer_id: bool,
    /// An address the client claims (`ip` parameter or the UDP `ip address` field);
    /// a server ignores it unless configured to trust it.
    pub claimed_ip: Option<std::net::IpAddr>,
}

/// A peer in an announce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerEntry {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Its peer id, when the response carries ids (non-compact HTTP).
    pub peer_id: Option<PeerId>,
}

/// A tracker's answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Seconds the client must wait at least between announces, if the tracker says.
    pub min_interval: Option<u32>,
    /// Seeders in the swarm, if known.
    pub complete: Option<u32>,
    /// Leechers in the swarm, if known.
    pub incomplete: Option<u32>,
    /// Completed downloads so far, if known (HTTP `downloaded`).
    pub downloaded: Option<u32>,
    /// Peers to try (IPv4 and IPv6 mixed).
    pub peers: Vec<PeerEntry>,
    /// A non-fatal message from the tracker.
    pub warning: Option<String>,
    /// `tracker id` to echo in later HTTP announces.
    pub tracker_id: Option<Vec<u8>>,
    /// The address the tracker saw us at (BEP 24 `external ip`, HTTP only).
    pub external_ip: Option<std::net::IpAddr>,
}

/// Counts for one torrent in a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever reported.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// An announce for tests: torrent `[hash; 20]`, peer id `[b'p'; 20]`, `port`, `left`
/// bytes missing, `event`, compact, no other options.
#[cfg(test)]
pub(crate) fn test_announce(hash: u8, port: u16, left: u64, event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([hash; 20]),
        peer_id: PeerId([b'p'; 20]),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: None,
        key: Some(1),
        compact: true,
        no_peer_id: false,
        claimed_ip: None,
    }
}
