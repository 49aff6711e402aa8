//! The engine's periodic work: the per-second sweep over connections, reconnecting
//! to configured peers, dialling tracker peers, rate-limit refills, resume records and
//! progress lines. The reactor calls each from a tick of its timer heap.

use std::time::Instant;

use super::Engine;
use crate::progress::human_bytes;
use crate::resume;
use crate::torrent::state::TorrentState;

/// A torrent dials learned peers while it has fewer connections than this.
const PEERS_PER_TORRENT: usize = 60;
/// Learned peers dialled per torrent per second at most.
const DIALS_PER_SECOND: usize = 10;

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
            t.down.tick();
            t.up.tick();
        }
        self.expire_warm(now);
        if !self.shutting_down {
            self.reconnect_known(now);
            self.dial_candidates(now);
        }
        self.check_stalls(now);
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
            let bytes = t.down.total();
            // The clock starts when the torrent can download.
            if bytes != t.progress_bytes || t.complete() || !t.is_active() {
                t.progress_bytes = bytes;
                t.progress_at = now;
            } else if let Some(limit) = self.config.stall_timeout {
                if now.duration_since(t.progress_at) >= limit && stalled.is_none() {
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
        eprintln!(
            "hivebt: error: {}: no progress for {} s: {why}; giving up (--timeout)",
            t.name(),
            limit.as_secs()
        );
        self.shutdown_wanted = true;
    }

    /// Why an incomplete torrent with no connected peer stands still, e.g.
    /// `no peers (2 known: 1 banned, 1 refused; trackers: 1 failing)`; `None` when it
    /// is complete or has peers.
    pub(crate) fn stall_reason(&self, tkey: usize) -> Option<String> {
        let t = self.torrents.get(tkey)?;
        if t.complete() || !t.peers.is_empty() || !t.is_active() {
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
        why.push(')');
        Some(why)
    }

    /// Dials peers learned from trackers while a torrent has fewer connections than
    /// `PEERS_PER_TORRENT`, a few per second, never an address dialled in the last
    /// `REDIAL_AFTER`, never one we are already connected to.
    pub(crate) fn dial_candidates(&mut self, now: Instant) {
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for tkey in keys {
            let mut budget = DIALS_PER_SECOND;
            loop {
                let t = &mut self.torrents[tkey];
                if budget == 0
                    || !t.is_active()
                    || t.peers.len() >= PEERS_PER_TORRENT
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

    /// Tops up the rate-limit buckets and lets throttled connections continue.
    pub fn refill_limits(&mut self, now: Instant) {
        if let Some(b) = &mut self.up_limit {
            b.refill(now);
            if b.available() {
                for ck in std::mem::take(&mut self.throttled_up) {
                    if let Some(key) = self.live(ck) {
                        self.serve_requests(key, now);
                    }
                }
            }
        }
        if let Some(b) = &mut self.down_limit {
            b.refill(now);
            if b.available() {
                for ck in std::mem::take(&mut self.throttled_down) {
                    if let Some(key) = self.live(ck) {
                        self.fill_requests(key, now);
                        self.want_write(key, now);
                    }
                }
            }
        }
    }

    /// Dials the kept peers (`--peer`) that are due, of every active torrent.
    pub(crate) fn reconnect_known(&mut self, now: Instant) {
        let keys: Vec<usize> = self.torrents.iter().map(|(k, _)| k).collect();
        for tkey in keys {
            let t = &self.torrents[tkey];
            if !t.is_active() || (t.complete() && self.config.exit_when_complete) {
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
                self.torrents[tkey].peer_list.on_kept_dialled(i, ok, now);
            }
        }
    }

    /// Writes the resume record of every torrent whose record is out of date (every
    /// torrent with `force`), unless pieces are still being written.
    pub fn save_resume(&mut self, force: bool) {
        let Some(dir) = self.config.state_dir.clone() else {
            return;
        };
        for (_, t) in self.torrents.iter_mut() {
            // A torrent still checking has a partial `have` that is no record.
            if (t.resume_dirty || force) && !t.assembly.writing() && t.is_active() {
                if let Err(e) = resume::save(&dir, &t.meta.info_hash, &t.storage, &t.have) {
                    log::warn!("cannot write resume record in {}: {e}", dir.display());
                }
                t.resume_dirty = false;
            }
        }
    }

    /// Prints a progress line per torrent that is still moving.
    pub fn print_progress(&self, now: Instant) {
        for (key, t) in self.torrents.iter() {
            if let TorrentState::Checking { done, .. } = t.state {
                let pct = f64::from(done) * 100.0 / f64::from(t.storage.layout.piece_count());
                let line = format!("{}: checking {pct:.1}%", t.name());
                crate::progress::transfer_line(pct, &line, now);
                continue;
            }
            if !t.is_active() {
                continue;
            }
            if t.complete() && t.up.per_second() == 0 && t.completed_at.is_some() {
                continue;
            }
            let total = t.storage.layout.total_length;
            let done = t.bytes_done();
            let down = t.down.per_second();
            let eta = if down > 0 && done < total {
                format!("{}s", (total - done) / down)
            } else {
                "-".into()
            };
            let pct = done as f64 * 100.0 / total as f64;
            let peers = self
                .stall_reason(key)
                .unwrap_or_else(|| format!("peers {}", t.peers.len()));
            let line = format!(
                "{}: {pct:.1}% down {}/s up {}/s eta {} {peers}",
                t.name(),
                human_bytes(down),
                human_bytes(t.up.per_second()),
                eta,
            );
            crate::progress::transfer_line(pct, &line, now);
        }
    }
}
