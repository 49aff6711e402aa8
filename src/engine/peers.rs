//! The engine's peer connections: input, handshakes, the effects a session asks for,
//! requesting blocks, worker completions, bans, choking and the per-second peer sweep.
//!
//! Every handler works on one connection and its torrent, borrowed side by side from
//! the two slabs, and closes a misbehaving peer with a `CloseReason` (never an error).

use std::time::Instant;

use bytes::Bytes;

use super::caps::{self, Way};
use super::{Engine, EngineEvent};
use crate::peer::close::CloseReason;
use crate::peer::conn::ReadPass;
use crate::peer::conn::{ConnState, Connection};
use crate::peer::ext::{Extension, Registry};
use crate::peer::protocol::{Greeting, PeerEffect, TorrentCtx};
use crate::peer::session::PeerSession;
use crate::stats::{EngineStats, Metric};
use crate::torrent::ban::Source;
use crate::torrent::choker::PeerView;
use crate::torrent::picker::PeerKey;
use crate::torrent::state::{Torrent, TorrentState};
use crate::types::{BLOCK_SIZE, ConnKey, PieceIndex, TorrentId};
use crate::wire::peer::{self, Handshake, ReservedBit};
use crate::workers::{Completion, Job, JobTiming};

/// The parts of torrent `t` a peer session works on, beside the extensions offered.
fn torrent_ctx<'a>(t: &'a mut Torrent, extensions: &'a Registry) -> TorrentCtx<'a> {
    let p = t.pieces_mut();
    TorrentCtx {
        layout: p.layout,
        have: p.have,
        picker: p.picker,
        assembly: p.assembly,
        down: &mut p.stats.down,
        peers_used: &mut p.stats.peers_used,
        extensions,
    }
}

impl Engine {
    /// Queues our handshake for torrent `tkey` on connection `key`.
    pub(crate) fn send_handshake(&mut self, key: usize, tkey: usize) {
        let (Some(conn), Some(t)) = (self.conns.get_mut(key), self.torrents.get(tkey)) else {
            return;
        };
        let mut hs = Handshake::new(t.meta.info_hash, self.peer_id);
        hs.set(ReservedBit::EXTENSION_PROTOCOL, true);
        hs.set(ReservedBit::FAST_EXTENSION, true);
        conn.send.queue(Bytes::copy_from_slice(&hs.encode()));
    }

    /// The reactor read into connection `key`'s receive buffer: handles everything
    /// complete in it, and closes the connection if the peer closed its side.
    pub fn on_input(&mut self, key: usize, pass: ReadPass, now: Instant) {
        if pass.bytes > 0 {
            if let Some(s) = self.conns.get_mut(key).and_then(|c| c.session_mut()) {
                s.on_received(now);
            }
        }
        self.process_input(key, now);
        if pass.eof {
            self.close(key, CloseReason::PeerClosed);
        }
    }

    /// The outgoing connect of `key` completed: the handshake wait starts and ours is
    /// sent.
    pub fn on_connected(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.state = ConnState::Handshaking;
        conn.started_at = now;
        let Some(tkey) = conn.torrent else {
            return self.close(key, CloseReason::ConnectFailed);
        };
        self.send_handshake(key, tkey);
        self.want_write(key, now);
    }

    /// The reactor wrote `written` bytes of connection `key`'s queue: once the queue is
    /// below half its high-water mark, more queued requests are served.
    pub fn on_written(&mut self, key: usize, written: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(s) = conn.session_mut() else { return };
        if written > 0 {
            s.on_sent(now);
        }
        let rate = s.up_rate();
        if conn.send.queued() < super::high_water(rate) / 2 {
            self.serve_requests(key, now);
        }
    }

    /// Decodes and handles everything complete in the receive buffer.
    pub(crate) fn process_input(&mut self, key: usize, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            match conn.state {
                ConnState::Connecting | ConnState::Closing(_) => return,
                ConnState::Handshaking => match Handshake::decode(conn.recv.unconsumed()) {
                    Ok(None) => return,
                    Ok(Some((hs, used))) => {
                        // A torrent still checking its data: the handshake waits in the
                        // buffer until it is active (see `check`).
                        let checking = self.by_hash.get(&hs.info_hash).is_some_and(|&t| {
                            matches!(self.torrents[t].state, TorrentState::Checking { .. })
                        });
                        if checking {
                            return;
                        }
                        conn.recv.consume(used);
                        self.on_handshake(key, hs, now);
                    }
                    Err(_) => return self.close(key, CloseReason::BadHandshake),
                },
                ConnState::Fetching(_) => {
                    let Some(tkey) = conn.torrent else {
                        return self.close(key, CloseReason::ProtocolViolation);
                    };
                    let max_frame = conn.max_frame;
                    let Connection {
                        recv, send, state, ..
                    } = conn;
                    let ConnState::Fetching(p) = state else {
                        return;
                    };
                    let (msg, used) = match peer::decode(recv.unconsumed(), max_frame) {
                        Ok(Some(m)) => m,
                        Ok(None) => return,
                        Err(_) => return self.close(key, CloseReason::ProtocolViolation),
                    };
                    let result = p.on_message(msg, send, now);
                    let who = (p.tag(), p.addr());
                    recv.consume(used);
                    self.on_fetched(key, tkey, who, result, now);
                }
                ConnState::Active(_) => {
                    let Some(tkey) = conn.torrent else {
                        return self.close(key, CloseReason::ProtocolViolation);
                    };
                    let Some(t) = self.torrents.get_mut(tkey) else {
                        return self.close(key, CloseReason::Shutdown);
                    };
                    let max_frame = conn.max_frame;
                    let Connection {
                        recv, send, state, ..
                    } = conn;
                    let ConnState::Active(s) = state else { return };
                    let input = recv.unconsumed();
                    let (msg, used) = match peer::decode(input, max_frame) {
                        Ok(Some(m)) => m,
                        Ok(None) => return,
                        Err(e) => {
                            log::debug!("{}: {e}", s.addr());
                            return self.close(key, CloseReason::ProtocolViolation);
                        }
                    };
                    let offered = super::pex::offered(&self.extensions, t);
                    let mut ctx = torrent_ctx(t, &offered);
                    let verdict = s.on_message(msg, &mut ctx, send, now);
                    recv.consume(used);
                    self.apply_effects(key, tkey, now);
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
        if !self.torrents[tkey].is_running() {
            return self.close(key, CloseReason::UnknownInfoHash);
        }
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
        let duplicate = self.torrents[tkey]
            .peers
            .iter()
            .any(|&k| self.active(k).is_some_and(|s| s.peer_id() == hs.peer_id));
        if duplicate {
            return self.close(key, CloseReason::Duplicate);
        }
        if self.torrents[tkey].bans.peer_banned(conn.addr, hs.peer_id) {
            return self.close(key, CloseReason::Banned);
        }
        // A dial was counted against the torrent's cap when it was made.
        if !outgoing && self.torrent_full(tkey) {
            return self.close(key, CloseReason::TorrentFull);
        }
        if !outgoing {
            self.conns[key].torrent = Some(tkey);
            self.send_handshake(key, tkey);
        }
        if self.torrents[tkey].state == TorrentState::FetchingMetadata {
            if !hs.has(ReservedBit::EXTENSION_PROTOCOL) {
                return self.close(key, CloseReason::NoMetadata);
            }
            return self.start_fetching_peer(key, tkey, hs.peer_id, now);
        }
        let t = &mut self.torrents[tkey];
        let conn = &mut self.conns[key];
        let pieces = t.storage.layout.piece_count();
        let mut s = PeerSession::new(PeerKey(key as u32), conn.addr, hs.peer_id, pieces, now);
        s.set_capabilities(
            hs.has(ReservedBit::FAST_EXTENSION),
            hs.has(ReservedBit::EXTENSION_PROTOCOL),
        );
        conn.max_frame = peer::max_frame_for(pieces);
        let offered = super::pex::offered(&self.extensions, t);
        let greeting = Greeting {
            extensions: &offered,
            listen_port: self.listen_port,
            metadata_size: super::metadata::metadata_size(&t.meta.info_raw),
        };
        s.greet(t.have(), greeting, &mut conn.send);
        conn.state = ConnState::Active(Box::new(s));
        t.peers.push(conn.id);
    }

    /// Applies what connection `key`'s session asked for beyond its own connection.
    fn apply_effects(&mut self, key: usize, tkey: usize, now: Instant) {
        loop {
            let Some(effect) = self
                .conns
                .get_mut(key)
                .and_then(|c| c.session_mut())
                .and_then(|s| s.poll_effect())
            else {
                return;
            };
            match effect {
                PeerEffect::BlockLatency(d) => {
                    if let Some(stats) = self.stats.as_deref_mut() {
                        stats.record(Metric::RequestToBlock, d);
                    }
                }
                PeerEffect::Cancel { peer, block } => {
                    let other = peer.0 as usize;
                    if let Some(conn) = self.conns.get_mut(other) {
                        let Connection { state, send, .. } = conn;
                        if let ConnState::Active(s) = state {
                            s.cancel(block, send);
                        }
                        self.want_write(other, now);
                    }
                }
                PeerEffect::VerifyPiece { piece, data } => {
                    let t = &mut self.torrents[tkey];
                    let job = Job::VerifyAndWrite {
                        torrent: t.id,
                        storage: t.storage.clone(),
                        piece,
                        data,
                        expected: t.meta.info.pieces[piece.0 as usize],
                        block_hashes: t.suspects.contains_key(&piece.0),
                    };
                    self.submit(job);
                }
                PeerEffect::Serve => self.serve_requests(key, now),
                PeerEffect::Request => self.fill_requests(key, now),
                PeerEffect::UnchokeIfFree => self.unchoke_if_free(key, tkey, now),
                PeerEffect::Extended {
                    ext: Extension::UtPex,
                    payload,
                } => self.on_pex(key, tkey, &payload, now),
                PeerEffect::Extended {
                    ext: Extension::UtMetadata,
                    payload,
                } => self.on_ut_metadata(key, tkey, &payload, now),
                // A peer's DHT port is not used: nodes come from the DHT itself.
                PeerEffect::DhtPort(_) => {}
            }
        }
    }

    /// Sends requests until the peer's pipeline is full; none while the torrent's
    /// pieces waiting to be verified and written are past
    /// `Limits::max_unhashed_bytes` (a completion resumes them, see
    /// [`Engine::on_completion`]).
    pub(crate) fn fill_requests(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) else {
            return;
        };
        if t.assembly.unhashed_bytes() > self.config.limits.max_unhashed_bytes {
            return;
        }
        let ConnState::Active(s) = &mut conn.state else {
            return;
        };
        let want = s.request_room(t.complete());
        if want == 0 {
            return;
        }
        let gates = caps::gates(&mut self.throttles, t, Way::Down);
        let want = caps::afford(gates, conn.id, want, u64::from(BLOCK_SIZE));
        if want == 0 {
            return;
        }
        let asked = s.send_requests(&mut t.picker, want, now, &mut conn.send);
        caps::spend(caps::gates(&mut self.throttles, t, Way::Down), asked);
    }

    /// A worker finished a job.
    pub fn on_completion(&mut self, c: Completion, timing: JobTiming, now: Instant) {
        if let Some(stats) = self.stats.as_deref_mut() {
            record_job(stats, &c, timing);
        }
        match c {
            Completion::PieceWritten {
                torrent,
                piece,
                result,
                block_hashes,
                ..
            } => self.on_piece_written(
                torrent,
                piece,
                result,
                block_hashes.unwrap_or_default(),
                now,
            ),
            Completion::PieceRead {
                torrent,
                piece,
                result,
            } => self.on_piece_ready(torrent, piece, result.map(Some), now),
            Completion::PiecePrefetched {
                torrent,
                piece,
                result,
            } => self.on_piece_ready(torrent, piece, result.map(|_| None), now),
            Completion::PieceHashed {
                torrent,
                piece,
                result,
                ..
            } => self.on_piece_hashed(torrent, piece, result, now),
            Completion::ResumeSaved {
                torrent,
                have,
                result,
            } => self.on_resume_saved(torrent, have, result),
            Completion::TaskDone { tag, output } if tag == super::magnet::ENGINE_TASK => {
                self.on_fetched_prepared(output)
            }
            Completion::TaskDone { tag, output } => self.tasks_done.push_back((tag, output)),
        }
    }

    /// The slot of torrent `id`, if it is still the torrent in that slot.
    pub(crate) fn torrent_slot(&self, id: TorrentId) -> Option<usize> {
        let slot = id.slot as usize;
        self.torrents.get(slot).filter(|t| t.id == id).map(|_| slot)
    }

    fn on_piece_written(
        &mut self,
        torrent: TorrentId,
        piece: PieceIndex,
        result: std::io::Result<bool>,
        block_hashes: Vec<[u8; 20]>,
        now: Instant,
    ) {
        let Some(tkey) = self.torrent_slot(torrent) else {
            return;
        };
        let t = &mut self.torrents[tkey];
        let was_over = t.assembly.unhashed_bytes() > self.config.limits.max_unhashed_bytes;
        let sources = t.assembly.finish(piece);
        // Back under the cap after a verified piece: the peers whose requests stopped
        // ask again (after a failed one every peer asks anyway, below).
        let resume_requests = was_over
            && t.assembly.unhashed_bytes() <= self.config.limits.max_unhashed_bytes
            && matches!(result, Ok(true));
        match result {
            Ok(true) => {
                let liars = t.blame_verified(piece, &block_hashes);
                self.punish(tkey, liars);
                let t = &mut self.torrents[tkey];
                t.set_have(piece, true);
                t.resume_dirty = true;
                let complete = t.complete();
                if complete && t.stats.completed_at.is_none() {
                    t.stats.completed_at = Some(now);
                    if let Some(client) = t.tracker.as_mut() {
                        client.on_complete(now);
                    }
                }
                let peers = t.peers.clone();
                for ck in peers {
                    let Some(key) = self.live(ck) else { continue };
                    let conn = &mut self.conns[key];
                    let Connection { state, send, .. } = conn;
                    let ConnState::Active(s) = state else {
                        continue;
                    };
                    if let Err(reason) = s.on_piece_verified(piece, complete, send) {
                        self.close(key, reason);
                    }
                    self.want_write(key, now);
                }
                if complete {
                    self.save_resume(true);
                    self.tracker_changed.push(tkey);
                    self.stop_if_all_complete();
                } else if resume_requests {
                    let peers = self.torrents[tkey].peers.clone();
                    for key in self.live_all(peers) {
                        self.fill_requests(key, now);
                        self.want_write(key, now);
                    }
                }
            }
            Ok(false) => {
                t.stats.hash_failures += 1;
                t.picker.on_piece_failed(piece);
                log::warn!("piece {} failed its hash check", piece.0);
                let blamed = t.blame_failed(piece, sources, block_hashes);
                self.punish(tkey, blamed);
                let peers = self.torrents[tkey].peers.clone();
                for key in self.live_all(peers) {
                    self.fill_requests(key, now);
                    self.want_write(key, now);
                }
            }
            Err(e) => {
                // The piece is not marked verified; those that are stay in the resume
                // record written at shutdown, so a run after space is freed goes on.
                t.picker.on_piece_failed(piece);
                if !self.shutting_down {
                    self.events.push_back(EngineEvent::Error {
                        torrent: Some(t.id),
                        message: format!(
                            "{}: piece {}: {e}; stopping (verified pieces are kept)",
                            t.name(),
                            piece.0
                        ),
                    });
                }
                self.shutdown_wanted = true;
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
            for key in self.live_all(peers) {
                let covered = self.conns.get(key).is_some_and(|c| {
                    let id = match &c.state {
                        ConnState::Active(s) => Some(s.peer_id()),
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
            .filter(|&&k| self.active(k).is_some_and(|s| !s.am_choking()))
            .count();
        if unchoked < self.config.upload_slots {
            self.set_choke(key, false, now);
        }
    }

    fn set_choke(&mut self, key: usize, choke: bool, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Connection { state, send, .. } = conn;
        let ConnState::Active(s) = state else { return };
        if s.set_choking(choke, now, send) {
            self.want_write(key, now);
        }
    }

    /// Reassigns unchoke slots for torrent `tkey` with its choker (tit-for-tat while
    /// leeching, fastest upload with rotation while seeding, plus the optimistic
    /// unchoke): `upload_slots - 1` regular slots and one optimistic.
    pub(crate) fn rechoke(&mut self, tkey: usize, now: Instant) {
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let seeding = t.complete();
        let views: Vec<PeerView<ConnKey>> = t
            .peers
            .iter()
            .filter_map(|&key| match &self.conns.get(key.slot as usize)?.state {
                ConnState::Active(s) => Some(PeerView {
                    key,
                    interested: s.peer_interested(),
                    choked_by_us: s.am_choking(),
                    upload_rate: s.up_rate(),
                    download_rate: s.down_rate(),
                    snubbed: s.snubbed(),
                    last_unchoked_at: s.unchoked_at(),
                }),
                _ => None,
            })
            .collect();
        let slots = self.config.upload_slots.saturating_sub(1).max(1);
        let random = self.rng.next_u64();
        let decision = t.choker.rechoke(&views, slots, seeding, now, random);
        for key in self.live_all(decision.choke) {
            self.set_choke(key, true, now);
        }
        for key in self.live_all(decision.unchoke) {
            self.set_choke(key, false, now);
        }
    }

    /// Per-second housekeeping for one connection.
    pub(crate) fn peer_tick(&mut self, key: usize, now: Instant) {
        let (connect_timeout, handshake_timeout) = (
            self.config.limits.connect_timeout,
            self.config.limits.handshake_timeout,
        );
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match &mut conn.state {
            ConnState::Connecting if now.duration_since(conn.started_at) >= connect_timeout => {
                self.close(key, CloseReason::ConnectFailed)
            }
            ConnState::Handshaking if now.duration_since(conn.started_at) >= handshake_timeout => {
                self.close(key, CloseReason::HandshakeTimeout)
            }
            ConnState::Active(s) => {
                let Some(t) = conn.torrent.and_then(|t| self.torrents.get_mut(t)) else {
                    return;
                };
                if let Err(reason) = s.on_second(&mut t.picker, now, &mut conn.send) {
                    return self.close(key, reason);
                }
                self.fill_requests(key, now);
                self.want_write(key, now);
            }
            ConnState::Fetching(p) => {
                if let Some(reason) = p.on_second(now) {
                    self.close(key, reason);
                }
            }
            _ => {}
        }
    }
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
        Completion::PieceHashed { .. }
        | Completion::ResumeSaved { .. }
        | Completion::TaskDone { .. } => {}
    }
}
