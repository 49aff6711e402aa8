//! Pure codecs with no I/O: bencode, the .torrent metainfo, magnet links, the peer
//! wire (BEP 3, 5, 6 and the BEP 10 envelope), the BEP 10 extension handshake, and
//! the tracker protocols over HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15) with the
//! compact peer lists they share, the bit of HTTP/1.1 the trackers and the API need,
//! and KRPC, the DHT's messages (BEP 5, 32, 42, 43), peer exchange (`pex`, BEP 11) and
//! the BEP 9 `ut_metadata` messages (`metadata`).
//!
//! Depends only on `types`, `config`, `bitfield` and the plain announce/scrape model
//! in `tracker` (data types that themselves depend only on `types`).

pub mod bencode;
pub mod compact;
pub mod ext;
pub mod form;
pub mod http;
pub mod http_tracker;
pub mod krpc;
pub mod lsd;
pub mod magnet;
pub mod metadata;
pub mod metainfo;
pub mod peer;
pub mod percent;
pub mod pex;
pub mod udp_tracker;
