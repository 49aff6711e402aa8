//! Torrent-level state that is pure data: the safe on-disk paths, the piece-to-file
//! mapping, the piece picker, the choker, piece assembly, the peer list, bans, a magnet
//! link's metadata being fetched (BEP 9), and the
//! per-torrent state with its lifecycle.
//!
//! Depends on `wire`, `types`, `config`, `rate` and the tracker client core (a torrent
//! holds its own); never on `peer`, sockets or threads.

pub mod assembly;
pub mod ban;
pub mod cache;
pub mod choker;
pub mod metadata_fetch;
pub mod paths;
pub mod peer_list;
pub mod picker;
pub mod state;
pub mod storage;
