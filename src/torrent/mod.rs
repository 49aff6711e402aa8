//! Torrent-level state that is pure data: the safe on-disk paths, the piece-to-file
//! mapping, the piece picker and the choker. The peer list joins them with the peer
//! engine.
//!
//! Depends on `wire`, `types` and `config`; never on sockets or threads.

pub mod assembly;
pub mod ban;
pub mod choker;
pub mod paths;
pub mod peer_list;
pub mod picker;
pub mod state;
pub mod storage;
