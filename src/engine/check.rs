//! Rechecks inside the engine. A torrent whose verified pieces are not known (no
//! resume record, or one the files no longer match) starts in
//! `TorrentState::Checking`: its pieces are hashed on the worker pool, a few at a time
//! so other work still gets the pool, and each one that matches the metainfo is
//! marked verified. When the last comes back the torrent becomes active (its picker
//! rebuilt, its tracker client started, the connections that waited in their handshake
//! taken in), or fails when it was to seed data of which nothing verifies.
//!
//! Invariant: while checking, `done <= next <= pieces`, and exactly `next - done` hash
//! jobs of the torrent are out.

use std::time::Instant;

use super::{Engine, EngineEvent, new_tracker};
use crate::disk::ReadError;
use crate::peer::close::CloseReason;
use crate::peer::conn::ConnState;
use crate::torrent::state::{Torrent, TorrentState};
use crate::types::{PieceIndex, TorrentId};
use crate::workers::Job;

impl Engine {
    /// Whether no torrent is still checking its data.
    pub fn all_checked(&self) -> bool {
        !self
            .torrents
            .iter()
            .any(|(_, t)| matches!(t.state, TorrentState::Checking { .. }))
    }

    /// Hands more of checking torrent `tkey`'s pieces to the workers, keeping a few
    /// out per worker thread.
    pub(crate) fn pump_check(&mut self, tkey: usize) {
        // Stopping: the check ends with the run (nothing is recorded of it).
        if self.shutting_down {
            return;
        }
        let in_flight = self.config.limits.checks_per_worker * self.config.workers.max(1) as u32;
        let Some(t) = self.torrents.get_mut(tkey) else {
            return;
        };
        let TorrentState::Checking { next, done } = &mut t.state else {
            return;
        };
        let pieces = t.storage.layout.piece_count();
        let mut jobs = Vec::new();
        while *next < pieces && *next - *done < in_flight {
            jobs.push(Job::HashPiece {
                torrent: t.id,
                storage: t.storage.clone(),
                piece: PieceIndex(*next),
            });
            *next += 1;
        }
        for job in jobs {
            self.submit(job);
        }
    }

    /// A piece of a checking torrent was hashed (or could not be read: not verified).
    pub(crate) fn on_piece_hashed(
        &mut self,
        torrent: TorrentId,
        piece: PieceIndex,
        result: Result<[u8; 20], ReadError>,
        now: Instant,
    ) {
        let Some(tkey) = self.torrent_slot(torrent) else {
            return;
        };
        let t = &mut self.torrents[tkey];
        let TorrentState::Checking { next, done } = &mut t.state else {
            return;
        };
        *done += 1;
        let finished = *done == t.storage.layout.piece_count() && *next == *done;
        let expected = t.meta.info.pieces.get(piece.0 as usize);
        if result.is_ok_and(|h| Some(&h) == expected) {
            t.set_have(piece, true);
        }
        if finished {
            self.finish_check(tkey, now);
        } else {
            self.pump_check(tkey);
        }
    }

    /// Every piece of `tkey` was hashed: it becomes active, or fails when it was to
    /// seed data of which nothing verifies.
    fn finish_check(&mut self, tkey: usize, now: Instant) {
        let t = &mut self.torrents[tkey];
        let (verified, pieces) = (t.have().count_ones(), t.storage.layout.piece_count());
        if t.require_data && verified == 0 {
            let why = format!(
                "{}: no piece of {} verifies under {}; nothing to seed",
                t.meta.info_hash,
                t.name(),
                t.storage.root.display()
            );
            t.state = TorrentState::Failed(why);
            // A one-shot run stops when a torrent it was asked to run cannot.
            self.shutdown_wanted = true;
            self.refuse_waiting(tkey);
            return;
        }
        if t.require_data && verified < pieces {
            self.events.push_back(EngineEvent::Warning {
                torrent: Some(t.id),
                message: format!(
                    "{}: only {verified} of {pieces} pieces verify; seeding those",
                    t.name()
                ),
            });
        }
        t.resume_dirty = true;
        if t.start_paused {
            t.state = TorrentState::Paused;
            self.refuse_waiting(tkey);
            return;
        }
        t.state = TorrentState::Active;
        t.stats.progress_at = now;
        self.start_tracker(tkey, now);
        self.take_in_waiting(tkey, now);
        // Dial the kept peers now, not at the next per-second sweep: a download that
        // checked its (empty) files first would otherwise start a second late.
        if !self.shutting_down {
            self.reconnect_known(now);
        }
        // Likewise a download whose files were already complete ends now.
        self.stop_if_all_complete();
    }

    /// Starts torrent `tkey`'s tracker client, if it has trackers.
    pub(super) fn start_tracker(&mut self, tkey: usize, now: Instant) {
        let mut seeds = [self.random(), self.random()].into_iter();
        let mut random = move || seeds.next().unwrap_or(0);
        let t: &mut Torrent = &mut self.torrents[tkey];
        t.tracker = new_tracker(
            &self.config,
            &t.meta,
            &t.storage,
            t.have(),
            self.peer_id,
            self.listen_port,
            &mut random,
            now,
        );
        if t.tracker.is_some() {
            self.tracker_changed.push(tkey);
        }
    }

    /// The connections whose handshake named `tkey` while it was checking go on.
    fn take_in_waiting(&mut self, tkey: usize, now: Instant) {
        for key in self.waiting_for(tkey) {
            self.process_input(key, now);
            self.want_write(key, now);
        }
    }

    /// The connections waiting for `tkey` are closed: it will not run.
    pub(super) fn refuse_waiting(&mut self, tkey: usize) {
        for key in self.waiting_for(tkey) {
            self.close(key, CloseReason::UnknownInfoHash);
        }
    }

    /// Connections still in their handshake whose buffered handshake names `tkey`.
    fn waiting_for(&self, tkey: usize) -> Vec<usize> {
        let Some(hash) = self.torrents.get(tkey).map(|t| t.meta.info_hash) else {
            return Vec::new();
        };
        self.conns
            .iter()
            .filter(|(_, c)| matches!(c.state, ConnState::Handshaking))
            .filter(|(_, c)| {
                crate::wire::peer::Handshake::decode(c.recv.unconsumed())
                    .ok()
                    .flatten()
                    .is_some_and(|(hs, _)| hs.info_hash == hash)
            })
            .map(|(k, _)| k)
            .collect()
    }
}
