//! hivebt: a BitTorrent engine for seed boxes, dedicated seeding servers and
//! benchmarking runs.
//!
//! # Shape
//!
//! One reactor thread owns every socket and all protocol state; SHA-1 hashing and disk
//! I/O run on a small pool of worker threads ([`workers`]) that post completions back
//! and wake the reactor through a `mio::Waker`. Everything that decides is sans-io:
//! the codecs in [`wire`] and the torrent model in [`torrent`] take bytes and return
//! values, never touching sockets, threads or the clock.
//!
//! # Modules, lowest first
//!
//! - [`types`], [`config`], [`error`]: newtypes, every limit with its default, the
//!   command-level error.
//! - [`rng`]: the one random-number source (a seeded generator, seeded from the
//!   operating system).
//! - [`siphash`]: SipHash-2-4 with a chosen key, for ids a remote party must not forge.
//! - [`bitfield`]: sets of pieces in the BEP 3 wire layout.
//! - [`wire`]: bencode, metainfo (.torrent files), magnet links, the peer wire, the
//!   extension handshake, and the HTTP and UDP tracker protocols.
//! - [`torrent`]: the path sanitiser, the piece-to-file mapping, the piece picker, the
//!   choker and the engine's per-torrent state.
//! - [`tracker`]: the announce model, the tracker server core and the tracker client
//!   core (sans-io).
//! - [`peer`]: one connection's buffers, protocol session and close reasons.
//! - [`timer`], [`limit`]: the deadline heap and the rate-limit token buckets.
//! - [`disk`], [`workers`]: piece I/O on worker threads (and the page-cache checks the
//!   reactor may make), the pool and its wake protocol.
//! - [`resume`]: resume records in the state directory.
//! - [`resolver`]: DNS on its own thread.
//! - [`reactor`]: the mio loop that owns every socket and drives all of the above.
//! - [`ops`]: the commands (`create`, `inspect`, `verify`, `seed`, `download`) as
//!   library calls.
//! - [`json`], [`progress`], [`stats`]: output helpers and the `--stats` latency
//!   histograms.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bitfield;
pub mod config;
pub mod disk;
pub mod engine;
pub mod error;
pub mod json;
pub mod limit;
pub mod ops;
pub mod peer;
pub mod progress;
pub mod rate;
pub mod reactor;
pub mod resolver;
pub mod resume;
pub mod rng;
pub mod siphash;
pub mod stats;
pub mod timer;
pub mod torrent;
pub mod tracker;
pub mod types;
pub mod wire;
pub mod workers;
