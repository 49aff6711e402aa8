//! One peer connection: its byte buffers (`conn`), its protocol state (`session`) and
//! why it ended (`close`).
//!
//! Depends on `wire`, `types`, `config` and `bytes`; never on sockets or the clock (the
//! reactor passes `now`).

pub mod close;
pub mod conn;
pub mod ext;
pub mod protocol;
pub mod session;
