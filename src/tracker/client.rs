//! The tracker client of one torrent: whom to announce to, when, and with what event.
//!
//! Owns the torrent's trackers in their BEP 12 tiers, the announce schedule, the BEP 15
//! connect/announce machine of each UDP tracker and a seeded random generator for tier
//! shuffling and transaction ids. Depends on `tracker` (the shared announce model),
//! `types`, `config` and the decoded BEP 15 answers of `wire::udp_tracker`. Sans-io:
//! the reactor resolves names, opens HTTP connections and moves datagrams; this core
//! only sees decoded values, takes `now` as an argument and never reads the clock.
//! [`exchanges`] matches UDP answers to the torrent and request they answer, for all
//! torrents at once; [`status`] keeps what each tracker came to, for display
//! ([`TrackerClient::tracker_status`]).
//!
//! # Driving it
//!
//! Inputs are the `on_*` methods and [`TrackerClient::handle_timeout`]; outputs are
//! [`TrackerClient::poll_transmit`] (requests to send), [`TrackerClient::poll_event`]
//! (peers, swarm counts, warnings and errors) and [`TrackerClient::poll_timeout`] (the
//! next instant at which `handle_timeout` has work). After any input the reactor drains
//! `poll_transmit` and `poll_event`, then re-arms its timer at `poll_timeout`.
//!
//! Every [`Outgoing`] names one exchange by its [`RequestId`]: one HTTP request, or one
//! BEP 15 step (connect or announce) with all its retransmissions, which repeat the same
//! request id and transaction id. Answers to a request id that is no longer current (the
//! client gave up on it or moved on) are ignored, as are UDP answers whose transaction
//! id does not match. Request ids are unique within one client only.
//!
//! # Schedule
//!
//! 1. **Trackers.** URLs whose scheme is not `http`, `https` or `udp` (any case) are
//!    dropped with a [`ClientEvent::Warning`] and listed by
//!    [`TrackerClient::dropped_urls`]; empty URLs and repeats are dropped silently,
//!    empty tiers vanish, and at most [`TRACKER_MAX_URLS`] are used. Each tier is
//!    shuffled once with the seed (BEP 12).
//! 2. **Rounds.** An announce round tries one tracker at a time: the first tier in
//!    order, then the next tier, and so on. A tracker that answers is moved to the front
//!    of its tier (BEP 12) and ends the round. A tracker that fails (an error answer,
//!    a transport failure the reactor reports, or a timeout) hands over at once to the
//!    next URL. Every round starts again at the first URL of the first tier.
//! 3. **First round** starts at construction: its request is ready for `poll_transmit`
//!    at once.
//! 4. **After an answer** the next round starts
//!    `max(interval, min_interval)` clamped to
//!    [`TRACKER_REANNOUNCE_MIN_SECS`]`..=`[`TRACKER_REANNOUNCE_MAX_SECS`] later
//!    (60 s to 1 h; a larger `min interval` is cut to the cap).
//! 5. **After a round in which every tracker failed** the next round starts
//!    `15 s · 2^(k-1)` later for the k-th such round in a row, at most 30 min
//!    ([`TRACKER_BACKOFF_BASE_SECS`], [`TRACKER_BACKOFF_MAX_SECS`]); an answer resets
//!    k. A failing tracker never stops the transfer; it only yields no peers.
//! 6. **Events.** A tracker that has not answered one of our announces yet gets
//!    `started`. [`TrackerClient::on_complete`] makes `completed` pending: the next
//!    request to any tracker carries it until one tracker answers it, then it is never
//!    sent again. If the client is waiting for a regular re-announce, that round starts
//!    at once (events are not held back by `min interval`); during a backoff it waits
//!    for the backoff; with a request in flight it follows right after that answer.
//!    Otherwise the event is `none`.
//! 7. **Stop.** [`TrackerClient::on_stop`] abandons whatever is in flight and sends
//!    `stopped` (with `numwant` 0), in parallel, to every tracker that answered one of
//!    our announces, and to no other. [`TrackerClient::is_stopped`] turns true when all
//!    of them answered or failed, or [`TRACKER_STOP_TIMEOUT_SECS`] (5 s) after
//!    `on_stop`, whichever comes first. No retransmission happens in that window.
//! 8. **HTTP** requests fail after [`TRACKER_HTTP_TIMEOUT_SECS`] (30 s) without an
//!    answer, counted from `poll_transmit`, so name look-up and connecting count too.
//!    The reactor closes the connection at the same deadline (a later answer is
//!    ignored) and reports earlier failures with [`TrackerClient::on_request_failed`].
//! 9. **UDP** (BEP 15): a `connect` step, unless the tracker's connection id arrived
//!    less than 60 s ago, then the `announce` step with that id. A transmission
//!    without an answer is repeated after `15 · 2^n` s, n = 0, 1, ..., 8 counted over
//!    the whole attempt on that tracker (both steps); without an answer to the ninth
//!    transmission (after 7665 s in all) the tracker fails. A retransmitted announce
//!    whose connection id has expired becomes a fresh `connect`. An error answer drops
//!    the tracker's connection id.
//! 10. **Reannounce.** [`TrackerClient::reannounce`] (an operator's request) starts a
//!     round at once when waiting between rounds, a backoff included, unless the last
//!     round started less than [`MANUAL_REANNOUNCE_SPACING`] ago; a round under way
//!     already is that announce.
//!
//! # Invariants
//!
//! - At most one request is in flight outside the stop phase; every in-flight attempt
//!   is for a tracker of some tier.
//! - `tiers` holds every index of `trackers` exactly once, and no tier is empty.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::{
    TRACKER_BACKOFF_BASE_SECS, TRACKER_BACKOFF_MAX_SECS, TRACKER_HTTP_TIMEOUT_SECS,
    TRACKER_MAX_URLS, TRACKER_REANNOUNCE_MAX_SECS, TRACKER_REANNOUNCE_MIN_SECS,
    TRACKER_STOP_TIMEOUT_SECS,
};
use crate::rng::Rng;
use crate::tracker::{AnnounceRequest, AnnounceResponse, Event};
use crate::types::{InfoHash, PeerId};
use crate::wire::udp_tracker::UdpResponse;

pub mod exchanges;
pub mod status;

use status::TrackerRecord;
pub use status::{STATUS_ERROR_MAX_CHARS, TrackerState, TrackerStatus};

/// BEP 15: "If a response is not received after 15 * 2 ^ n seconds, the client should
/// retransmit the request", the base of that schedule.
pub const UDP_RETRANSMIT_BASE: Duration = Duration::from_secs(15);

/// BEP 15 lets n grow "up to 8 (3840 seconds)", which would hold a silent tracker for
/// over two hours before the next one is tried. Like libtorrent (about 30 s) and
/// Transmission (about 60 s) we give up much sooner: without an answer to the
/// transmission with n = 3 (after 15 + 30 + 60 + 120 s) the tracker fails over.
pub const UDP_MAX_RETRANSMIT_EXPONENT: u32 = 3;

/// BEP 15: "a client can use a connection ID until one minute after it has received it".
pub const UDP_CONNECTION_ID_LIFETIME: Duration = Duration::from_secs(60);

/// The least time between the start of one round and a round that
/// [`TrackerClient::reannounce`] starts, so that a script pressing the button cannot
/// flood the trackers.
pub const MANUAL_REANNOUNCE_SPACING: Duration = Duration::from_secs(10);

const REANNOUNCE_MIN: Duration = Duration::from_secs(TRACKER_REANNOUNCE_MIN_SECS);
const REANNOUNCE_MAX: Duration = Duration::from_secs(TRACKER_REANNOUNCE_MAX_SECS);
const HTTP_TIMEOUT: Duration = Duration::from_secs(TRACKER_HTTP_TIMEOUT_SECS);
const STOP_TIMEOUT: Duration = Duration::from_secs(TRACKER_STOP_TIMEOUT_SECS);

/// Names one exchange with a tracker: one HTTP request, or one BEP 15 step with its
/// retransmissions. Unique within one [`TrackerClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What stays the same in every announce of one torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceParams {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Our listening port.
    pub port: u16,
    /// The `key` sent with every announce, so trackers recognise us across address
    /// changes.
    pub key: u32,
    /// Peers asked for; `None` lets the tracker choose. `stopped` always asks for 0.
    pub numwant: Option<u32>,
    /// Bytes missing at start (0 for a seed); later values come from
    /// [`TrackerClient::set_progress`].
    pub left: u64,
}

/// A request for the reactor to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Names the exchange; the answer is reported with it.
    pub request_id: RequestId,
    /// The tracker URL, exactly as used for the announce.
    pub url: String,
    /// What to send.
    pub kind: RequestKind,
}

/// The protocol-specific part of an [`Outgoing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// An HTTP(S) GET announce (BEP 3). Answer with
    /// [`TrackerClient::on_http_response`].
    Http {
        /// The announce's parameters.
        announce: AnnounceRequest,
        /// The `tracker id` this tracker gave earlier, to send back as `trackerid`.
        tracker_id: Option<Vec<u8>>,
    },
    /// A datagram of BEP 15.
    Udp(UdpStep),
}

/// One step of the BEP 15 exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpStep {
    /// A connect request. Answer with [`TrackerClient::on_udp_connect_response`].
    Connect {
        /// The transaction id to put in the datagram.
        transaction_id: u32,
    },
    /// An announce request. Answer with [`TrackerClient::on_udp_announce_response`].
    Announce {
        /// The connection id the tracker gave in its connect response.
        connection_id: u64,
        /// The transaction id to put in the datagram.
        transaction_id: u32,
        /// The announce's parameters.
        announce: AnnounceRequest,
    },
}

/// What the client tells the reactor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Peers from one announce answer, each address once, none with port 0.
    Peers(Vec<SocketAddr>),
    /// Something to log as a warning: a tracker's `warning message`, or a URL dropped.
    Warning {
        /// The tracker (or dropped URL) concerned.
        url: String,
        /// What happened.
        message: String,
    },
    /// A tracker failed this time (error answer, transport failure, timeout); the client
    /// has already moved on. For logging.
    Error {
        /// The tracker concerned.
        url: String,
        /// What happened.
        message: String,
    },
    /// The address a tracker saw us at (BEP 24), for the DHT's BEP 42 node id.
    ExternalIp(std::net::IpAddr),
    /// Swarm counts from an announce answer that carried any.
    Swarm {
        /// The tracker that answered.
        url: String,
        /// Seeders, if the tracker said.
        complete: Option<u32>,
        /// Leechers, if the tracker said.
        incomplete: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http,
    Udp,
}

#[derive(Debug)]
struct Tracker {
    url: String,
    protocol: Protocol,
    /// BEP 15 connection id and when it arrived (UDP only).
    connection: Option<(u64, Instant)>,
    /// The tracker answered one of our announces this session: it gets no more
    /// `started`, and gets `stopped` at the end.
    knows_us: bool,
    /// The `tracker id` it gave (HTTP only).
    tracker_id: Option<Vec<u8>>,
    /// What its attempts came to, for display.
    record: TrackerRecord,
}

impl Tracker {
    /// The connection id, if it is still usable at `now`.
    fn connection_id(&self, now: Instant) -> Option<u64> {
        self.connection
            .filter(|&(_, at)| now.saturating_duration_since(at) < UDP_CONNECTION_ID_LIFETIME)
            .map(|(id, _)| id)
    }
}

/// Where an attempt stands in its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// An HTTP request; only a response or failure for its request id is legal.
    Http,
    /// A BEP 15 connect; only a connect response or error with this transaction id is
    /// legal.
    UdpConnect { transaction_id: u32 },
    /// A BEP 15 announce; only an announce response or error with this transaction id
    /// is legal.
    UdpAnnounce {
        connection_id: u64,
        transaction_id: u32,
    },
}

/// One announce to one tracker.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    tracker: usize,
    event: Event,
    request_id: RequestId,
    step: Step,
    /// The current step waits for `poll_transmit` (first send or retransmission).
    unsent: bool,
    /// When the current transmission times out; `None` while unsent.
    deadline: Option<Instant>,
    /// Transmissions that timed out so far in this attempt (BEP 15's n).
    timeouts: u32,
}

/// Where the client stands.
#[derive(Debug)]
enum Phase {
    /// No usable tracker: nothing ever happens.
    NoTrackers,
    /// Between rounds; the next round starts at `until`.
    Waiting { until: Instant },
    /// A round is at `tiers[tier][pos]`, with `attempt` in flight (or about to be sent).
    Announcing {
        tier: usize,
        pos: usize,
        attempt: Attempt,
    },
    /// `on_stop` was called; `stopped` announces are in flight until `until`.
    Stopping {
        until: Instant,
        attempts: Vec<Attempt>,
    },
    /// Done for good; every input is ignored.
    Stopped,
}

impl Phase {
    fn attempt_mut(&mut self, id: RequestId) -> Option<&mut Attempt> {
        match self {
            Phase::Announcing { attempt, .. } if attempt.request_id == id => Some(attempt),
            Phase::Stopping { attempts, .. } => attempts.iter_mut().find(|a| a.request_id == id),
            _ => None,
        }
    }
}

/// Whether the download finished and `completed` reached a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    /// Still downloading (or started as a seed): no `completed` to send.
    NotYet,
    /// The download finished; the next announce says `completed`.
    Pending,
    /// A tracker answered our `completed`; it is never sent again.
    Announced,
}

/// The random generator and request counter, apart from the rest so they can be used
/// while an attempt in `Phase` is borrowed.
#[derive(Debug)]
struct Ids {
    rng: Rng,
    next_request: u64,
}

impl Ids {
    fn transaction_id(&mut self) -> u32 {
        (self.rng.next_u64() >> 32) as u32
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }
}

/// The tracker client of one torrent. See the module docs for its schedule.
#[derive(Debug)]
pub struct TrackerClient {
    params: AnnounceParams,
    uploaded: u64,
    downloaded: u64,
    left: u64,
    trackers: Vec<Tracker>,
    /// Indexes into `trackers`, by tier, in the order they are tried.
    tiers: Vec<Vec<usize>>,
    dropped: Vec<String>,
    phase: Phase,
    /// Rounds in a row in which every tracker failed.
    failed_rounds: u32,
    /// When the last round started (rule 10).
    round_started_at: Option<Instant>,
    completion: Completion,
    ids: Ids,
    events: VecDeque<ClientEvent>,
}

impl TrackerClient {
    /// A client for the BEP 12 `tiers` of tracker URLs (as from the metainfo). Each tier
    /// is shuffled with `seed`, which also seeds the transaction ids. The first round
    /// starts at `now`: its request is ready for [`TrackerClient::poll_transmit`].
    pub fn new(
        params: AnnounceParams,
        tiers: Vec<Vec<String>>,
        seed: u64,
        now: Instant,
    ) -> TrackerClient {
        let mut client = TrackerClient {
            left: params.left,
            params,
            uploaded: 0,
            downloaded: 0,
            trackers: Vec::new(),
            tiers: Vec::new(),
            dropped: Vec::new(),
            phase: Phase::NoTrackers,
            failed_rounds: 0,
            round_started_at: None,
            completion: Completion::NotYet,
            ids: Ids {
                rng: Rng::new(seed),
                next_request: 0,
            },
            events: VecDeque::new(),
        };
        client.add_tiers(tiers);
        if !client.tiers.is_empty() {
            client.start_round(now);
        }
        client.check_invariants();
        client
    }

    /// Rule 1 of the module docs: keeps the usable URLs, shuffling each tier.
    fn add_tiers(&mut self, tiers: Vec<Vec<String>>) {
        let mut seen = HashSet::new();
        let mut ignored: Option<(String, usize)> = None;
        for tier in tiers {
            let mut kept = Vec::new();
            for url in tier {
                let url = url.trim();
                if url.is_empty() || seen.contains(url) {
                    continue;
                }
                if self.trackers.len() + self.dropped.len() >= TRACKER_MAX_URLS {
                    ignored.get_or_insert_with(|| (url.to_owned(), 0)).1 += 1;
                    continue;
                }
                seen.insert(url.to_owned());
                match protocol_of(url) {
                    Some(protocol) => {
                        kept.push(self.trackers.len());
                        self.trackers.push(Tracker {
                            url: url.to_owned(),
                            protocol,
                            connection: None,
                            knows_us: false,
                            tracker_id: None,
                            record: TrackerRecord::new(),
                        });
                    }
                    None => {
                        self.dropped.push(url.to_owned());
                        self.events.push_back(ClientEvent::Warning {
                            url: url.to_owned(),
                            message: "unsupported tracker scheme (only http, https and udp)"
                                .to_owned(),
                        });
                    }
                }
            }
            // BEP 12: "the list of trackers in each tier should be shuffled".
            for i in (1..kept.len()).rev() {
                let j = self.ids.rng.below(i + 1);
                kept.swap(i, j);
            }
            if !kept.is_empty() {
                self.tiers.push(kept);
            }
        }
        if let Some((url, n)) = ignored {
            self.events.push_back(ClientEvent::Warning {
                url,
                message: format!(
                    "this and {} more tracker URLs ignored: at most {TRACKER_MAX_URLS} are used",
                    n - 1
                ),
            });
        }
    }

    /// How many usable trackers there are, and whether every one of them failed in the
    /// last round (for the reason a download stands still).
    pub fn health(&self) -> (usize, bool) {
        (self.trackers.len(), self.failed_rounds > 0)
    }

    /// Updates the session's payload counters and the bytes still missing; the next
    /// request (including a retransmission) carries them.
    pub fn set_progress(&mut self, uploaded: u64, downloaded: u64, left: u64) {
        self.uploaded = uploaded;
        self.downloaded = downloaded;
        self.left = left;
    }

    /// The download finished: `completed` goes to the trackers once (rule 6). Later
    /// calls do nothing; a torrent that starts as a seed never calls it.
    pub fn on_complete(&mut self, now: Instant) {
        if self.completion != Completion::NotYet {
            return;
        }
        self.completion = Completion::Pending;
        if matches!(self.phase, Phase::Waiting { .. }) && self.failed_rounds == 0 {
            self.start_round(now);
        }
        self.check_invariants();
    }

    /// Shutdown: abandons what is in flight and sends `stopped` to every tracker that
    /// knows us (rule 7). Returns the instant by which [`TrackerClient::is_stopped`]
    /// will be true at the latest (`now` when nothing needs sending). Calling it again
    /// changes nothing.
    pub fn on_stop(&mut self, now: Instant) -> Instant {
        match self.phase {
            Phase::Stopping { until, .. } => return until,
            Phase::Stopped => return now,
            _ => {}
        }
        let known: Vec<usize> = self
            .tiers
            .iter()
            .flatten()
            .copied()
            .filter(|&t| self.trackers[t].knows_us)
            .collect();
        let attempts: Vec<Attempt> = known
            .into_iter()
            .map(|t| self.new_attempt(t, Event::Stopped, now))
            .collect();
        if attempts.is_empty() {
            self.phase = Phase::Stopped;
            return now;
        }
        let until = now + STOP_TIMEOUT;
        self.phase = Phase::Stopping { until, attempts };
        self.check_invariants();
        until
    }

    /// Announce now, for an operator (rule 10). Between rounds, a round starts as when
    /// the wait ends and its request is ready for [`TrackerClient::poll_transmit`]; with
    /// a round under way nothing more is sent. True in both cases. False, and nothing
    /// happens, when the last round started less than [`MANUAL_REANNOUNCE_SPACING`]
    /// ago, after [`TrackerClient::on_stop`], or without usable trackers.
    pub fn reannounce(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Announcing { .. } => return true,
            Phase::Waiting { .. } => {}
            Phase::NoTrackers | Phase::Stopping { .. } | Phase::Stopped => return false,
        }
        let spaced = self
            .round_started_at
            .is_none_or(|at| now.saturating_duration_since(at) >= MANUAL_REANNOUNCE_SPACING);
        if spaced {
            self.start_round(now);
            self.check_invariants();
        }
        spaced
    }

    /// True once the stop phase is over: every `stopped` was answered or failed, or the
    /// stop deadline passed. The reactor may then drop the client.
    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// The answer to an HTTP announce: the decoded response, or the tracker's `failure
    /// reason` or a transport error as `Err`.
    pub fn on_http_response(
        &mut self,
        request_id: RequestId,
        result: Result<AnnounceResponse, String>,
        now: Instant,
    ) {
        let Some(a) = self.phase.attempt_mut(request_id) else {
            return;
        };
        if a.step != Step::Http {
            return;
        }
        let a = *a;
        match result {
            Ok(response) => self.succeeded(a, response, now),
            Err(message) => self.failed(a, message, now),
        }
        self.check_invariants();
    }

    /// A BEP 15 connect response. Ignored unless it answers the current connect step of
    /// `request_id` with its `transaction_id`.
    pub fn on_udp_connect_response(
        &mut self,
        request_id: RequestId,
        transaction_id: u32,
        connection_id: u64,
        now: Instant,
    ) {
        let Some(a) = self.phase.attempt_mut(request_id) else {
            return;
        };
        if a.step != (Step::UdpConnect { transaction_id }) {
            return;
        }
        self.trackers[a.tracker].connection = Some((connection_id, now));
        a.step = Step::UdpAnnounce {
            connection_id,
            transaction_id: self.ids.transaction_id(),
        };
        a.request_id = self.ids.request_id();
        a.unsent = true;
        a.deadline = None;
        self.check_invariants();
    }

    /// A BEP 15 announce response. Ignored unless it answers the current announce step
    /// of `request_id` with its `transaction_id`.
    pub fn on_udp_announce_response(
        &mut self,
        request_id: RequestId,
        transaction_id: u32,
        response: AnnounceResponse,
        now: Instant,
    ) {
        let Some(a) = self.phase.attempt_mut(request_id) else {
            return;
        };
        if !matches!(a.step, Step::UdpAnnounce { transaction_id: t, .. } if t == transaction_id) {
            return;
        }
        let a = *a;
        self.succeeded(a, response, now);
        self.check_invariants();
    }

    /// A BEP 15 error response to either step: the tracker fails this time and its
    /// connection id is forgotten. Ignored unless `transaction_id` matches the current
    /// step of `request_id`.
    pub fn on_udp_error(
        &mut self,
        request_id: RequestId,
        transaction_id: u32,
        message: String,
        now: Instant,
    ) {
        let Some(a) = self.phase.attempt_mut(request_id) else {
            return;
        };
        let current = match a.step {
            Step::Http => return,
            Step::UdpConnect { transaction_id } => transaction_id,
            Step::UdpAnnounce { transaction_id, .. } => transaction_id,
        };
        if current != transaction_id {
            return;
        }
        let a = *a;
        self.trackers[a.tracker].connection = None;
        self.failed(a, message, now);
        self.check_invariants();
    }

    /// A decoded BEP 15 answer to `request_id` (matched by
    /// [`exchanges::UdpExchanges`]): dispatched to the connect, announce or error
    /// handler above. A scrape answer is ignored (we send no scrapes).
    pub fn on_udp_response(&mut self, request_id: RequestId, response: UdpResponse, now: Instant) {
        match response {
            UdpResponse::Connect {
                transaction_id,
                connection_id,
            } => self.on_udp_connect_response(request_id, transaction_id, connection_id, now),
            UdpResponse::Announce {
                transaction_id,
                response,
            } => self.on_udp_announce_response(request_id, transaction_id, response, now),
            UdpResponse::Error {
                transaction_id,
                message,
            } => self.on_udp_error(request_id, transaction_id, message, now),
            UdpResponse::Scrape { .. } => {}
        }
    }

    /// The reactor could not complete `request_id`: the name did not resolve, the
    /// connection was refused or reset, the HTTP answer was malformed, and so on. The
    /// tracker fails this time.
    pub fn on_request_failed(&mut self, request_id: RequestId, reason: String, now: Instant) {
        let Some(a) = self.phase.attempt_mut(request_id) else {
            return;
        };
        let a = *a;
        self.failed(a, reason, now);
        self.check_invariants();
    }

    /// The next request to send, if any. The time-outs of rules 8 and 9 count from
    /// here.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing> {
        let attempt = match &mut self.phase {
            Phase::Announcing { attempt, .. } if attempt.unsent => attempt,
            Phase::Stopping { attempts, .. } => attempts.iter_mut().find(|a| a.unsent)?,
            _ => return None,
        };
        attempt.unsent = false;
        let wait = match attempt.step {
            Step::Http => HTTP_TIMEOUT,
            Step::UdpConnect { .. } | Step::UdpAnnounce { .. } => {
                UDP_RETRANSMIT_BASE * (1 << attempt.timeouts.min(UDP_MAX_RETRANSMIT_EXPONENT))
            }
        };
        attempt.deadline = Some(now + wait);
        let attempt = *attempt;
        Some(self.outgoing(&attempt))
    }

    /// True when a request waits for [`TrackerClient::poll_transmit`] (after a failure
    /// reported by the reactor, say): the reactor should drain it now rather than at
    /// [`TrackerClient::poll_timeout`], which has no deadline for it.
    pub fn wants_transmit(&self) -> bool {
        match &self.phase {
            Phase::Announcing { attempt, .. } => attempt.unsent,
            Phase::Stopping { attempts, .. } => attempts.iter().any(|a| a.unsent),
            _ => false,
        }
    }

    /// The next thing to tell the reactor, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`TrackerClient::handle_timeout`] next has work: a round to start, a
    /// time-out or retransmission, or the end of the stop phase. `None` when nothing is
    /// scheduled (or a request waits for `poll_transmit`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Waiting { until } | Phase::Stopping { until, .. } => Some(*until),
            Phase::Announcing { attempt, .. } => attempt.deadline,
            Phase::NoTrackers | Phase::Stopped => None,
        }
    }

    /// Does whatever is due at `now`; harmless to call early.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Waiting { until } if now >= *until => self.start_round(now),
            Phase::Announcing { attempt, .. } if attempt.deadline.is_some_and(|d| now >= d) => {
                self.attempt_timed_out(now)
            }
            Phase::Stopping { until, attempts } if now >= *until => {
                let message = format!("no answer to stopped within {TRACKER_STOP_TIMEOUT_SECS} s");
                for a in attempts.iter() {
                    self.trackers[a.tracker].record.on_failure(&message);
                }
                self.phase = Phase::Stopped;
            }
            _ => {}
        }
        self.check_invariants();
    }

    /// The trackers in use, by tier, in the order the next round tries them.
    pub fn tiers(&self) -> Vec<Vec<&str>> {
        self.tiers
            .iter()
            .map(|tier| {
                tier.iter()
                    .map(|&t| self.trackers[t].url.as_str())
                    .collect()
            })
            .collect()
    }

    /// URLs dropped because their scheme is not http, https or udp.
    pub fn dropped_urls(&self) -> &[String] {
        &self.dropped
    }

    /// Starts a round at the first URL of the first tier.
    fn start_round(&mut self, now: Instant) {
        self.round_started_at = Some(now);
        self.announce_at(0, 0, now);
    }

    fn announce_at(&mut self, tier: usize, pos: usize, now: Instant) {
        let tracker = self.tiers[tier][pos];
        let event = if self.completion == Completion::Pending {
            Event::Completed
        } else if !self.trackers[tracker].knows_us {
            Event::Started
        } else {
            Event::None
        };
        let attempt = self.new_attempt(tracker, event, now);
        self.phase = Phase::Announcing { tier, pos, attempt };
    }

    fn new_attempt(&mut self, tracker: usize, event: Event, now: Instant) -> Attempt {
        let t = &self.trackers[tracker];
        let step = match (t.protocol, t.connection_id(now)) {
            (Protocol::Http, _) => Step::Http,
            (Protocol::Udp, Some(connection_id)) => Step::UdpAnnounce {
                connection_id,
                transaction_id: self.ids.transaction_id(),
            },
            (Protocol::Udp, None) => Step::UdpConnect {
                transaction_id: self.ids.transaction_id(),
            },
        };
        Attempt {
            tracker,
            event,
            request_id: self.ids.request_id(),
            step,
            unsent: true,
            deadline: None,
            timeouts: 0,
        }
    }

    /// Rules 8 and 9: an HTTP request fails; a UDP step is retransmitted or fails.
    fn attempt_timed_out(&mut self, now: Instant) {
        let Phase::Announcing { attempt, .. } = &mut self.phase else {
            return;
        };
        let tracker = &mut self.trackers[attempt.tracker];
        if attempt.step == Step::Http {
            let a = *attempt;
            let message = format!("no answer within {TRACKER_HTTP_TIMEOUT_SECS} s");
            return self.failed(a, message, now);
        }
        if attempt.timeouts >= UDP_MAX_RETRANSMIT_EXPONENT {
            let a = *attempt;
            let message = format!(
                "no answer to {} transmissions (BEP 15)",
                UDP_MAX_RETRANSMIT_EXPONENT + 1
            );
            return self.failed(a, message, now);
        }
        attempt.timeouts += 1;
        attempt.unsent = true;
        attempt.deadline = None;
        if matches!(attempt.step, Step::UdpAnnounce { .. }) && tracker.connection_id(now).is_none()
        {
            tracker.connection = None;
            attempt.step = Step::UdpConnect {
                transaction_id: self.ids.transaction_id(),
            };
            attempt.request_id = self.ids.request_id();
        }
    }

    /// `a` was answered: rules 2, 4 and 6.
    fn succeeded(&mut self, a: Attempt, response: AnnounceResponse, now: Instant) {
        let tracker = &mut self.trackers[a.tracker];
        tracker.knows_us = a.event != Event::Stopped;
        tracker
            .record
            .on_answer(response.complete, response.incomplete);
        if let Some(id) = response.tracker_id {
            tracker.tracker_id = Some(id);
        }
        let url = tracker.url.clone();
        if let Some(message) = response.warning {
            self.events.push_back(ClientEvent::Warning {
                url: url.clone(),
                message,
            });
        }
        let (tier, pos) = match &mut self.phase {
            Phase::Announcing { tier, pos, .. } => (*tier, *pos),
            Phase::Stopping { attempts, .. } => {
                attempts.retain(|x| x.request_id != a.request_id);
                if attempts.is_empty() {
                    self.phase = Phase::Stopped;
                }
                return;
            }
            _ => return,
        };
        // BEP 12: a tracker that answers moves to the front of its tier.
        let t = self.tiers[tier].remove(pos);
        self.tiers[tier].insert(0, t);
        self.failed_rounds = 0;
        if a.event == Event::Completed {
            self.completion = Completion::Announced;
        }
        if let Some(ip) = response.external_ip {
            self.events.push_back(ClientEvent::ExternalIp(ip));
        }
        if response.complete.is_some() || response.incomplete.is_some() {
            self.events.push_back(ClientEvent::Swarm {
                url,
                complete: response.complete,
                incomplete: response.incomplete,
            });
        }
        let mut seen = HashSet::with_capacity(response.peers.len());
        let peers: Vec<SocketAddr> = response
            .peers
            .iter()
            .map(|p| p.addr)
            .filter(|addr| addr.port() != 0 && seen.insert(*addr))
            .collect();
        self.trackers[a.tracker].record.on_peers(peers.len());
        if !peers.is_empty() {
            self.events.push_back(ClientEvent::Peers(peers));
        }
        if self.completion == Completion::Pending {
            self.start_round(now);
        } else {
            let wait = reannounce_wait(response.interval, response.min_interval);
            self.phase = Phase::Waiting { until: now + wait };
        }
    }

    /// `a` failed: rules 2 and 5.
    fn failed(&mut self, a: Attempt, message: String, now: Instant) {
        let tracker = &mut self.trackers[a.tracker];
        tracker.record.on_failure(&message);
        self.events.push_back(ClientEvent::Error {
            url: tracker.url.clone(),
            message,
        });
        match &mut self.phase {
            Phase::Announcing { tier, pos, .. } => {
                let (tier, pos) = (*tier, *pos);
                if pos + 1 < self.tiers[tier].len() {
                    self.announce_at(tier, pos + 1, now);
                } else if tier + 1 < self.tiers.len() {
                    self.announce_at(tier + 1, 0, now);
                } else {
                    self.failed_rounds += 1;
                    let until = now + backoff(self.failed_rounds);
                    self.phase = Phase::Waiting { until };
                }
            }
            Phase::Stopping { attempts, .. } => {
                attempts.retain(|x| x.request_id != a.request_id);
                if attempts.is_empty() {
                    self.phase = Phase::Stopped;
                }
            }
            _ => {}
        }
    }

    fn outgoing(&self, a: &Attempt) -> Outgoing {
        let tracker = &self.trackers[a.tracker];
        let kind = match a.step {
            Step::Http => RequestKind::Http {
                announce: self.announce_request(a.event),
                tracker_id: tracker.tracker_id.clone(),
            },
            Step::UdpConnect { transaction_id } => {
                RequestKind::Udp(UdpStep::Connect { transaction_id })
            }
            Step::UdpAnnounce {
                connection_id,
                transaction_id,
            } => RequestKind::Udp(UdpStep::Announce {
                connection_id,
                transaction_id,
                announce: self.announce_request(a.event),
            }),
        };
        Outgoing {
            request_id: a.request_id,
            url: tracker.url.clone(),
            kind,
        }
    }

    fn announce_request(&self, event: Event) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: self.params.info_hash,
            peer_id: self.params.peer_id,
            port: self.params.port,
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left: self.left,
            event,
            numwant: if event == Event::Stopped {
                Some(0)
            } else {
                self.params.numwant
            },
            key: Some(self.params.key),
            compact: true,
            no_peer_id: true,
            claimed_ip: None,
        }
    }

    /// Checks the invariants of the module docs (debug builds only).
    fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let mut all: Vec<usize> = self.tiers.iter().flatten().copied().collect();
        all.sort_unstable();
        assert!(all.iter().copied().eq(0..self.trackers.len()));
        assert!(self.tiers.iter().all(|t| !t.is_empty()));
        match &self.phase {
            Phase::NoTrackers => assert!(self.trackers.is_empty()),
            Phase::Announcing { tier, pos, attempt } => {
                assert_eq!(self.tiers[*tier][*pos], attempt.tracker);
                assert_eq!(attempt.unsent, attempt.deadline.is_none());
            }
            Phase::Stopping { attempts, .. } => assert!(!attempts.is_empty()),
            Phase::Waiting { .. } | Phase::Stopped => {}
        }
    }
}

/// The scheme of `url`, if it is one we announce to.
fn protocol_of(url: &str) -> Option<Protocol> {
    let (scheme, _) = url.split_once("://")?;
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        Some(Protocol::Http)
    } else if scheme.eq_ignore_ascii_case("udp") {
        Some(Protocol::Udp)
    } else {
        None
    }
}

/// Rule 4: the wait before the next regular round.
fn reannounce_wait(interval: u32, min_interval: Option<u32>) -> Duration {
    let secs = interval.max(min_interval.unwrap_or(0));
    Duration::from_secs(u64::from(secs)).clamp(REANNOUNCE_MIN, REANNOUNCE_MAX)
}

/// Rule 5: the wait after the `failed_rounds`-th failed round in a row (`>= 1`).
fn backoff(failed_rounds: u32) -> Duration {
    let doublings = failed_rounds.saturating_sub(1).min(32);
    let secs = TRACKER_BACKOFF_BASE_SECS.saturating_mul(1 << doublings);
    Duration::from_secs(secs.min(TRACKER_BACKOFF_MAX_SECS))
}

#[cfg(test)]
mod tests;
