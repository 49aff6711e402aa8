//! The peer protocol on the reactor: handshakes, message handling, requesting blocks,
//! serving uploads, worker completions, choking and the per-second peer sweep.
//!
//! Every handler works on one connection and its torrent, borrowed side by side from
//! the two slabs, and closes a misbehaving peer with a `CloseReason` (never an error).

use std::time::Instant;

use bytes::Bytes;

use super::{CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, INACTIVITY_TIMEOUT, KEEPALIVE_INTERVAL};
use super::{Conn, ConnState, Reactor};
use crate::bitfield::Bitfield;
use crate::error::Result;
use crate::peer::close::CloseReason;
use crate::peer::session::{MAX_REQUESTS_IN, PeerSession};
use crate::stats::{EngineStats, Metric};
use crate::torrent::ban::Source;
use crate::torrent::choker::PeerView;
use crate::torrent::picker::{BlockOutcome, PeerKey};
use crate::torrent::state::{PartialPiece, Torrent};
use crate::types::{BLOCK_SIZE, BlockRef, PieceIndex};
use crate::wire::ext::ExtHandshake;
use crate::wire::peer::{self, Handshake, Message, ReservedBit};
use crate::workers::{Completion, Job, JobTiming};

fn queue_msg(conn: &mut Conn, msg: &Message<'_>) {
    reply(&mut conn.send, msg);
}

fn session(conn: &mut Conn) -> Option<&mut PeerSession> {
    match &mut conn.state {
        ConnState::Active(s) => Some(s),
        _ => None,
    }
}

impl Reactor {
    /// Queues our handshake for torrent `tkey` on connection `key`.
    pub(super) fn send_handshake(&mut self, key: usize, tkey: usize) {
        let (Some(conn), Some(t)) = (self.conns.get_mut(key), self.torrents.get(tkey)) else {
            return;
        };
        let mut hs = Handshake::new(t.meta.info_hash, self.peer_id);
        hs.set(ReservedBit::EXTENSION_PROTOCOL, true);
        hs.set(ReservedBit::FAST_EXTENSION, true);
        conn.send.queue(Bytes::copy_from_slice(&hs.encode()));
    }

    /// Decodes and handles everything complete in the receive buffer.
    pub(super) fn process_input(&mut self, key: usize, now: Instant) {
        loop {
            if self.closing.iter().any(|(k, _)| *k == key) {
                return;
            }
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            match conn.state {
                ConnState::Connecting => return,
                ConnState::Handshaking => match Handshake::decode(conn.recv.unconsumed()) {
                    Ok(None) => return,
                    Ok(Some((hs, used))) => {
                        conn.recv.consume(used);
                        self.on_handshake(key, hs, now);
                    }
                    Err(_) => return self.close(key, CloseReason::BadHandshake),
                },
                ConnState::Active(_) => {
                    let Some(tkey) = conn.torrent else {
                        return self.close(key, CloseReason::ProtocolViolation);
                    };
                    let Some(t) = self.torrents.get_mut(tkey) else {
                        return self.close(key, CloseReason::Shutdown);
                    };
                    let max_frame = conn.max_frame;
                    let Conn {
                        recv, send, state, ..
                    } = conn;
                    let ConnState::Active(s) = state else { return };
                    let input = recv.unconsumed();
                    let (msg, used) = match peer::decode(input, max_frame) {
                        Ok(Some(m)) => m,
                        Ok(None) => return,
                        Err(e) => {
                            log::debug!("{}: {e}", s.addr);
                            return self.close(key, CloseReason::ProtocolViolation);
                        }
                    };
                    let mut effects = Effects::default();
                    let verdict = on_message(key, s, send, t, msg, now, &mut effects);
                    recv.consume(used);
                    self.apply(key, tkey, effects, now);
                    if let Err(reason) = verdict {
                        return self.close(key, reason);
                    }
                }
            }
        }
    }

    fn on_handshake(&mut self, key: usize, hs: Handshake, now: Instant) {
        let Some(&tkey) = self.by_hash.get(&hs.info_hash) else {
            return self.close(key, CloseReason::UnknownInfoHash);
        };
        if hs.peer_id == self.peer_id {
            return self.close(key, CloseReason::SelfConnection);
        }
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if conn.outgoing && conn.torrent != Some(tkey) {
            return self.close(key, CloseReason::UnknownInfoHash);
        }
        let outgoing = conn.outgoing;
        let duplicate = self.torrents[tkey].peers.iter().any(|&k| {
            self.conns.get(k).is_some_and(|c| match &c.state {
                ConnState::Active(s) => s.peer_id == hs.peer_id,
                _ => false,
            })
        });
        if duplicate {
            return self.close(key, CloseReason::Duplicate);
        }
        if self.torrents[tkey].bans.peer_banned(conn.addr, hs.peer_id) {
            return self.close(key, CloseReason::Banned);
        }
        if !outgoing {
            self.conns[key].torrent = Some(tkey);
            self.send_handshake(key, tkey);
        }
        let t = &mut self.torrents[tkey];
        let conn = &mut self.conns[key];
        let pieces = t.storage.layout.piece_count();
        let mut s = PeerSession::new(conn.addr, hs.peer_id, pieces, now);
        s.fast = hs.has(ReservedBit::FAST_EXTENSION);
        s.extended = hs.has(ReservedBit::EXTENSION_PROTOCOL);
        conn.max_frame = peer::max_frame_for(pieces);
        if s.extended {
            let ext = ExtHandshake {
                v: Some(concat!("hivebt ", env!("CARGO_PKG_VERSION")).to_string()),
                reqq: Some(MAX_REQUESTS_IN as u32),
                yourip: Some(conn.addr.ip()),
                p: self.listen_port,
                ..ExtHandshake::default()
            };
            queue_msg(
                conn,
                &Message::Extended {
                    id: 0,
                    payload: &ext.encode(),
                },
            );
        }
        if s.fast && t.have.is_all_set() {
            queue_msg(conn, &Message::HaveAll);
        } else if s.fast && t.have.count_ones() == 0 {
            queue_msg(conn, &Message::HaveNone);
        } else if t.have.count_ones() > 0 {
            queue_msg(conn, &Message::Bitfield(t.have.as_wire()));
        }
        conn.state = ConnState::Active(Box::new(s));
        t.peers.push(key);
    }

    /// Applies what a message handler decided beyond its own connection.
    fn apply(&mut self, key: usize, tkey: usize, effects: Effects, now: Instant) {
        if let (Some(stats), Some(d)) = (self.stats.as_deref_mut(), effects.block_latency) {
            stats.record(Metric::RequestToBlock, d);
        }
        for (other, block) in effects.cancels {
            if let Some(conn) = self.conns.get_mut(other) {
                if let Some(s) = session(conn) {
                    if s.take_request_out(block).is_some() {
                        queue_msg(conn, &Message::Cancel(block));
                    }
                }
                self.flush(other, now);
            }
        }
        if let Some((piece, data)) = effects.verify {
            let t = &mut self.torrents[tkey];
            t.writing.insert(piece.0);
            let job = Job::VerifyAndWrite {
                tag: t.tag,
                storage: t.storage.clone(),
                piece,
                data,
                expected: t.meta.info.pieces[piece.0 as usize],
                block_hashes: t.suspects.contains_key(&piece.0),
            };
            self.submit(job);
        }
        if effects.serve {
            self.serve_requests(key, now);
        }
        if effects.request {
            self.fill_requests(key, now);
        }
        if effects.unchoke_if_free {
            self.unchoke_if_free(key, tkey, now);
        }
    }

    /// Sends requests until the peer's pipeline is full.
    pub(super) fn fill_requests(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) else {
            return;
        };
        let ConnState::Active(s) = &mut conn.state else {
            return;
        };
        if s.peer_choking || !s.am_interested || t.complete() {
            return;
        }
        let mut want = s.pipeline().saturating_sub(s.requests_out.len());
        if want == 0 {
            return;
        }
        if let Some(limit) = &self.down_limit {
            let affordable = limit.tokens().div_ceil(u64::from(BLOCK_SIZE)) as usize;
            if affordable < want && !self.throttled_down.contains(&key) {
                self.throttled_down.push(key);
            }
            want = want.min(affordable);
            if want == 0 {
                return;
            }
        }
        let mut blocks = Vec::with_capacity(want);
        let have = &s.have;
        let refused = |p| s.refused(p);
        t.picker.pick_except(
            PeerKey(key as u32),
            |p| have.get(p),
            refused,
            want,
            &mut blocks,
        );
        let mut buf = Vec::with_capacity(blocks.len() * 17);
        for &block in &blocks {
            peer::encode(&Message::Request(block), &mut buf);
            s.requests_out.push_back((block, now));
            if let Some(limit) = &mut self.down_limit {
                limit.spend(u64::from(block.len));
            }
        }
        if s.requests_out.len() == blocks.len() && !blocks.is_empty() {
            s.last_block_at = now;
        }
        conn.send.queue(Bytes::from(buf));
    }

    /// Drains worker completions.
    pub(super) fn on_completions(&mut self, now: Instant) -> Result<()> {
        let done = self.pool.drain().map_err(|_| {
            crate::error::Error::Failed("worker threads stopped unexpectedly".into())
        })?;
        for (c, timing) in done {
            if let Some(stats) = self.stats.as_deref_mut() {
                record_job(stats, &c, timing);
            }
            match c {
                Completion::PieceWritten {
                    tag,
                    piece,
                    result,
                    block_hashes,
                    ..
                } => {
                    self.on_piece_written(tag, piece, result, block_hashes.unwrap_or_default(), now)
                }
                Completion::PieceRead { tag, piece, result } => {
                    self.on_piece_ready(tag, piece, result.map(Some), now)
                }
                Completion::PiecePrefetched { tag, piece, result } => {
                    self.on_piece_ready(tag, piece, result.map(|_| None), now)
                }
                Completion::PieceHashed { .. } => {}
            }
        }
        self.submit_backlog();
        Ok(())
    }

    pub(super) fn torrent_by_tag(&self, tag: u64) -> Option<usize> {
        let key = tag as usize;
        self.torrents.get(key).filter(|t| t.tag == tag).map(|_| key)
    }

    fn on_piece_written(
        &mut self,
        tag: u64,
        piece: PieceIndex,
        result: std::io::Result<bool>,
        block_hashes: Vec<[u8; 20]>,
        now: Instant,
    ) {
        let Some(tkey) = self.torrent_by_tag(tag) else {
            return;
        };
        let t = &mut self.torrents[tkey];
        t.writing.remove(&piece.0);
        let sources = t
            .partials
            .remove(&piece.0)
            .map(|p| p.sources)
            .unwrap_or_default();
        match result {
            Ok(true) => {
                let liars = t.blame_verified(piece, &block_hashes);
                self.punish(tkey, liars);
                let t = &mut self.torrents[tkey];
                t.set_have(piece, true);
                t.picker.on_piece_verified(piece);
                t.resume_dirty = true;
                let complete = t.complete();
                if complete && t.completed_at.is_none() {
                    t.completed_at = Some(now);
                    if let Some(client) = t.tracker.as_mut() {
                        client.on_complete(now);
                    }
                }
                let peers = t.peers.clone();
                for key in peers {
                    let Some(conn) = self.conns.get_mut(key) else {
                        continue;
                    };
                    let Some(s) = session(conn) else { continue };
                    let interested_before = s.am_interested;
                    if complete {
                        s.am_interested = false;
                    }
                    let peer_is_seed = s.have.is_all_set();
                    queue_msg(conn, &Message::Have(piece));
                    if complete && interested_before {
                        queue_msg(conn, &Message::NotInterested);
                    }
                    if complete && peer_is_seed {
                        self.close(key, CloseReason::BothSeeding);
                    }
                    self.flush(key, now);
                }
                if complete {
                    self.save_resume(true);
                    self.arm_tracker(tkey, now);
                }
            }
            Ok(false) => {
                t.hash_failures += 1;
                t.picker.on_piece_failed(piece);
                log::warn!("piece {} failed its hash check", piece.0);
                let blamed = t.blame_failed(piece, sources, block_hashes);
                self.punish(tkey, blamed);
                let peers = self.torrents[tkey].peers.clone();
                for key in peers {
                    self.fill_requests(key, now);
                    self.flush(key, now);
                }
            }
            Err(e) => {
                // The piece is not marked verified; those that are stay in the resume
                // record written at shutdown, so a run after space is freed goes on.
                t.picker.on_piece_failed(piece);
                if !self.shutting_down {
                    eprintln!(
                        "hivebt: error: {}: piece {}: {e}; stopping (verified pieces are kept)",
                        t.name(),
                        piece.0
                    );
                }
                self.begin_shutdown(now);
            }
        }
    }

    /// Strikes each peer; bans (closing its connections) those past the limit. A ban
    /// closes the endpoint's connections and any under its peer id, or every
    /// connection of the address once it is banned as a whole (see `torrent::ban`).
    fn punish(&mut self, tkey: usize, peers: Vec<Source>) {
        for who in peers {
            let t = &mut self.torrents[tkey];
            let Some(ban) = t.bans.strike(who) else {
                continue;
            };
            log::warn!("banning {ban}: sent data that failed hash checks");
            let peers = t.peers.clone();
            for key in peers {
                let covered = self.conns.get(key).is_some_and(|c| {
                    let id = match &c.state {
                        ConnState::Active(s) => Some(s.peer_id),
                        _ => None,
                    };
                    ban.covers(c.addr, id)
                });
                if covered {
                    self.close(key, CloseReason::Banned);
                }
            }
        }
    }

    fn unchoke_if_free(&mut self, key: usize, tkey: usize, now: Instant) {
        let unchoked = self.torrents[tkey]
            .peers
            .iter()
            .filter(|&&k| {
                self.conns
                    .get(k)
                    .and_then(|c| match &c.state {
                        ConnState::Active(s) => Some(!s.am_choking),
                        _ => None,
                    })
                    .unwrap_or(false)
            })
            .count();
        if unchoked < self.config.upload_slots {
            self.set_choke(key, false, now);
        }
    }

    fn set_choke(&mut self, key: usize, choke: bool, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(s) = session(conn) else { return };
        if s.am_choking == choke {
            return;
        }
        s.am_choking = choke;
        if choke {
            let rejected: Vec<BlockRef> = s.requests_in.drain(..).collect();
            let fast = s.fast;
            queue_msg(conn, &Message::Choke);
            if fast {
                for b in rejected {
                    queue_msg(conn, &Message::Reject(b));
                }
            }
        } else {
            s.unchoked_at = Some(now);
            queue_msg(conn, &Message::Unchoke);
        }
        self.flush(key, now);
    }

    /// Reassigns unchoke slots for torrent `tkey` with its choker (tit-for-tat while
    /// leeching, fastest upload with rotation while seeding, plus the optimistic
    /// unchoke): `upload_slots - 1` regular slots and one optimistic.
    pub(super) fn rechoke(&mut self, tkey: usize, now: Instant) {
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let seeding = t.complete();
        let views: Vec<PeerView<usize>> = t
            .peers
            .iter()
            .filter_map(|&key| match &self.conns.get(key)?.state {
                ConnState::Active(s) => Some(PeerView {
                    key,
                    interested: s.peer_interested,
                    choked_by_us: s.am_choking,
                    upload_rate: s.up.per_second(),
                    download_rate: s.down.per_second(),
                    snubbed: s.snubbed,
                    last_unchoked_at: s.unchoked_at,
                }),
                _ => None,
            })
            .collect();
        let slots = self.config.upload_slots.saturating_sub(1).max(1);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let decision = t.choker.rechoke(&views, slots, seeding, now, self.rng);
        for key in decision.choke {
            self.set_choke(key, true, now);
        }
        for key in decision.unchoke {
            self.set_choke(key, false, now);
        }
    }

    /// Per-second housekeeping for one connection.
    pub(super) fn peer_tick(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // An idle connection gives its receive buffer back; a busy one keeps it.
        if !conn.read_pending {
            conn.recv.release_if_empty();
        }
        conn.send.release_if_empty();
        match &mut conn.state {
            ConnState::Connecting if now.duration_since(conn.started_at) >= CONNECT_TIMEOUT => {
                self.close(key, CloseReason::ConnectFailed)
            }
            ConnState::Handshaking if now.duration_since(conn.started_at) >= HANDSHAKE_TIMEOUT => {
                self.close(key, CloseReason::HandshakeTimeout)
            }
            ConnState::Active(s) => {
                s.down.tick();
                s.up.tick();
                if now.duration_since(s.last_recv_at) >= INACTIVITY_TIMEOUT {
                    return self.close(key, CloseReason::Inactive);
                }
                if now.duration_since(s.last_send_at) >= KEEPALIVE_INTERVAL {
                    queue_msg(conn, &Message::KeepAlive);
                    let ConnState::Active(s) = &mut conn.state else {
                        return;
                    };
                    s.last_send_at = now;
                }
                let ConnState::Active(s) = &mut conn.state else {
                    return;
                };
                let expired = s.expire_requests(now);
                s.check_snub(now);
                if let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) {
                    for block in expired {
                        t.picker.on_request_dropped(PeerKey(key as u32), block);
                    }
                }
                self.fill_requests(key, now);
                self.flush(key, now);
            }
            _ => {}
        }
    }
}

/// What a message handler asks of the reactor beyond its own connection.
#[derive(Debug, Default)]
struct Effects {
    /// Cancel these requests on other connections (endgame duplicates).
    cancels: Vec<(usize, BlockRef)>,
    /// A piece is complete: verify and write it.
    verify: Option<(PieceIndex, Vec<u8>)>,
    /// Try to send queued uploads.
    serve: bool,
    /// Try to send more requests.
    request: bool,
    /// The peer became interested: unchoke it if a slot is free.
    unchoke_if_free: bool,
    /// A requested block arrived this long after we asked for it.
    block_latency: Option<std::time::Duration>,
}

/// Records a worker job's queue wait and run time in the matching histograms.
fn record_job(stats: &mut EngineStats, c: &Completion, timing: JobTiming) {
    match c {
        Completion::PieceWritten { hashed, .. } => {
            stats.record(Metric::HashWait, timing.waited);
            stats.record(Metric::HashTime, *hashed);
            stats.record(Metric::WriteTime, timing.ran.saturating_sub(*hashed));
        }
        Completion::PieceRead { .. } | Completion::PiecePrefetched { .. } => {
            stats.record(Metric::DiskReadWait, timing.waited);
            stats.record(Metric::DiskRead, timing.ran);
        }
        Completion::PieceHashed { .. } => {}
    }
}

fn update_interest(s: &mut PeerSession, send: &mut crate::peer::conn::SendQueue, have: &Bitfield) {
    let want = !have.is_all_set() && s.has_something_for(have);
    if want != s.am_interested {
        s.am_interested = want;
        let msg = if want {
            Message::Interested
        } else {
            Message::NotInterested
        };
        reply(send, &msg);
    }
}

/// Encodes `msg` onto a connection's send queue; small messages are batched into the
/// queue's inline chunks.
pub(super) fn reply(send: &mut crate::peer::conn::SendQueue, msg: &Message<'_>) {
    let mut buf = Vec::with_capacity(msg.frame_len() as usize + 4);
    peer::encode(msg, &mut buf);
    if buf.len() <= 32 {
        send.queue_small(&buf);
    } else {
        send.queue(Bytes::from(buf));
    }
}

/// Handles one message from an active peer. `Err` closes the connection.
#[allow(clippy::too_many_arguments)]
fn on_message(
    key: usize,
    s: &mut PeerSession,
    send: &mut crate::peer::conn::SendQueue,
    t: &mut Torrent,
    msg: Message<'_>,
    now: Instant,
    fx: &mut Effects,
) -> std::result::Result<(), CloseReason> {
    let pieces = t.storage.layout.piece_count();
    let peer_key = PeerKey(key as u32);
    match msg {
        Message::KeepAlive | Message::Port(_) | Message::Suggest(_) | Message::Unknown { .. } => {}
        Message::Choke => {
            s.peer_choking = true;
            // Without the fast extension a choke discards our requests (BEP 3); with
            // it, each one is answered or explicitly rejected (BEP 6).
            if !s.fast {
                for (block, _) in s.requests_out.drain(..) {
                    t.picker.on_request_dropped(peer_key, block);
                }
            }
        }
        Message::Unchoke => {
            s.peer_choking = false;
            fx.request = true;
        }
        Message::Interested => {
            s.peer_interested = true;
            fx.unchoke_if_free = s.am_choking;
        }
        Message::NotInterested => s.peer_interested = false,
        Message::Have(p) => {
            if p.0 >= pieces {
                return Err(CloseReason::ProtocolViolation);
            }
            if !s.have.get(p) {
                let _ = s.have.set(p, true);
                t.picker.on_have(peer_key, p);
            }
            if let Some(refused) = s.refused.as_deref_mut() {
                let _ = refused.set(p, false);
            }
            // A new piece can only make the peer interesting, and only if we lack it:
            // an O(1) check instead of rescanning its bitfield on every `have`.
            if !s.am_interested && !t.have.get(p) && !t.complete() {
                s.am_interested = true;
                reply(send, &Message::Interested);
            }
            fx.request = true;
        }
        // BEP 3 and BEP 6: one of bitfield, have_all or have_none comes, first. aria2
        // later sends a bitfield again in place of a batch of haves, so a repeated
        // bitfield is accepted when it only adds pieces; one that takes pieces away, or
        // a repeated have_all or have_none, is a violation.
        Message::HaveAll | Message::HaveNone if !s.fast || s.got_bitfield => {
            return Err(CloseReason::ProtocolViolation);
        }
        Message::Bitfield(bits) => {
            let bf =
                Bitfield::from_wire(bits, pieces).map_err(|_| CloseReason::ProtocolViolation)?;
            if s.have.iter_ones().any(|p| !bf.get(p)) {
                return Err(CloseReason::ProtocolViolation);
            }
            s.got_bitfield = true;
            // `have` messages may have come first; count only what is new.
            let before = std::mem::replace(&mut s.have, bf);
            let have = &s.have;
            t.picker
                .on_bitfield(peer_key, |p| have.get(p) && !before.get(p));
            if t.complete() && s.have.is_all_set() {
                return Err(CloseReason::BothSeeding);
            }
            update_interest(s, send, &t.have);
            fx.request = true;
        }
        Message::HaveAll => {
            s.got_bitfield = true;
            let before = std::mem::replace(&mut s.have, Bitfield::full(pieces));
            // The picker counts a have_all peer for every piece by itself.
            t.picker.on_peer_gone(peer_key, |p| before.get(p));
            t.picker.on_have_all(peer_key);
            if t.complete() {
                return Err(CloseReason::BothSeeding);
            }
            update_interest(s, send, &t.have);
            fx.request = true;
        }
        Message::HaveNone => s.got_bitfield = true,
        Message::Request(block) => {
            let valid = block.piece.0 < pieces
                && block.len > 0
                && block.len <= BLOCK_SIZE
                && u64::from(block.offset) + u64::from(block.len)
                    <= t.storage.layout.piece_len(block.piece);
            if !valid {
                return Err(CloseReason::BadRequest);
            }
            let can_serve = t.have.get(block.piece) && !s.am_choking;
            if !can_serve || s.requests_in.len() >= MAX_REQUESTS_IN {
                if s.fast {
                    reply(send, &Message::Reject(block));
                } else if s.requests_in.len() >= MAX_REQUESTS_IN {
                    return Err(CloseReason::BadRequest);
                }
                return Ok(());
            }
            if !s.requests_in.contains(&block) {
                s.requests_in.push_back(block);
            }
            fx.serve = true;
        }
        Message::Cancel(block) => {
            if let Some(i) = s.requests_in.iter().position(|b| *b == block) {
                s.requests_in.remove(i);
                if s.fast {
                    reply(send, &Message::Reject(block));
                }
            }
        }
        Message::Reject(block) => {
            if s.take_request_out(block).is_some() {
                t.picker.on_request_dropped(peer_key, block);
                // Rejected while unchoked: it cannot serve the piece, so asking again
                // would only be rejected again (choking rejects everything pending).
                if !s.peer_choking {
                    s.refuse(block.piece);
                }
            }
            fx.request = true;
        }
        Message::AllowedFast(_) => {}
        Message::Piece {
            piece,
            offset,
            data,
        } => {
            let block = BlockRef {
                piece,
                offset,
                len: data.len() as u32,
            };
            let Some(sent_at) = s.take_request_out(block) else {
                // Unrequested, or cancelled in endgame and sent anyway: dropped.
                return Ok(());
            };
            fx.block_latency = Some(now.saturating_duration_since(sent_at));
            s.on_block(data.len(), now);
            t.down.add(data.len() as u64);
            t.peers_used.insert(s.addr);
            let BlockOutcome::Accepted {
                piece_complete: complete,
                cancel,
            } = t.picker.on_block_received(peer_key, block)
            else {
                return Ok(());
            };
            for other in cancel {
                fx.cancels.push((other.0 as usize, block));
            }
            let piece_len = t.storage.layout.piece_len(piece) as usize;
            let blocks = piece_len.div_ceil(BLOCK_SIZE as usize);
            let partial = t.partials.entry(piece.0).or_insert_with(|| PartialPiece {
                data: vec![0; piece_len],
                sources: vec![None; blocks],
            });
            let start = offset as usize;
            partial.data[start..start + data.len()].copy_from_slice(data);
            if let Some(source) = partial.sources.get_mut(start / BLOCK_SIZE as usize) {
                *source = Some(Source {
                    addr: s.addr,
                    peer_id: s.peer_id,
                });
            }
            if complete {
                let data = std::mem::take(&mut partial.data);
                fx.verify = Some((piece, data));
            }
            fx.request = true;
        }
        Message::Extended { id: 0, payload } => {
            if let Ok(ext) = ExtHandshake::decode(payload) {
                s.peer_reqq = ext.reqq;
                s.client = ext.v;
            }
        }
        Message::Extended { .. } => {}
    }
    Ok(())
}
