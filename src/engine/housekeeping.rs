//! The engine's periodic work: the per-second sweep over connections (peer exchange
//! messages among it, see `pex`), reconnecting
//! to configured peers, dialling tracker peers, resume records (written on the workers
//! while running, on the reactor thread at the end) and progress lines. The reactor
//! calls each from a tick of its timer heap (the rate-limit refills are in `caps`).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use super::{Engine, EngineEvent};
use crate::bitfield::Bitfield;
use crate::peer::close::CloseReason;
use crate::resume;
use crate::types::TorrentId;
use crate::workers::Job;
use std::time::Duration;

/// Resume records being written on the workers.
#[derive(Debug, Default)]
pub(crate) struct ResumeSaves {
    /// Torrents with a save under way, each with whether a forced one waits behind it.
    in_flight: HashMap<TorrentId, bool>,
    /// Torrents whose failed save was warned about; no warning again until one works.
    warned: HashSet<TorrentId>,
}

impl ResumeSaves {
    /// Whether any save is under way.
    pub(crate) fn busy(&self) -> bool {
        !self.in_flight.is_empty()
    }
}

/// Wait before connecting again to a configured peer whose working connection dropped.
pub(crate) const RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// Longest wait between attempts to reach a configured peer that keeps failing.
pub(crate) const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(300);

/// When to try a kept peer again after a connection to it closed: soon after a working
/// connection dropped, with exponential backoff after failed attempts, and not while
/// both sides are seeds (checked again every `MAX_RECONNECT_DELAY`).
pub(crate) fn reconnect_delay(reason: CloseReason, was_active: bool, failures: u32) -> Duration {
    match reason {
        CloseReason::BothSeeding | CloseReason::Duplicate | CloseReason::Banned => {
            MAX_RECONNECT_DELAY
        }
        // Closed only because a magnet's metadata came in: dialled again for the data.
        CloseReason::MetadataDone => Duration::ZERO,
        _ if was_active => RECONNECT_DELAY,
        _ => RECONNECT_DELAY
            .saturating_mul(1 << failures.min(6))
            .min(MAX_RECONNECT_DELAY),
    }
}

impl Engine {
    /// Reassigns unchoke slots in every torrent.
    pub fn rechoke_all(&mut self, now: Instant) {
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for t in keys {
            self.rechoke(t, now);
        }
    }

    /// The per-second sweep: connection timeouts, keep-alives, request timeouts,
    /// rates, redials, stalls, and the end of a download-and-exit run.
    pub fn second_tick(&mut self, now: Instant) {
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.peer_tick(key, now);
        }
        for (_, t) in self.torrents.iter_mut() {
            t.stats.down.tick();
            t.stats.up.tick();
        }
        self.expire_warm(now);
        if !self.shutting_down {
            self.pex_tick(now);
            self.reconnect_known(now);
            self.dial_candidates(now);
        }
        self.check_stalls(now);
        self.stop_if_all_complete();
    }

    /// With `exit_when_complete`, asks the run to stop once every torrent is complete
    /// and no piece of one is still being written. Called as soon as a piece verifies
    /// or a check finishes, so a download-and-exit run ends the turn it completes
    /// rather than at the next sweep, which calls it too.
    pub(crate) fn stop_if_all_complete(&mut self) {
        if self.config.exit_when_complete
            && !self.shutting_down
            && self
                .torrents
                .iter()
                .all(|(_, t)| t.complete() && !t.assembly.writing())
        {
            self.shutdown_wanted = true;
        }
    }

    /// Notes which torrents received payload since the last tick; with
    /// `stall_timeout`, stops the run when an incomplete torrent has had none for that
    /// long, saying why.
    fn check_stalls(&mut self, now: Instant) {
        let mut stalled = None;
        for (key, t) in self.torrents.iter_mut() {
            let bytes = t.stats.down.total();
            // The clock starts when the torrent can download.
            if bytes != t.stats.progress_bytes || t.complete() || !t.is_running() {
                t.stats.progress_bytes = bytes;
                t.stats.progress_at = now;
            } else if let Some(limit) = self.config.stall_timeout {
                if now.duration_since(t.stats.progress_at) >= limit && stalled.is_none() {
                    stalled = Some((key, limit));
                }
            }
        }
        let Some((key, limit)) = stalled else { return };
        if self.shutting_down {
            return;
        }
        let t = &self.torrents[key];
        let why = self
            .stall_reason(key)
            .unwrap_or_else(|| format!("{} peers, none sending", t.peers.len()));
        let message = format!(
            "{}: no progress for {} s: {why}; giving up (--timeout)",
            t.name(),
            limit.as_secs()
        );
        let torrent = Some(t.id);
        self.events
            .push_back(EngineEvent::Error { torrent, message });
        self.shutdown_wanted = true;
    }

    /// Why an incomplete torrent with no connected peer stands still, e.g.
    /// `no peers (2 known: 1 banned, 1 refused; trackers: 1 failing)`; `None` when it
    /// is complete or has peers.
    pub(crate) fn stall_reason(&self, tkey: usize) -> Option<String> {
        let t = self.torrents.get(tkey)?;
        if t.complete() || !t.peers.is_empty() || !t.is_running() {
            return None;
        }
        let c = t.peer_list.counts(|a| t.bans.endpoint_banned(a));
        let (known, banned, refused, waiting) = (c.known, c.banned, c.refused, c.waiting);
        let mut counts = Vec::new();
        for (n, what) in [
            (banned, "banned"),
            (refused, "refused"),
            (waiting, "to dial"),
        ] {
            if n > 0 {
                counts.push(format!("{n} {what}"));
            }
        }
        let mut why = format!("no peers ({known} known");
        if !counts.is_empty() {
            why.push_str(": ");
            why.push_str(&counts.join(", "));
        }
        match t.tracker.as_ref().map(|c| c.health()) {
            Some((n, true)) if n > 0 => why.push_str(&format!("; trackers: {n} failing")),
            Some((n, false)) if n > 0 => why.push_str(&format!("; trackers: {n} answering")),
            _ => why.push_str("; no trackers"),
        }
        if let Some(dht) = self.dht_status()
            && !t.meta.info.private
        {
            why.push_str(&format!("; dht: {} nodes", dht.nodes));
        }
        why.push(')');
        Some(why)
    }

    /// Dials peers learned from trackers while a torrent has fewer connections than
    /// its own connection cap, else `Limits::peers_per_torrent`, a few per second,
    /// never an address dialled in the last `REDIAL_AFTER`, never one we are already
    /// connected to, none once its dials in flight reach its own cap.
    pub(crate) fn dial_candidates(&mut self, now: Instant) {
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for tkey in keys {
            let mut budget = self.config.limits.dials_per_second;
            loop {
                let full = self.torrent_full(tkey);
                let t = &mut self.torrents[tkey];
                let target = t
                    .caps
                    .as_ref()
                    .and_then(|c| c.max_connections)
                    .unwrap_or(self.config.limits.peers_per_torrent);
                if budget == 0
                    || full
                    || !t.is_running()
                    || t.peers.len() >= target
                    || (t.complete() && self.config.exit_when_complete)
                {
                    break;
                }
                let (conns, bans) = (&self.conns, &t.bans);
                let skip = |a| bans.endpoint_banned(a) || conns.iter().any(|(_, c)| c.addr == a);
                let Some(addr) = t.peer_list.next_candidate(now, skip) else {
                    break;
                };
                budget -= 1;
                self.dial(addr, tkey, now);
            }
        }
    }

    /// Dials the kept peers (`--peer`) that are due, of every active torrent.
    pub(crate) fn reconnect_known(&mut self, now: Instant) {
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for tkey in keys {
            let t = &self.torrents[tkey];
            if !t.is_running() || (t.complete() && self.config.exit_when_complete) {
                continue;
            }
            let due: Vec<_> = t
                .peer_list
                .kept_due(now)
                .into_iter()
                .filter(|&(_, a)| !t.bans.endpoint_banned(a))
                .collect();
            for (i, addr) in due {
                let ok = self.dial(addr, tkey, now);
                let backoff = |n| reconnect_delay(CloseReason::ConnectFailed, false, n);
                self.torrents[tkey]
                    .peer_list
                    .on_kept_dialled(i, ok, now, backoff);
            }
        }
    }

    /// Queues a worker job writing the resume record of every torrent whose record is
    /// out of date (every torrent with `force`), unless pieces of it are still being
    /// written. One save per torrent is under way at a time (two would share a temporary
    /// file); one asked for meanwhile with `force` follows when it completes. The record
    /// counts as up to date only once a completion says it was written
    /// (`Engine::on_resume_saved`). None is queued while shutting down: the run's end
    /// writes every record (`Engine::save_resume_now`).
    pub fn save_resume(&mut self, force: bool) {
        if self.shutting_down || self.config.state_dir.is_none() {
            return;
        }
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.save_resume_of(key, force);
        }
    }

    /// [`Engine::save_resume`] for the torrent in slot `key`.
    fn save_resume_of(&mut self, key: usize, force: bool) {
        let (Some(dir), Some(t)) = (&self.config.state_dir, self.torrents.get(key)) else {
            return;
        };
        if !(t.resume_dirty || force) || t.assembly.writing() || !t.has_record() {
            return;
        }
        if let Some(again) = self.resume.in_flight.get_mut(&t.id) {
            *again |= force;
            return;
        }
        self.resume.in_flight.insert(t.id, false);
        self.jobs.push_back(Job::SaveResume {
            torrent: t.id,
            dir: dir.clone(),
            info_hash: t.meta.info_hash,
            storage: t.storage.clone(),
            have: t.have().clone(),
        });
    }

    /// A worker wrote (or failed to write) the resume record of `torrent` holding
    /// `have`. The record is up to date if no piece verified since the job was queued;
    /// a failure leaves it out of date, to be tried again, and warns once until a save
    /// succeeds.
    pub(crate) fn on_resume_saved(
        &mut self,
        torrent: TorrentId,
        have: Bitfield,
        result: std::io::Result<()>,
    ) {
        let again = self.resume.in_flight.remove(&torrent).unwrap_or(false);
        let Some(key) = self.torrent_slot(torrent) else {
            return;
        };
        let t = &mut self.torrents[key];
        match result {
            Ok(()) => {
                self.resume.warned.remove(&torrent);
                if *t.have() == have {
                    t.resume_dirty = false;
                }
            }
            Err(e) => {
                t.resume_dirty = true;
                if self.resume.warned.insert(torrent) {
                    let dir = self.config.state_dir.as_deref().unwrap_or(Path::new("."));
                    log::warn!("cannot write resume record in {}: {e}", dir.display());
                }
            }
        }
        if again {
            self.save_resume_of(key, true);
        }
    }

    /// Writes every torrent's resume record on this thread, unless pieces of it are
    /// still being written. For the end of a run: the loop has stopped, so nothing else
    /// waits on the reactor, and it stops only when no save is under way on the
    /// workers, so no two writers share a record's temporary file.
    pub(crate) fn save_resume_now(&mut self) {
        debug_assert!(self.resume.in_flight.is_empty(), "a save still under way");
        let Some(dir) = self.config.state_dir.clone() else {
            return;
        };
        for (_, t) in self.torrents.iter_mut() {
            if t.assembly.writing() || !t.has_record() {
                continue;
            }
            match resume::save(&dir, &t.meta.info_hash, &t.storage, t.have()) {
                Ok(()) => t.resume_dirty = false,
                Err(e) => log::warn!("cannot write resume record in {}: {e}", dir.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PieceIndex;

    /// An engine with one two-piece torrent and resume records under `/nonexistent`
    /// (no job runs here: the tests play the workers' part).
    fn engine() -> Engine {
        let mut config = crate::engine::tests::config();
        config.peers.clear();
        config.state_dir = Some("/nonexistent".into());
        crate::engine::tests::engine_with(config, vec![crate::engine::tests::active_spec(2, &[])])
    }

    /// The save job queued, if any: its torrent and the pieces it holds.
    fn next_save(e: &mut Engine) -> Option<(TorrentId, Bitfield)> {
        match e.next_job()? {
            Job::SaveResume { torrent, have, .. } => Some((torrent, have)),
            other => panic!("unexpected job {other:?}"),
        }
    }

    fn verify(e: &mut Engine, piece: u32) {
        let t = &mut e.torrents[0];
        t.set_have(PieceIndex(piece), true);
        t.resume_dirty = true;
    }

    #[test]
    fn a_resume_record_is_clean_only_once_written() {
        let mut e = engine();
        e.save_resume(false);
        assert!(next_save(&mut e).is_none(), "nothing to save yet");
        verify(&mut e, 0);
        e.save_resume(false);
        let (id, have) = next_save(&mut e).expect("a save queued");
        assert!(e.torrents[0].resume_dirty, "clean before the completion");
        assert!(e.writes_pending(), "the run waits for the save");
        // One save at a time; a forced one waits behind it.
        e.save_resume(true);
        assert!(next_save(&mut e).is_none());
        e.on_resume_saved(id, have, Ok(()));
        assert!(!e.torrents[0].resume_dirty);
        let (id, have) = next_save(&mut e).expect("the forced save follows");
        // A piece verified while the save was under way keeps the record out of date.
        verify(&mut e, 1);
        e.on_resume_saved(id, have, Ok(()));
        assert!(e.torrents[0].resume_dirty);
        assert!(!e.writes_pending());
    }

    #[test]
    fn a_failed_save_leaves_the_record_out_of_date_and_warns_once() {
        let mut e = engine();
        verify(&mut e, 0);
        for round in 0..3 {
            e.save_resume(false);
            let (id, have) = next_save(&mut e).expect("tried again");
            let full = std::io::Error::other("No space left on device");
            e.on_resume_saved(id, have, Err(full));
            assert!(e.torrents[0].resume_dirty, "round {round}");
            assert_eq!(e.resume.warned.len(), 1);
        }
        e.save_resume(false);
        let (id, have) = next_save(&mut e).expect("tried again");
        e.on_resume_saved(id, have, Ok(()));
        assert!(!e.torrents[0].resume_dirty);
        assert!(e.resume.warned.is_empty(), "a later failure warns again");
    }

    #[test]
    fn no_save_is_queued_while_shutting_down() {
        let mut e = engine();
        verify(&mut e, 0);
        e.begin_shutdown(Instant::now());
        e.save_resume(true);
        assert!(next_save(&mut e).is_none(), "the end of the run writes it");
    }

    /// A worker verified and wrote `piece` of the first torrent.
    fn written(e: &mut Engine, piece: u32, now: Instant) {
        let torrent = e.torrents[0].id;
        crate::engine::tests::piece_written(e, torrent, PieceIndex(piece), true, now);
    }

    #[test]
    fn a_download_and_exit_run_stops_when_its_last_piece_verifies() {
        use crate::engine::tests::{active_spec, config, engine_with};
        let now = Instant::now();
        let cfg = |exit_when_complete| {
            let mut c = config();
            c.peers.clear();
            c.exit_when_complete = exit_when_complete;
            c
        };
        let mut e = engine_with(cfg(true), vec![active_spec(3, &[0])]);
        e.second_tick(now);
        assert!(!e.take_shutdown_wanted(), "incomplete");
        written(&mut e, 1, now);
        assert!(!e.take_shutdown_wanted(), "one piece still missing");
        // The last piece: the run stops in this turn, not at the next sweep.
        written(&mut e, 2, now);
        assert!(e.torrents[0].complete());
        assert!(e.take_shutdown_wanted());
        // Without exit_when_complete a complete download goes on seeding.
        let mut e = engine_with(cfg(false), vec![active_spec(2, &[0])]);
        written(&mut e, 1, now);
        e.second_tick(now);
        assert!(!e.take_shutdown_wanted());
    }

    #[test]
    fn reconnect_backoff() {
        assert_eq!(
            reconnect_delay(CloseReason::PeerClosed, true, 0),
            RECONNECT_DELAY
        );
        assert_eq!(
            reconnect_delay(CloseReason::ConnectFailed, false, 1),
            RECONNECT_DELAY * 2
        );
        assert_eq!(
            reconnect_delay(CloseReason::ConnectFailed, false, 3),
            RECONNECT_DELAY * 8
        );
        assert_eq!(
            reconnect_delay(CloseReason::ConnectFailed, false, 30),
            MAX_RECONNECT_DELAY
        );
        assert_eq!(
            reconnect_delay(CloseReason::BothSeeding, true, 0),
            MAX_RECONNECT_DELAY
        );
    }
}
