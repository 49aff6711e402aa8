//! The protocol state of one peer connection once handshakes are exchanged: choke and
//! interest in both directions, the peer's pieces, our requests to it and its requests
//! to us, transfer rates and the request pipeline size.
//!
//! Depends on `types`, `bitfield` and `config`. Pure: the reactor feeds it decoded
//! messages and `now`, and applies what it decides. Invariants:
//! - `requests_out` holds each block at most once, and never more than `pipeline` when
//!   it was filled;
//! - `requests_in` never holds more than `MAX_REQUESTS_IN` (our advertised `reqq`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bitfield::Bitfield;
use crate::peer::ext::{Extension, PeerExtensions};
use crate::peer::pex::PeerPex;
use crate::peer::protocol::PeerEffect;
use crate::rate::Rate;
use crate::torrent::picker::PeerKey;
use crate::types::{BLOCK_SIZE, BlockRef, PeerId, PieceIndex};

/// How many requests we let a peer queue with us (advertised as `reqq`, BEP 10).
pub const MAX_REQUESTS_IN: usize = 500;

/// Fewest and most of our requests in flight to one peer.
pub const PIPELINE_MIN: usize = 4;
/// See [`PIPELINE_MIN`].
pub const PIPELINE_MAX: usize = 500;

/// How long the pipeline should keep busy: the bandwidth-delay product is taken over
/// this span, generous enough to cover loopback bursts and WAN round trips alike.
pub const PIPELINE_SPAN: Duration = Duration::from_secs(2);

/// A request older than this is given up and its block handed to someone else.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A peer that sent no block for this long while we had requests out is snubbed.
pub const SNUB_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection that received nothing for this long is closed.
pub const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(180);

/// An idle connection gets a keep-alive this often.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// Protocol state of one connected peer.
#[derive(Debug)]
pub struct PeerSession {
    /// Its key in the torrent's picker (the connection's slot).
    pub(super) key: PeerKey,
    /// The peer's address.
    pub(super) addr: SocketAddr,
    /// The peer's id from its handshake.
    pub(super) peer_id: PeerId,
    /// It supports the fast extension (BEP 6).
    pub(super) fast: bool,
    /// It supports the extension protocol (BEP 10).
    pub(super) extended: bool,
    /// How many requests it accepts queued (its `reqq`), if it said.
    pub(super) peer_reqq: Option<u32>,
    /// Its client name (`v`), if it said.
    pub(super) client: Option<String>,
    /// We choke it.
    pub(super) am_choking: bool,
    /// We want pieces from it.
    pub(super) am_interested: bool,
    /// It chokes us.
    pub(super) peer_choking: bool,
    /// It wants pieces from us.
    pub(super) peer_interested: bool,
    /// Pieces it has.
    pub(super) have: Bitfield,
    /// Its bitfield, have_all or have_none arrived (after it, only a bitfield that
    /// adds pieces may come again).
    pub(super) got_bitfield: bool,
    /// Our requests to it, oldest first, with when they were sent.
    pub(super) requests_out: VecDeque<(BlockRef, Instant)>,
    /// Its requests to us not yet answered, oldest first.
    pub(super) requests_in: VecDeque<BlockRef>,
    /// Bytes of block payload received from it.
    pub(super) down: Rate,
    /// Bytes of block payload sent to it.
    pub(super) up: Rate,
    /// When it last sent anything.
    pub(super) last_recv_at: Instant,
    /// When we last sent anything.
    pub(super) last_send_at: Instant,
    /// When it last sent a block we asked for (or when we started asking).
    pub(super) last_block_at: Instant,
    /// No block for `SNUB_TIMEOUT` despite requests: not trusted with many requests.
    pub(super) snubbed: bool,
    /// When we last unchoked it, for the choker's round robin.
    pub(super) unchoked_at: Option<Instant>,
    /// Pieces it rejected a request for while unchoking us (BEP 6): it claims them but
    /// cannot serve them (its copy is gone, say), so they are not asked of it again
    /// until it sends `have` for them. Allocated on the first such reject.
    pub(super) refused: Option<Box<Bitfield>>,
    /// The ids it wants our extended messages under (BEP 10).
    pub(super) extensions: PeerExtensions,
    /// What it asks of the reactor, pulled with `poll_effect`.
    pub(super) effects: VecDeque<PeerEffect>,
    /// Its listen port (`p` of its extension handshake), if it said.
    pub(super) listen_port: Option<u16>,
    /// Peer exchange with it (BEP 11).
    pub(super) pex: PeerPex,
}

impl PeerSession {
    /// A new session right after the handshakes, with every flag at its BEP 3 start
    /// value (both sides choking, neither interested).
    pub fn new(
        key: PeerKey,
        addr: SocketAddr,
        peer_id: PeerId,
        pieces: u32,
        now: Instant,
    ) -> PeerSession {
        PeerSession {
            key,
            addr,
            peer_id,
            fast: false,
            extended: false,
            peer_reqq: None,
            client: None,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            have: Bitfield::new(pieces),
            got_bitfield: false,
            requests_out: VecDeque::new(),
            requests_in: VecDeque::new(),
            down: Rate::default(),
            up: Rate::default(),
            last_recv_at: now,
            last_send_at: now,
            last_block_at: now,
            snubbed: false,
            unchoked_at: None,
            refused: None,
            extensions: PeerExtensions::default(),
            effects: VecDeque::new(),
            listen_port: None,
            pex: PeerPex::default(),
        }
    }

    /// Records what its handshake said it supports: the fast extension (BEP 6) and the
    /// extension protocol (BEP 10).
    pub fn set_capabilities(&mut self, fast: bool, extended: bool) {
        self.fast = fast;
        self.extended = extended;
    }

    /// Its listen port from its extension handshake (`p`), if it said.
    pub fn listen_port(&self) -> Option<u16> {
        self.listen_port
    }

    /// Peer exchange with it.
    pub fn pex(&self) -> &PeerPex {
        &self.pex
    }

    /// Peer exchange with it, to change.
    pub fn pex_mut(&mut self) -> &mut PeerPex {
        &mut self.pex
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer's id from its handshake.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The id the peer wants `ext` messages sent under, if it supports `ext` and we
    /// offer it (BEP 10).
    pub fn extension_id(&self, ext: Extension) -> Option<u8> {
        self.extensions.id_for(ext)
    }

    /// Whether it speaks the fast extension (BEP 6).
    pub fn fast(&self) -> bool {
        self.fast
    }

    /// Whether we choke it.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }

    /// Whether the peer chokes us (no blocks come from it).
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Whether we want what the peer has.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// Whether it wants pieces from us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// Whether it is snubbed (no block for a while despite requests).
    pub fn snubbed(&self) -> bool {
        self.snubbed
    }

    /// When we last unchoked it.
    pub fn unchoked_at(&self) -> Option<Instant> {
        self.unchoked_at
    }

    /// The pieces it has.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Block payload per second received from it, over the last seconds.
    pub fn down_rate(&self) -> u64 {
        self.down.per_second()
    }

    /// Block payload per second sent to it, over the last seconds.
    pub fn up_rate(&self) -> u64 {
        self.up.per_second()
    }

    /// Its requests to us not answered yet, oldest first.
    pub fn requests_in(&self) -> &VecDeque<BlockRef> {
        &self.requests_in
    }

    /// Its queued request at `index` was answered with the block: it leaves the queue
    /// and counts as uploaded.
    pub fn served(&mut self, index: usize) -> Option<BlockRef> {
        let block = self.requests_in.remove(index)?;
        self.up.add(u64::from(block.len));
        Some(block)
    }

    /// Something arrived from it at `now`.
    pub fn on_received(&mut self, now: Instant) {
        self.last_recv_at = now;
    }

    /// Something was written to it at `now`.
    pub fn on_sent(&mut self, now: Instant) {
        self.last_send_at = now;
    }

    /// Notes that it rejected a request for `piece` while unchoking us.
    pub fn refuse(&mut self, piece: PieceIndex) {
        let pieces = self.have.len();
        let refused = self
            .refused
            .get_or_insert_with(|| Box::new(Bitfield::new(pieces)));
        let _ = refused.set(piece, true);
    }

    /// Whether it rejected `piece` (see [`PeerSession::refused`]).
    pub fn refused(&self, piece: PieceIndex) -> bool {
        self.refused.as_ref().is_some_and(|r| r.get(piece))
    }

    /// How many of our requests should be in flight to this peer: the bandwidth-delay
    /// product of its measured rate over `PIPELINE_SPAN`, in blocks, at least
    /// `PIPELINE_MIN` (slow start: it grows as the rate shows), one when snubbed, and no
    /// more than the peer's `reqq`.
    pub fn pipeline(&self) -> usize {
        if self.snubbed {
            return 1;
        }
        let bdp = self.down.per_second() * PIPELINE_SPAN.as_secs() / u64::from(BLOCK_SIZE);
        let cap = self
            .peer_reqq
            .map_or(PIPELINE_MAX, |r| (r as usize).clamp(1, PIPELINE_MAX));
        (bdp as usize + PIPELINE_MIN).min(cap)
    }

    /// Removes our request for `block`; when it was outstanding, returns when it was sent.
    pub fn take_request_out(&mut self, block: BlockRef) -> Option<Instant> {
        let i = self.requests_out.iter().position(|(b, _)| *b == block)?;
        self.requests_out.remove(i).map(|(_, at)| at)
    }

    /// Requests older than `REQUEST_TIMEOUT`, removed from the pipeline.
    pub fn expire_requests(&mut self, now: Instant) -> Vec<BlockRef> {
        let mut expired = Vec::new();
        while let Some(&(block, at)) = self.requests_out.front() {
            if now.duration_since(at) < REQUEST_TIMEOUT {
                break;
            }
            self.requests_out.pop_front();
            expired.push(block);
        }
        expired
    }

    /// Updates the snubbed flag; true when the peer just became snubbed.
    pub fn check_snub(&mut self, now: Instant) -> bool {
        let waiting = !self.requests_out.is_empty();
        if waiting && !self.snubbed && now.duration_since(self.last_block_at) >= SNUB_TIMEOUT {
            self.snubbed = true;
            return true;
        }
        false
    }

    /// Records a block received from the peer.
    pub fn on_block(&mut self, len: usize, now: Instant) {
        self.down.add(len as u64);
        self.last_block_at = now;
        self.snubbed = false;
    }

    /// Whether the peer has any piece we lack.
    pub fn has_something_for(&self, ours: &Bitfield) -> bool {
        self.have.iter_ones().any(|p| !ours.get(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PieceIndex;

    fn session() -> PeerSession {
        PeerSession::new(
            PeerKey(0),
            "127.0.0.1:1".parse().unwrap(),
            PeerId([0; 20]),
            8,
            Instant::now(),
        )
    }

    #[test]
    fn pipeline_follows_rate_and_limits() {
        let mut s = session();
        assert_eq!(s.pipeline(), PIPELINE_MIN);
        for _ in 0..5 {
            s.down.add(10 * 1024 * 1024);
            s.down.tick();
        }
        // 10 MiB/s over 2 s = 1280 blocks, capped.
        assert_eq!(s.pipeline(), PIPELINE_MAX);
        s.peer_reqq = Some(250);
        assert_eq!(s.pipeline(), 250);
        s.snubbed = true;
        assert_eq!(s.pipeline(), 1);
    }

    #[test]
    fn requests_expire_oldest_first() {
        let mut s = session();
        let t0 = Instant::now();
        let b = |p| BlockRef {
            piece: PieceIndex(p),
            offset: 0,
            len: BLOCK_SIZE,
        };
        s.requests_out.push_back((b(0), t0));
        s.requests_out
            .push_back((b(1), t0 + Duration::from_secs(10)));
        assert!(s.expire_requests(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(s.expire_requests(t0 + Duration::from_secs(31)), [b(0)]);
        assert_eq!(
            s.take_request_out(b(1)),
            Some(t0 + Duration::from_secs(10)),
            "gives the send time"
        );
        assert_eq!(s.take_request_out(b(1)), None);
    }

    #[test]
    fn snub_after_silence_with_requests_out() {
        let mut s = session();
        let t0 = s.last_block_at;
        assert!(
            !s.check_snub(t0 + SNUB_TIMEOUT),
            "no requests out: not snubbed"
        );
        s.requests_out.push_back((
            BlockRef {
                piece: PieceIndex(0),
                offset: 0,
                len: 1,
            },
            t0,
        ));
        assert!(s.check_snub(t0 + SNUB_TIMEOUT));
        assert!(!s.check_snub(t0 + SNUB_TIMEOUT), "reported once");
        s.on_block(1, t0 + SNUB_TIMEOUT);
        assert!(!s.snubbed);
    }
}
