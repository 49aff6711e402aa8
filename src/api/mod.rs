//! The daemon's HTTP API: sans-io request handling on top of the engine's control seam.
//!
//! - [`auth`]: passwords, sessions, tokens, lockout, `Host` and `Origin` checks.

pub mod auth;
