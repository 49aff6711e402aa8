//! Why a load-generator connection ended before the run did: the kinds the report counts.
//!
//! Depends on nothing. Every kind is one label of the `errors` table, so a reader of the
//! report can tell a seeder that refuses connections from one that resets them, and a
//! protocol disagreement from either. The end of the run closing a connection is not an
//! error and has no kind.

use std::io;

/// How a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The seeder's host refused the TCP connection (`ECONNREFUSED`).
    ConnectRefused,
    /// TCP did not connect within the connect timeout.
    ConnectTimeout,
    /// Any other failure to open the connection (no route, out of ports or descriptors).
    ConnectFailed,
    /// TCP connected, but the seeder's handshake did not arrive within the connect timeout.
    HandshakeTimeout,
    /// The seeder's first bytes are not a BitTorrent handshake.
    BadHandshake,
    /// The seeder answered for another info-hash.
    WrongTorrent,
    /// The seeder closed the connection (end of stream).
    ClosedBySeeder,
    /// The connection was reset or aborted (`ECONNRESET`, `EPIPE`, `ECONNABORTED`).
    Reset,
    /// The seeder broke the peer wire protocol: a malformed or oversized frame, a bad
    /// bitfield, a block of the wrong length, a piece index past the end.
    Protocol,
    /// Any other socket error.
    Io,
}

impl CloseKind {
    /// Every kind, in report order.
    pub const ALL: [CloseKind; 10] = [
        CloseKind::ConnectRefused,
        CloseKind::ConnectTimeout,
        CloseKind::ConnectFailed,
        CloseKind::HandshakeTimeout,
        CloseKind::BadHandshake,
        CloseKind::WrongTorrent,
        CloseKind::ClosedBySeeder,
        CloseKind::Reset,
        CloseKind::Protocol,
        CloseKind::Io,
    ];

    /// The label in the report (text and JSON).
    pub fn name(self) -> &'static str {
        match self {
            CloseKind::ConnectRefused => "connect_refused",
            CloseKind::ConnectTimeout => "connect_timeout",
            CloseKind::ConnectFailed => "connect_failed",
            CloseKind::HandshakeTimeout => "handshake_timeout",
            CloseKind::BadHandshake => "bad_handshake",
            CloseKind::WrongTorrent => "wrong_torrent",
            CloseKind::ClosedBySeeder => "closed_by_seeder",
            CloseKind::Reset => "reset",
            CloseKind::Protocol => "protocol",
            CloseKind::Io => "io",
        }
    }

    /// The kind's position in [`CloseKind::ALL`], for counters kept in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind of an error while opening a connection.
    pub fn of_connect_error(e: &io::Error) -> CloseKind {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => CloseKind::ConnectRefused,
            io::ErrorKind::TimedOut => CloseKind::ConnectTimeout,
            _ => CloseKind::ConnectFailed,
        }
    }

    /// The kind of an error on an open connection.
    pub fn of_io_error(e: &io::Error) -> CloseKind {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => CloseKind::Reset,
            _ => CloseKind::Io,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_the_report_order() {
        for (i, kind) in CloseKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i, "{}", kind.name());
        }
    }
}
