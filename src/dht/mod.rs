//! The Mainline DHT (BEP 5), sans-io like the other cores: no sockets, `now` passed in.
//!
//! - [`table`]: the routing table (buckets, node states, replacements, refresh).
//!
//! Depends on `wire::krpc` (ids and node entries). The node that answers queries and
//! runs lookups, and its UDP socket in the reactor, come with the rest of the DHT.

pub mod table;
