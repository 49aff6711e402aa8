//! Torrent-level state that is pure data: the safe on-disk paths and the piece-to-file
//! mapping. The picker, choker and peer list join them with the peer engine.
//!
//! Depends on `wire`, `types` and `config`; never on sockets or threads.

pub mod paths;
pub mod picker;
pub mod state;
pub mod storage;
