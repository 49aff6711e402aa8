//! Every limit, default and interval in one place, each with one line on why.
//!
//! Depends on nothing. A bound that is hit has defined behaviour, stated where it is
//! enforced.

/// Largest .torrent file read from disk or argument; a bigger one is rejected as bad
/// input rather than read into memory. Real torrents of 100,000 files stay far below it.
pub const MAX_TORRENT_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Deepest bencode nesting accepted. Real metainfo nests four levels; the bound keeps a
/// hostile file from overflowing the decoder's stack.
pub const MAX_BENCODE_DEPTH: usize = 64;

/// Largest peer-wire frame ever accepted, counted as the length prefix counts it (the
/// id and payload, not the 4-byte prefix). libtorrent uses the same cap. A peer whose
/// frame is longer is closed as soon as its length prefix is read; the per-torrent
/// limit from `wire::peer::max_frame_for` is usually far smaller.
pub const MAX_PEER_FRAME: u32 = 1024 * 1024;

/// Most info-hashes one HTTP scrape may name (`info_hash` repeated). BEP 48 sets no
/// limit; clients batch far fewer (BEP 15 caps a UDP scrape at 74), so this refuses no
/// real client while bounding a scrape's work and answer. A query naming more is
/// refused with a failure reason, not cut short.
pub const MAX_HTTP_SCRAPE_HASHES: usize = 128;

/// Largest piece length accepted from a torrent; larger pieces would need buffers no
/// seed box wants to hold per piece.
pub const MAX_PIECE_LENGTH: u64 = 256 * 1024 * 1024;

/// Smallest and largest piece lengths `create --piece-length auto` picks.
pub const AUTO_PIECE_LENGTH_MIN: u64 = 16 * 1024;
/// See [`AUTO_PIECE_LENGTH_MIN`].
pub const AUTO_PIECE_LENGTH_MAX: u64 = 16 * 1024 * 1024;
/// `auto` picks the smallest power of two giving at most this many pieces.
pub const AUTO_TARGET_MAX_PIECES: u64 = 2000;

/// Longest path component we create on disk (the common file-system limit, in bytes).
pub const MAX_PATH_COMPONENT_BYTES: usize = 255;

/// Open files each worker thread keeps cached; the least recently used is closed first.
pub const WORKER_FD_CACHE: usize = 32;

/// Jobs queued to the worker pool per worker thread before submitters must wait for
/// completions. It bounds the memory of in-flight piece buffers.
pub const WORKER_QUEUE_PER_THREAD: usize = 2;

/// Most bytes of downloaded pieces per torrent handed out to the workers to verify and
/// write and not yet done. Past it the engine sends no new block requests for that
/// torrent (blocks already requested still arrive, so it is passed by at most the
/// peers' pipelines); a completion that brings it back under resumes requesting from
/// every peer of the torrent. It bounds the memory of pieces waiting for a busy disk.
pub const MAX_UNHASHED_BYTES_PER_TORRENT: u64 = 64 * 1024 * 1024;

/// How often the choker reconsiders who gets the regular upload slots (BEP 3: every
/// ten seconds, long enough for TCP to reach full speed on a new unchoke).
pub const RECHOKE_INTERVAL_SECS: u64 = 10;

/// How long one optimistic unchoke lasts before it rotates to another peer (BEP 3:
/// thirty seconds, three rechoke rounds).
pub const OPTIMISTIC_UNCHOKE_INTERVAL_SECS: u64 = 30;

/// Shortest wait between regular tracker announces, whatever a tracker's `interval` says,
/// so a misconfigured tracker is not hammered.
pub const TRACKER_REANNOUNCE_MIN_SECS: u64 = 60;

/// Longest wait between regular tracker announces, even when a tracker asks for more in
/// `interval` or `min interval`: a tracker cannot silence us for longer than this.
pub const TRACKER_REANNOUNCE_MAX_SECS: u64 = 3600;

/// Wait after the first announce round in which every tracker failed; it doubles with
/// each further failed round up to [`TRACKER_BACKOFF_MAX_SECS`] and resets on an answer.
pub const TRACKER_BACKOFF_BASE_SECS: u64 = 15;

/// Longest wait between announce rounds in which every tracker failed.
pub const TRACKER_BACKOFF_MAX_SECS: u64 = 30 * 60;

/// How long an HTTP announce may take, name look-up to last byte of the answer, before
/// the tracker counts as failed and the next one is tried (libtorrent's default too).
pub const TRACKER_HTTP_TIMEOUT_SECS: u64 = 30;

/// How long the `stopped` announces at shutdown may take; the reactor waits no longer.
pub const TRACKER_STOP_TIMEOUT_SECS: u64 = 5;

/// Tracker URLs one torrent uses (all tiers together); further ones are ignored with a
/// warning. Public torrents carry up to about a hundred.
pub const TRACKER_MAX_URLS: usize = 200;

/// Seconds a tracker tells clients to wait between regular announces. Half the
/// customary 30 minutes: seed-box and benchmark swarms churn, and an answer costs the
/// tracker microseconds.
pub const TRACKER_INTERVAL_SECS: u64 = 900;

/// Seconds a tracker asks clients to wait at least between announces (`min interval`),
/// libtorrent's own floor for automatic announces.
pub const TRACKER_MIN_INTERVAL_SECS: u64 = 300;

/// Slack beyond two intervals before a silent peer is dropped: covers a slow client
/// timer and a BEP 15 retransmission or two.
pub const TRACKER_PEER_GRACE_SECS: u64 = 120;

/// A peer that has not announced for this long is dropped from its swarm: it may miss
/// one re-announce (a lost datagram) but not two.
pub const TRACKER_PEER_TIMEOUT_SECS: u64 = 2 * TRACKER_INTERVAL_SECS + TRACKER_PEER_GRACE_SECS;

/// Swarms a tracker keeps at most; an announce for a new info-hash beyond it is refused.
pub const TRACKER_MAX_TORRENTS: usize = 100_000;

/// Peers one swarm keeps at most; a new peer beyond it is answered but not listed.
pub const TRACKER_MAX_PEERS_PER_TORRENT: usize = 100_000;

/// Peers a tracker keeps at most over all swarms (about 150 bytes each, so some 150 MB);
/// a new peer beyond it is answered but not listed.
pub const TRACKER_MAX_PEERS: usize = 1_000_000;

/// Peers returned when an announce does not say how many it wants (the usual client
/// default).
pub const TRACKER_DEFAULT_NUMWANT: u32 = 50;

/// Most peers returned by one announce, whatever it asks for: enough to fill a client's
/// connection limit, and 200 IPv4 peers make a 1,220-byte UDP answer, under one MTU.
pub const TRACKER_MAX_NUMWANT: u32 = 200;

/// Most torrents one scrape answers: the first this many of a request's info-hashes, or
/// of all swarms when it names none.
pub const TRACKER_SCRAPE_MAX: usize = 1000;

/// How often the tracker starts a sweep for expired peers. A peer is dropped at most
/// about this long after its timeout.
pub const TRACKER_EXPIRE_SWEEP_SECS: u64 = 60;

/// Peers (and swarms) one expiry step examines, so a sweep of a big tracker is spread
/// over reactor turns instead of stalling one: about a millisecond at most, when every
/// peer examined has expired.
pub const TRACKER_EXPIRE_BATCH: usize = 4096;

/// Length of a UDP tracker connection-id window. Ids of the current and the previous
/// window are accepted, so an id lives 2 to 4 minutes (BEP 15: accept it for two).
pub const TRACKER_CONNECTION_ID_WINDOW_SECS: u64 = 120;

/// Datagrams queued on one UDP socket while the kernel's send buffer is full. Past it a
/// new datagram is dropped and counted: every UDP exchange we take part in (BEP 15
/// either way) retransmits, and a queue that grew without end would only delay
/// answers until they were useless. 512 tracker answers are about 600 KB.
pub const UDP_SEND_QUEUE: usize = 512;

/// Largest request body the HTTP server reads (`Content-Length`); a request announcing
/// more is answered 400 and the connection closed. Tracker requests have no body; the
/// API's JSON requests stay far below it.
pub const HTTP_MAX_REQUEST_BODY: usize = 64 * 1024;

/// Largest request body the daemon's API reads: a .torrent upload (real ones stay
/// far below it). A request announcing more is answered 413 and closed.
pub const API_MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// How often a non-terminal progress line is printed during long operations.
pub const PROGRESS_LINE_INTERVAL_SECS: u64 = 5;

/// How often the progress bar is redrawn on a terminal.
pub const PROGRESS_BAR_INTERVAL_MILLIS: u64 = 200;

/// The `created by` string written into new torrents.
pub const CREATED_BY: &str = concat!("hivebt/", env!("CARGO_PKG_VERSION"));

/// Worker threads for the engine: the cores minus one for the reactor, at least one.
pub fn engine_worker_threads() -> usize {
    available_cores().saturating_sub(1).max(1)
}

/// Worker threads for `create` and `verify`, where the reactor thread is idle: every core.
pub fn batch_worker_threads() -> usize {
    available_cores()
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Failed pieces one peer endpoint may be implicated in before it is banned. One
/// failure can be bad luck (a bit flip on the way); two from the same endpoint is not.
pub const BAN_STRIKES: u32 = 2;

/// Banned endpoints of one address before the whole address is banned. Bans hit the
/// endpoint (address and port, and its peer id), because many honest peers share an
/// address (carrier-grade NAT, seed-box hosts, loopback); this bound keeps one peer
/// from escaping its ban forever by reconnecting from new ports.
pub const BAN_ENDPOINTS_PER_ADDRESS: u32 = 8;

/// Most endpoints with strikes remembered per torrent; past it the oldest strikes are
/// forgotten (bans are kept), so a flood of new endpoints cannot grow the table.
pub const BAN_MAX_STRUCK: usize = 4096;

/// The engine's and the reactor's runtime bounds, timeouts and intervals, each with its
/// default here. A run takes them from its `EngineConfig` (`Limits::default()` for the
/// commands today; the daemon's config file will set them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A connect that has not completed by then is abandoned.
    pub connect_timeout: std::time::Duration,
    /// A handshake that has not completed by then closes the connection.
    pub handshake_timeout: std::time::Duration,
    /// An incoming peer connected this long with neither side interested may be closed
    /// to make room for a new one at `--max-peers` (long enough for a new peer to send
    /// its bitfield and `interested`).
    pub evict_after: std::time::Duration,
    /// How often unchoke slots are reassigned.
    pub rechoke_interval: std::time::Duration,
    /// How often a changed resume record is written while running.
    pub resume_interval: std::time::Duration,
    /// Bytes of piece cache per torrent for serving uploads (buffered mode).
    pub piece_cache_bytes: usize,
    /// A torrent dials learned peers while it has fewer connections than this.
    pub peers_per_torrent: usize,
    /// Learned peers dialled per torrent per second at most.
    pub dials_per_second: usize,
    /// Hash jobs out per checking torrent, per worker thread.
    pub checks_per_worker: u32,
    /// Requests stop while a torrent has more bytes than this handed out to verify
    /// and write ([`MAX_UNHASHED_BYTES_PER_TORRENT`]).
    pub max_unhashed_bytes: u64,
    /// Bytes read from one peer connection per wake before others get their turn.
    pub read_budget: usize,
    /// Jobs queued to the worker pool per worker thread.
    pub jobs_per_worker: usize,
}

impl Default for Limits {
    fn default() -> Self {
        use std::time::Duration;
        Limits {
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(20),
            evict_after: Duration::from_secs(10),
            rechoke_interval: Duration::from_secs(RECHOKE_INTERVAL_SECS),
            resume_interval: Duration::from_secs(10),
            piece_cache_bytes: 32 << 20,
            peers_per_torrent: 60,
            dials_per_second: 10,
            checks_per_worker: 2,
            max_unhashed_bytes: MAX_UNHASHED_BYTES_PER_TORRENT,
            read_budget: 1 << 20,
            jobs_per_worker: 8,
        }
    }
}

/// Where the DHT joins when neither the configuration nor the command line names
/// bootstrap nodes: the public routers other clients use. Tests and benchmarks always
/// name loopback nodes or turn the DHT off, so that they never resolve these.
pub const DHT_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// The DHT's routing table in a state directory, read back at the next start.
pub const DHT_TABLE_FILE: &str = "dht.dat";

/// How often a torrent that has every piece is looked up and announced in the DHT:
/// at a random moment between this and half as long again, so the announce is
/// renewed before nodes forget it (they keep peers 30 minutes).
pub const DHT_ANNOUNCE_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How often a torrent still downloading is looked up, for new peers.
pub const DHT_SEARCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// How often a torrent with no peer at all is looked up.
pub const DHT_RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// DHT lookups for torrents running at once; the rest wait their turn.
pub const DHT_MAX_LOOKUPS: usize = 16;
