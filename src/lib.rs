//! hivebt: a BitTorrent engine for seed boxes, dedicated seeding servers and
//! benchmarking runs.
//!
//! # Shape
//!
//! One reactor thread owns every socket, the timer heap and the worker pool; everything
//! that decides is sans-io and owned by that thread, driven by the reactor with `now`
//! passed in. SHA-1 hashing, disk I/O, rechecks and resume records run on a small pool
//! of worker threads ([`workers`]) that post completions back and wake the reactor
//! through a `mio::Waker`.
//!
//! ```text
//!  ┌────────────────────────────── reactor thread ──────────────────────────────────┐
//!  │ reactor/ (the only mio user)                                                    │
//!  │   peer sockets (by slot) · listeners · UdpEndpoints · HttpServers · fetches     │
//!  │   timers (ticks, one per tracker client) · poll loop                            │
//!  │        │ bytes in, writes out, dials, jobs, completions, ticks                  │
//!  │        ▼                                                                        │
//!  │ engine/ Engine: torrents (TorrentState, picker, choker, assembly, peer_list),   │
//!  │   socket-free peer Connections, control seam (add/remove/pause/resume/recheck,  │
//!  │   snapshot) ─► peer/protocol (PeerSession::on_message → SendQueue + PeerEffects) │
//!  │ tracker/ cores: client (+ UDP exchanges), server (TrackerService: UDP, HTTP)    │
//!  └───────────┬───────────────────────────────────────────────────────▲─────────────┘
//!              │ Job (TorrentId): verify+write, read, prefetch, hash,   │ Completion
//!              ▼ save resume record                                      │ (TorrentId)
//!        worker pool (N threads) ──────────────────────────────────────────┘ + resolver
//! ```
//!
//! Torrents and connections are named by generation-checked ids ([`types::TorrentId`],
//! [`types::ConnKey`]) wherever a reference outlives a call (jobs, completions, lists,
//! timers), so nothing reaches a slot's next occupant. The engine never touches a
//! socket: it queues what it wants (writes, dials, jobs, tracker timers, a shutdown)
//! and the reactor carries that out at the end of each turn.
//!
//! # Modules, lowest first
//!
//! - [`types`], [`config`], [`error`]: newtypes (and the generation-checked ids), every
//!   limit with its default, the command-level error.
//! - [`rng`]: the one random-number source (a seeded generator, seeded from the
//!   operating system).
//! - [`siphash`]: SipHash-2-4 with a chosen key, for ids a remote party must not forge.
//! - [`bitfield`], [`rate`]: sets of pieces in the BEP 3 wire layout; transfer rates.
//! - [`wire`]: bencode, metainfo (.torrent files), magnet links, the peer wire, the
//!   extension handshake, and the HTTP and UDP tracker protocols.
//! - [`torrent`]: the path sanitiser, the piece-to-file mapping, the piece picker, the
//!   choker, piece assembly, the peer list, bans and the per-torrent state with its
//!   lifecycle ([`torrent::state::TorrentState`]).
//! - [`tracker`]: the announce model, the tracker server core and the tracker client
//!   core with its UDP exchange table (sans-io).
//! - [`peer`]: one connection's buffers and state ([`peer::conn`]), the wire protocol
//!   ([`peer::protocol`], sans-io), the extension registry ([`peer::ext`]) and close
//!   reasons.
//! - [`timer`], [`limit`]: the deadline heap and the rate-limit token buckets.
//! - [`disk`], [`workers`]: piece I/O on worker threads (and the page-cache checks the
//!   engine may make), the pool and its wake protocol.
//! - [`resume`]: resume records in the state directory.
//! - [`resolver`]: DNS on its own thread.
//! - [`engine`]: every torrent and peer decision, the control seam every front
//!   calls, and the daemon's session store ([`engine::store`]).
//! - [`settings`]: the daemon's configuration file.
//! - [`dht`]: the Mainline DHT, sans-io: routing table, node (queries, peer store, limits, lookups), saved table.
//! - [`api`]: the daemon's HTTP API, sans-io: auth, the session service beside the
//!   engine (queueing, share limits, watch folder, answers that wait for worker
//!   tasks, event streams), `/api/v1` and `/metrics`.
//! - [`reactor`]: the mio loop that owns every socket and drives all of the above
//!   (the API's HTTP connections included).
//! - [`ops`]: the commands (`create`, `inspect`, `verify`, `seed`, `download`,
//!   `tracker`, `daemon`, `ctl`) as library calls.
//! - [`json`], [`progress`], [`stats`]: output helpers and the `--stats` latency
//!   histograms.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod bitfield;
pub mod config;
pub mod dht;
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
pub mod settings;
pub mod siphash;
pub mod stats;
pub mod timer;
pub mod torrent;
pub mod tracker;
pub mod types;
pub mod wire;
pub mod workers;
