//! The peer wire protocol of one active connection, sans-io: what each message from
//! the peer does to the session and its torrent, what we answer, and what must happen
//! beyond this connection (returned as [`PeerEffect`]s for the reactor to apply).
//!
//! Depends on `peer::{session, conn, ext, close}`, `torrent::{state, picker, ban}`,
//! `wire` and `types`. Input is a decoded message and `now`; output goes to the
//! connection's [`SendQueue`] (answers to this peer) and to the effect queue (everything
//! else), so it is tested with scripted message streams and a fake clock.
//!
//! Rules kept here (BEP 3, BEP 6, BEP 10):
//! - a bitfield, `have_all` or `have_none` comes once, first; a repeated bitfield may
//!   only add pieces (aria2 sends one in place of a batch of `have`s);
//! - a request outside the torrent closes the peer; one we will not serve (choked, a
//!   piece we lack, the queue full) is rejected with the fast extension, dropped
//!   without it, and past the queue limit without it the peer is closed;
//! - a choke without the fast extension discards our requests; with it each is
//!   answered or rejected;
//! - a reject while unchoked marks the piece refused by this peer until it sends
//!   `have` for it;
//! - unrequested blocks are dropped.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bitfield::Bitfield;
use crate::peer::close::CloseReason;
use crate::peer::conn::SendQueue;
use crate::peer::ext::{Extension, Registry};
use crate::peer::session::{INACTIVITY_TIMEOUT, KEEPALIVE_INTERVAL, MAX_REQUESTS_IN, PeerSession};
use crate::rate::Rate;
use crate::torrent::assembly::Assembly;
use crate::torrent::ban::Source;
use crate::torrent::picker::{BlockOutcome, PeerKey, Picker};
use crate::torrent::storage::Layout;
use crate::types::{BLOCK_SIZE, BlockRef, PieceIndex};
use crate::wire::ext::ExtHandshake;
use crate::wire::peer::Message;

/// What a peer session may see and change of its torrent while it handles a message:
/// borrowed parts of a `Torrent` (the reactor lends them side by side), or built
/// from parts in tests.
#[derive(Debug)]
pub struct TorrentCtx<'a> {
    /// Piece sizes.
    pub layout: &'a Layout,
    /// Pieces verified and on disk.
    pub have: &'a Bitfield,
    /// Block picker for what we lack.
    pub picker: &'a mut Picker,
    /// Pieces being received and written.
    pub assembly: &'a mut Assembly,
    /// Payload bytes received, torrent-wide.
    pub down: &'a mut Rate,
    /// Peers that sent us at least one block.
    pub peers_used: &'a mut HashSet<SocketAddr>,
    /// The extensions the torrent offers its peers.
    pub extensions: &'a Registry,
}

impl TorrentCtx<'_> {
    /// Whether every piece is verified.
    pub fn complete(&self) -> bool {
        self.have.is_all_set()
    }
}

/// What a session asks for beyond its own connection, pulled with
/// [`PeerSession::poll_effect`] after each call that handles input.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerEffect {
    /// A block arrived here that `peer` was also asked for (endgame): cancel it there.
    Cancel {
        /// The other connection.
        peer: PeerKey,
        /// The block.
        block: BlockRef,
    },
    /// Every block of `piece` arrived: verify it and write it.
    VerifyPiece {
        /// The piece.
        piece: PieceIndex,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The peer queued requests: serve them.
    Serve,
    /// Our pipeline to it may have room: send more requests.
    Request,
    /// It became interested while we choke it: unchoke it if a slot is free.
    UnchokeIfFree,
    /// A requested block arrived this long after we asked for it.
    BlockLatency(Duration),
    /// Its DHT node listens on this UDP port (BEP 5 `port`).
    DhtPort(u16),
    /// An extended message for one of the extensions we offer (BEP 10).
    Extended {
        /// Which.
        ext: Extension,
        /// Its payload.
        payload: Vec<u8>,
    },
}

impl PeerEffect {
    /// Effects that only say "look again": queued once however often they are asked for.
    fn is_flag(&self) -> bool {
        matches!(
            self,
            PeerEffect::Serve | PeerEffect::Request | PeerEffect::UnchokeIfFree
        )
    }
}

/// What we tell a peer about ourselves in the extension handshake.
#[derive(Debug, Clone, Copy)]
pub struct Greeting<'a> {
    /// The extensions the torrent offers.
    pub extensions: &'a Registry,
    /// Our listen port (`p`).
    pub listen_port: Option<u16>,
    /// The size of the info dictionary we serve over `ut_metadata` (BEP 9), when we
    /// have it and offer the extension.
    pub metadata_size: Option<u64>,
}

impl PeerSession {
    /// The next effect to apply, oldest first.
    pub fn poll_effect(&mut self) -> Option<PeerEffect> {
        self.effects.pop_front()
    }

    fn effect(&mut self, e: PeerEffect) {
        if e.is_flag() && self.effects.contains(&e) {
            return;
        }
        self.effects.push_back(e);
    }

    /// Queues what follows the handshakes: our extension handshake (when the peer
    /// speaks BEP 10) and what we have (`have_all`/`have_none` with the fast
    /// extension, else a bitfield unless we have nothing).
    pub fn greet(&mut self, have: &Bitfield, greeting: Greeting<'_>, out: &mut SendQueue) {
        if self.extended {
            let ext = ExtHandshake {
                m: greeting.extensions.handshake_m(),
                v: Some(concat!("hivebt ", env!("CARGO_PKG_VERSION")).to_string()),
                reqq: Some(MAX_REQUESTS_IN as u32),
                yourip: Some(self.addr.ip()),
                p: greeting.listen_port,
                metadata_size: greeting
                    .metadata_size
                    .filter(|_| greeting.extensions.offers(Extension::UtMetadata)),
            };
            out.queue_msg(&Message::Extended {
                id: 0,
                payload: &ext.encode(),
            });
        }
        if self.fast && have.is_all_set() {
            out.queue_msg(&Message::HaveAll);
        } else if self.fast && have.count_ones() == 0 {
            out.queue_msg(&Message::HaveNone);
        } else if have.count_ones() > 0 {
            out.queue_msg(&Message::Bitfield(have.as_wire()));
        }
    }

    /// Handles one message from the peer. Answers go to `out`, effects to the queue;
    /// `Err` means the connection must close for that reason.
    pub fn on_message(
        &mut self,
        msg: Message<'_>,
        t: &mut TorrentCtx<'_>,
        out: &mut SendQueue,
        now: Instant,
    ) -> Result<(), CloseReason> {
        let pieces = t.layout.piece_count();
        match msg {
            Message::KeepAlive | Message::Suggest(_) | Message::Unknown { .. } => {}
            Message::Port(port) => self.effect(PeerEffect::DhtPort(port)),
            Message::Choke => {
                self.peer_choking = true;
                if !self.fast {
                    for (block, _) in self.requests_out.drain(..) {
                        t.picker.on_request_dropped(self.key, block);
                    }
                }
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.effect(PeerEffect::Request);
            }
            Message::Interested => {
                self.peer_interested = true;
                if self.am_choking {
                    self.effect(PeerEffect::UnchokeIfFree);
                }
            }
            Message::NotInterested => self.peer_interested = false,
            Message::Have(p) => {
                if p.0 >= pieces {
                    return Err(CloseReason::ProtocolViolation);
                }
                if !self.have.get(p) {
                    let _ = self.have.set(p, true);
                    t.picker.on_have(self.key, p);
                }
                if let Some(refused) = self.refused.as_deref_mut() {
                    let _ = refused.set(p, false);
                }
                // A new piece can only make the peer interesting, and only if we lack
                // it: an O(1) check instead of rescanning its bitfield on every `have`.
                if !self.am_interested && !t.have.get(p) && !t.complete() {
                    self.am_interested = true;
                    out.queue_msg(&Message::Interested);
                }
                self.effect(PeerEffect::Request);
            }
            Message::HaveAll | Message::HaveNone if !self.fast || self.got_bitfield => {
                return Err(CloseReason::ProtocolViolation);
            }
            Message::Bitfield(bits) => {
                let bf = Bitfield::from_wire(bits, pieces)
                    .map_err(|_| CloseReason::ProtocolViolation)?;
                if self.have.iter_ones().any(|p| !bf.get(p)) {
                    return Err(CloseReason::ProtocolViolation);
                }
                self.got_bitfield = true;
                // `have` messages may have come first; count only what is new.
                let before = std::mem::replace(&mut self.have, bf);
                let have = &self.have;
                t.picker
                    .on_bitfield(self.key, |p| have.get(p) && !before.get(p));
                if t.complete() && self.have.is_all_set() {
                    return Err(CloseReason::BothSeeding);
                }
                self.update_interest(t.have, out);
                self.effect(PeerEffect::Request);
            }
            Message::HaveAll => {
                self.got_bitfield = true;
                let before = std::mem::replace(&mut self.have, Bitfield::full(pieces));
                // The picker counts a have_all peer for every piece by itself.
                t.picker.on_peer_gone(self.key, |p| before.get(p));
                t.picker.on_have_all(self.key);
                if t.complete() {
                    return Err(CloseReason::BothSeeding);
                }
                self.update_interest(t.have, out);
                self.effect(PeerEffect::Request);
            }
            Message::HaveNone => self.got_bitfield = true,
            Message::Request(block) => self.on_request(block, t, out)?,
            Message::Cancel(block) => {
                if let Some(i) = self.requests_in.iter().position(|b| *b == block) {
                    self.requests_in.remove(i);
                    if self.fast {
                        out.queue_msg(&Message::Reject(block));
                    }
                }
            }
            Message::Reject(block) => {
                if self.take_request_out(block).is_some() {
                    t.picker.on_request_dropped(self.key, block);
                    // Rejected while unchoked: it cannot serve the piece, so asking
                    // again would only be rejected again (a choke rejects everything).
                    if !self.peer_choking {
                        self.refuse(block.piece);
                    }
                }
                self.effect(PeerEffect::Request);
            }
            Message::AllowedFast(_) => {}
            Message::Piece {
                piece,
                offset,
                data,
            } => self.on_block_message(piece, offset, data, t, now),
            Message::Extended { id: 0, payload } => {
                if let Ok(ext) = ExtHandshake::decode(payload) {
                    self.peer_reqq = ext.reqq;
                    self.listen_port = ext.p.or(self.listen_port);
                    self.extensions.on_handshake(&ext, t.extensions);
                    self.client = ext.v;
                }
            }
            Message::Extended { id, payload } => {
                // BEP 10: a message under an id we did not hand out is ignored.
                if let Some(ext) = t.extensions.lookup(id) {
                    self.effect(PeerEffect::Extended {
                        ext,
                        payload: payload.to_vec(),
                    });
                }
            }
        }
        Ok(())
    }

    fn on_request(
        &mut self,
        block: BlockRef,
        t: &TorrentCtx<'_>,
        out: &mut SendQueue,
    ) -> Result<(), CloseReason> {
        let valid = block.piece.0 < t.layout.piece_count()
            && block.len > 0
            && block.len <= BLOCK_SIZE
            && u64::from(block.offset) + u64::from(block.len) <= t.layout.piece_len(block.piece);
        if !valid {
            return Err(CloseReason::BadRequest);
        }
        let can_serve = t.have.get(block.piece) && !self.am_choking;
        let full = self.requests_in.len() >= MAX_REQUESTS_IN;
        if !can_serve || full {
            if self.fast {
                out.queue_msg(&Message::Reject(block));
            } else if full {
                return Err(CloseReason::BadRequest);
            }
            return Ok(());
        }
        if !self.requests_in.contains(&block) {
            self.requests_in.push_back(block);
        }
        self.effect(PeerEffect::Serve);
        Ok(())
    }

    fn on_block_message(
        &mut self,
        piece: PieceIndex,
        offset: u32,
        data: &[u8],
        t: &mut TorrentCtx<'_>,
        now: Instant,
    ) {
        let block = BlockRef {
            piece,
            offset,
            len: data.len() as u32,
        };
        let Some(sent_at) = self.take_request_out(block) else {
            // Unrequested, or cancelled in endgame and sent anyway: dropped.
            return;
        };
        self.effect(PeerEffect::BlockLatency(
            now.saturating_duration_since(sent_at),
        ));
        self.on_block(data.len(), now);
        t.down.add(data.len() as u64);
        t.peers_used.insert(self.addr);
        let BlockOutcome::Accepted {
            piece_complete,
            cancel,
        } = t.picker.on_block_received(self.key, block)
        else {
            return;
        };
        for peer in cancel {
            self.effect(PeerEffect::Cancel { peer, block });
        }
        let source = Source {
            addr: self.addr,
            peer_id: self.peer_id,
        };
        let piece_len = t.layout.piece_len(piece) as usize;
        t.assembly.add_block(piece, offset, data, piece_len, source);
        if piece_complete {
            if let Some(data) = t.assembly.complete(piece) {
                self.effect(PeerEffect::VerifyPiece { piece, data });
            }
        }
        self.effect(PeerEffect::Request);
    }

    /// Sends `interested` or `not interested` when whether it has something we lack
    /// changed.
    pub fn update_interest(&mut self, ours: &Bitfield, out: &mut SendQueue) {
        let want = !ours.is_all_set() && self.has_something_for(ours);
        if want != self.am_interested {
            self.am_interested = want;
            out.queue_msg(&if want {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
    }

    /// Chokes or unchokes the peer; false when it already was. A choke drops its
    /// queued requests (rejecting each, with the fast extension: BEP 6).
    pub fn set_choking(&mut self, choke: bool, now: Instant, out: &mut SendQueue) -> bool {
        if self.am_choking == choke {
            return false;
        }
        self.am_choking = choke;
        if choke {
            out.queue_msg(&Message::Choke);
            let fast = self.fast;
            for b in self.requests_in.drain(..) {
                if fast {
                    out.queue_msg(&Message::Reject(b));
                }
            }
        } else {
            self.unchoked_at = Some(now);
            out.queue_msg(&Message::Unchoke);
        }
        true
    }

    /// How many more requests its pipeline takes now: none while it chokes us, we are
    /// not interested, or the torrent is complete.
    pub fn request_room(&self, complete: bool) -> usize {
        if self.peer_choking || !self.am_interested || complete {
            return 0;
        }
        self.pipeline().saturating_sub(self.requests_out.len())
    }

    /// Asks the picker for up to `want` blocks this peer has (skipping pieces it
    /// refused) and queues one batch of requests for them. Returns the bytes asked for.
    pub fn send_requests(
        &mut self,
        picker: &mut Picker,
        want: usize,
        now: Instant,
        out: &mut SendQueue,
    ) -> u64 {
        let mut blocks = Vec::with_capacity(want);
        let have = &self.have;
        let refused = self.refused.as_deref();
        picker.pick_except(
            self.key,
            |p| have.get(p),
            |p| refused.is_some_and(|r| r.get(p)),
            want,
            &mut blocks,
        );
        if blocks.is_empty() {
            return 0;
        }
        let mut buf = Vec::with_capacity(blocks.len() * 17);
        let mut bytes = 0;
        for &block in &blocks {
            crate::wire::peer::encode(&Message::Request(block), &mut buf);
            self.requests_out.push_back((block, now));
            bytes += u64::from(block.len);
        }
        // The snub clock starts when the pipeline goes from empty to busy.
        if self.requests_out.len() == blocks.len() {
            self.last_block_at = now;
        }
        out.queue(bytes::Bytes::from(buf));
        bytes
    }

    /// Withdraws our request for `block` (another peer delivered it in endgame) and
    /// sends `cancel`; false when it was not outstanding here.
    pub fn cancel(&mut self, block: BlockRef, out: &mut SendQueue) -> bool {
        if self.take_request_out(block).is_none() {
            return false;
        }
        out.queue_msg(&Message::Cancel(block));
        true
    }

    /// `piece` was verified: tell the peer with `have`; once the torrent is complete,
    /// lose interest, and `Err(BothSeeding)` when the peer is a seed too.
    pub fn on_piece_verified(
        &mut self,
        piece: PieceIndex,
        complete: bool,
        out: &mut SendQueue,
    ) -> Result<(), CloseReason> {
        let was_interested = self.am_interested;
        out.queue_msg(&Message::Have(piece));
        if complete {
            self.am_interested = false;
            if was_interested {
                out.queue_msg(&Message::NotInterested);
            }
            if self.have.is_all_set() {
                return Err(CloseReason::BothSeeding);
            }
        }
        Ok(())
    }

    /// The per-second sweep: rates, the inactivity timeout, keep-alives, request
    /// timeouts (their blocks go back to the picker) and snubbing.
    pub fn on_second(
        &mut self,
        picker: &mut Picker,
        now: Instant,
        out: &mut SendQueue,
    ) -> Result<(), CloseReason> {
        self.down.tick();
        self.up.tick();
        if now.duration_since(self.last_recv_at) >= INACTIVITY_TIMEOUT {
            return Err(CloseReason::Inactive);
        }
        if now.duration_since(self.last_send_at) >= KEEPALIVE_INTERVAL {
            out.queue_msg(&Message::KeepAlive);
            self.last_send_at = now;
        }
        for block in self.expire_requests(now) {
            picker.on_request_dropped(self.key, block);
        }
        self.check_snub(now);
        Ok(())
    }

    /// Drops its queued requests for `piece` (we can no longer serve it), rejecting
    /// each when it speaks the fast extension (BEP 6).
    pub fn reject_requests_for(&mut self, piece: PieceIndex, out: &mut SendQueue) {
        let fast = self.fast;
        self.requests_in.retain(|&b| {
            if b.piece != piece {
                return true;
            }
            if fast {
                out.queue_msg(&Message::Reject(b));
            }
            false
        });
    }

    /// The connection is going away: its requests and pieces leave the picker.
    pub fn detach(&mut self, picker: &mut Picker) {
        for (block, _) in self.requests_out.drain(..) {
            picker.on_request_dropped(self.key, block);
        }
        let have = &self.have;
        picker.on_peer_gone(self.key, |p| have.get(p));
    }
}

#[cfg(test)]
mod tests;
