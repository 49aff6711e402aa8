//! Why a peer connection ended. Each reason is also a metric label, so the names are
//! short, stable and snake_case.
//!
//! Depends on nothing. One peer's misbehaviour is a `CloseReason`, never an error that
//! reaches the user.

use std::fmt;

/// Why a peer connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The outgoing connect failed or timed out.
    ConnectFailed,
    /// No complete handshake within the handshake timeout.
    HandshakeTimeout,
    /// The handshake was malformed (wrong protocol string).
    BadHandshake,
    /// The handshake named a torrent we do not have.
    UnknownInfoHash,
    /// We connected to ourselves (our own peer id came back).
    SelfConnection,
    /// A second connection to a peer we are already talking to.
    Duplicate,
    /// The peer broke the wire protocol (bad length, oversized frame, bad bitfield).
    ProtocolViolation,
    /// The peer requested something out of range or more than allowed.
    BadRequest,
    /// The peer sent data that failed hash checks too often.
    Banned,
    /// Nothing received for too long.
    Inactive,
    /// The peer closed the connection.
    PeerClosed,
    /// A socket error.
    SocketError,
    /// The peer's send queue grew past its bound (it does not read).
    SendQueueFull,
    /// Too many peers in total (`--max-peers`): refused at accept.
    TooManyPeers,
    /// The torrent holds its own connection cap (`max_connections`): an incoming peer
    /// is refused at its handshake, and lowering the cap closes the least useful.
    TorrentFull,
    /// Closed to make room for a new peer at `--max-peers`: neither side was
    /// interested for a while (see `Engine::evict_useless`).
    Evicted,
    /// Both sides are seeds: nothing to exchange.
    BothSeeding,
    /// A file of the torrent could not be opened or read to serve the peer.
    DiskError,
    /// The torrent or the whole session is shutting down.
    Shutdown,
    /// Fetching metadata (a magnet link): the peer offers no `ut_metadata`, or sent
    /// metadata that does not match the info-hash.
    NoMetadata,
    /// The metadata is in: connections that only fetched it make way for full ones.
    MetadataDone,
}

impl CloseReason {
    /// Stable snake_case name (metric label, log field).
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ConnectFailed => "connect_failed",
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::BadHandshake => "bad_handshake",
            CloseReason::UnknownInfoHash => "unknown_info_hash",
            CloseReason::SelfConnection => "self_connection",
            CloseReason::Duplicate => "duplicate",
            CloseReason::ProtocolViolation => "protocol_violation",
            CloseReason::BadRequest => "bad_request",
            CloseReason::Banned => "banned",
            CloseReason::Inactive => "inactive",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::SocketError => "socket_error",
            CloseReason::SendQueueFull => "send_queue_full",
            CloseReason::TooManyPeers => "too_many_peers",
            CloseReason::TorrentFull => "torrent_full",
            CloseReason::Evicted => "evicted",
            CloseReason::BothSeeding => "both_seeding",
            CloseReason::NoMetadata => "no_metadata",
            CloseReason::MetadataDone => "metadata_done",
            CloseReason::DiskError => "disk_error",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
