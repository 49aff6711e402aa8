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

/// How often the choker reconsiders who gets the regular upload slots (BEP 3: every
/// ten seconds, long enough for TCP to reach full speed on a new unchoke).
pub const RECHOKE_INTERVAL_SECS: u64 = 10;

/// How long one optimistic unchoke lasts before it rotates to another peer (BEP 3:
/// thirty seconds, three rechoke rounds).
pub const OPTIMISTIC_UNCHOKE_INTERVAL_SECS: u64 = 30;

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
