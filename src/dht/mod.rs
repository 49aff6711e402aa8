//! The Mainline DHT (BEP 5), sans-io like the other cores: no sockets, `now` passed in.
//!
//! - [`table`]: the routing table (buckets, node states, replacements, refresh).
//! - [`node`]: a node: answering queries, the peer store and tokens, rate limits,
//!   iterative lookups and announces.
//!
//! Depends on `wire::krpc` (messages), `rng` and `siphash`. Its UDP socket in the
//! reactor, the saved table and the torrents' use of it come with the rest of the
//! DHT issue.

pub mod node;
pub mod persist;
pub mod table;

#[cfg(test)]
mod sim;
