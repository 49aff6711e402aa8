//! The Mainline DHT (BEP 5), sans-io like the other cores: no sockets, `now` passed in.
//!
//! - [`table`]: the routing table (buckets, node states, replacements, refresh).
//! - [`node`]: a node: answering queries, the peer store and tokens, rate limits,
//!   iterative lookups and announces.
//! - [`bep42`]: node ids tied to IP addresses (BEP 42) and the vote on our own.
//! - [`persist`]: the routing table saved in the state directory (`dht.dat`).
//!
//! Depends on `wire::krpc` (messages), `rng` and `siphash`. Its UDP socket and timers
//! are in `reactor::dht`; which torrents it looks up and announces, in
//! `engine::discovery`.

pub mod bep42;
pub mod node;
pub mod persist;
pub mod table;

#[cfg(test)]
mod sim;
