//! Stateless UDP tracker connection ids (BEP 15).
//!
//! A connection id proves that the sender of an announce or scrape received our answer
//! to its `connect` at that address, so a forged source address cannot turn the tracker
//! into a traffic amplifier. Instead of remembering every id handed out, the tracker
//! derives it: SipHash-2-4, keyed by a secret, of the client's address and the current
//! time window of [`TRACKER_CONNECTION_ID_WINDOW_SECS`]. An id is accepted in the window
//! it was issued in and the next, so it lives between one and two windows (2 to 4
//! minutes; BEP 15 asks trackers to accept an id for two minutes, and clients to use it
//! for one). Nothing is stored per client.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::TRACKER_CONNECTION_ID_WINDOW_SECS;
use crate::siphash::siphash24;

/// Issues and checks connection ids. The secret must be unpredictable (drawn from the
/// operating system's random source) or ids can be forged; it never leaves this struct.
#[derive(Clone)]
pub struct ConnectionIds {
    secret: [u8; 16],
    /// Windows count from here.
    epoch: Instant,
}

impl fmt::Debug for ConnectionIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionIds")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl ConnectionIds {
    /// Ids keyed by `secret`, with time windows counted from `now`.
    pub fn new(secret: [u8; 16], now: Instant) -> ConnectionIds {
        ConnectionIds { secret, epoch: now }
    }

    /// The id to send in the answer to a `connect` from `addr`.
    pub fn issue(&self, addr: SocketAddr, now: Instant) -> u64 {
        self.id_for(addr, self.window(now))
    }

    /// Whether `id` was issued to `addr` in the current or the previous window.
    pub fn valid(&self, id: u64, addr: SocketAddr, now: Instant) -> bool {
        let w = self.window(now);
        id == self.id_for(addr, w) || (w > 0 && id == self.id_for(addr, w - 1))
    }

    fn window(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / TRACKER_CONNECTION_ID_WINDOW_SECS
    }

    /// The keyed hash of the address (IPv4 written as IPv4-mapped IPv6, so a dual-stack
    /// socket's two spellings agree), the port and the window.
    fn id_for(&self, addr: SocketAddr, window: u64) -> u64 {
        let ip = match addr.ip().to_canonical() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut msg = [0u8; 26];
        msg[..16].copy_from_slice(&ip.octets());
        msg[16..18].copy_from_slice(&addr.port().to_be_bytes());
        msg[18..].copy_from_slice(&window.to_le_bytes());
        siphash24(&self.secret, &msg)
    }
}
