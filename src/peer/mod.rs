//! One peer connection: its state and byte buffers without the socket (`conn`), its
//! protocol state (`session`), what each message does (`protocol`, sans-io), the BEP 10
//! extension registry (`ext`) and why it ended (`close`).
//!
//! Depends on `wire`, `torrent` (picker, piece assembly, bans), `types`, `config` and
//! `bytes`; never on sockets or the clock (the caller passes `now`).

pub mod close;
pub mod conn;
pub mod ext;
pub mod fetcher;
pub mod pex;
pub mod protocol;
pub mod session;
