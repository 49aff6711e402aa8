//! What each tracker of one [`TrackerClient`] came to, for display (a daemon's tracker
//! list): its state, its last error, the swarm counts it gave, the peers it gave and
//! when the next round reaches it.
//!
//! Owns `TrackerRecord`, the per-tracker tally the client updates wherever an attempt
//! ends (an answer, an error answer, a transport failure, a timeout), and the read-only
//! [`TrackerClient::tracker_status`]. Nothing here feeds back into the schedule.
//!
//! # Invariants
//!
//! - A record holds at most one error string of at most [`STATUS_ERROR_MAX_CHARS`]
//!   characters, so a client's status memory is bounded by its tracker count.
//! - `Updating` is never stored: it is read from the client's phase, so it cannot
//!   outlive the attempt it describes.

use std::time::{Duration, Instant};

use super::{Phase, TrackerClient};

/// The longest error text kept per tracker, in characters; longer ones are cut (a
/// `failure reason` is whatever the tracker chose to send).
pub const STATUS_ERROR_MAX_CHARS: usize = 200;

/// Where one tracker stands, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerState {
    /// No attempt on it has ended this session, and none is under way.
    NotContacted,
    /// An attempt on it is under way: sent and waiting for an answer, or queued for
    /// [`TrackerClient::poll_transmit`] (a BEP 15 retransmission included).
    Updating,
    /// Its last attempt was answered.
    Working,
    /// Its last attempt failed: a `failure reason` or BEP 15 error answer, a transport
    /// failure, or no answer in time.
    Failed,
}

impl TrackerState {
    /// A stable lowercase name ("not_contacted", "updating", "working", "failed").
    pub fn as_str(&self) -> &'static str {
        match self {
            TrackerState::NotContacted => "not_contacted",
            TrackerState::Updating => "updating",
            TrackerState::Working => "working",
            TrackerState::Failed => "failed",
        }
    }
}

/// One tracker of a [`TrackerClient`], as [`TrackerClient::tracker_status`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The tracker URL, exactly as used for announces.
    pub url: String,
    /// Its BEP 12 tier, 0 first.
    pub tier: usize,
    /// Where it stands.
    pub state: TrackerState,
    /// Why its last attempt failed (at most [`STATUS_ERROR_MAX_CHARS`] characters);
    /// `None` unless `state` is `Failed`, or `Updating` after a failure.
    pub last_error: Option<String>,
    /// How long from `now` until the next round starts, for the tracker that round
    /// tries first; `None` for the others, and for all while a round is under way or
    /// the client stops.
    pub next_announce: Option<Duration>,
    /// Seeders, from its last answer that carried swarm counts.
    pub seeders: Option<u32>,
    /// Leechers, from its last answer that carried swarm counts.
    pub leechers: Option<u32>,
    /// Peers it gave this session (each answer's distinct addresses, summed).
    pub peers_received: u64,
}

/// How the last ended attempt on a tracker went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// No attempt ended yet.
    None,
    /// Answered.
    Answered,
    /// Failed, with the (truncated) reason.
    Failed(String),
}

/// The per-tracker tally behind [`TrackerStatus`].
#[derive(Debug, Clone)]
pub(super) struct TrackerRecord {
    outcome: Outcome,
    seeders: Option<u32>,
    leechers: Option<u32>,
    peers_received: u64,
}

impl TrackerRecord {
    pub(super) fn new() -> TrackerRecord {
        TrackerRecord {
            outcome: Outcome::None,
            seeders: None,
            leechers: None,
            peers_received: 0,
        }
    }

    /// An attempt was answered; `complete` and `incomplete` replace the counts when
    /// the answer carried either (as [`super::ClientEvent::Swarm`] does).
    pub(super) fn on_answer(&mut self, complete: Option<u32>, incomplete: Option<u32>) {
        self.outcome = Outcome::Answered;
        if complete.is_some() || incomplete.is_some() {
            self.seeders = complete;
            self.leechers = incomplete;
        }
    }

    /// An answer gave `n` distinct peers.
    pub(super) fn on_peers(&mut self, n: usize) {
        self.peers_received = self.peers_received.saturating_add(n as u64);
    }

    /// An attempt failed for `reason`.
    pub(super) fn on_failure(&mut self, reason: &str) {
        let kept = match reason.char_indices().nth(STATUS_ERROR_MAX_CHARS) {
            Some((cut, _)) => &reason[..cut],
            None => reason,
        };
        self.outcome = Outcome::Failed(kept.to_owned());
    }
}

impl TrackerClient {
    /// Every usable tracker in tier order (the order the next round tries them), with
    /// what it came to this session. `now` only measures `next_announce`.
    pub fn tracker_status(&self, now: Instant) -> Vec<TrackerStatus> {
        let next_round = match self.phase {
            Phase::Waiting { until } => Some(until.saturating_duration_since(now)),
            _ => None,
        };
        let mut out = Vec::with_capacity(self.trackers.len());
        for (tier, trackers) in self.tiers.iter().enumerate() {
            for (pos, &t) in trackers.iter().enumerate() {
                let tracker = &self.trackers[t];
                let record = &tracker.record;
                let state = match (&record.outcome, self.in_flight(t)) {
                    (_, true) => TrackerState::Updating,
                    (Outcome::None, false) => TrackerState::NotContacted,
                    (Outcome::Answered, false) => TrackerState::Working,
                    (Outcome::Failed(_), false) => TrackerState::Failed,
                };
                let last_error = match &record.outcome {
                    Outcome::Failed(reason) => Some(reason.clone()),
                    Outcome::None | Outcome::Answered => None,
                };
                out.push(TrackerStatus {
                    url: tracker.url.clone(),
                    tier,
                    state,
                    last_error,
                    next_announce: next_round.filter(|_| tier == 0 && pos == 0),
                    seeders: record.seeders,
                    leechers: record.leechers,
                    peers_received: record.peers_received,
                });
            }
        }
        out
    }

    /// Whether an attempt on `tracker` is under way (sent or queued).
    fn in_flight(&self, tracker: usize) -> bool {
        match &self.phase {
            Phase::Announcing { attempt, .. } => attempt.tracker == tracker,
            Phase::Stopping { attempts, .. } => attempts.iter().any(|a| a.tracker == tracker),
            Phase::NoTrackers | Phase::Waiting { .. } | Phase::Stopped => false,
        }
    }
}
