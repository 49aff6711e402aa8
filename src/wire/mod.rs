//! Pure codecs with no I/O: bencode, the .torrent metainfo, magnet links, the peer
//! wire (BEP 3, 5, 6 and the BEP 10 envelope) and the BEP 10 extension handshake.
//! Later the ut_metadata, ut_pex, KRPC and tracker messages live here too.
//!
//! Depends only on `types`, `config` and `bitfield`.

pub mod bencode;
pub mod ext;
pub mod http;
pub mod magnet;
pub mod metainfo;
pub mod peer;
