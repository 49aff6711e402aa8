//! Pure codecs with no I/O: bencode, the .torrent metainfo and magnet links. Later the
//! peer wire, extension, KRPC and tracker messages live here too.
//!
//! Depends only on `types` and `config`.

pub mod bencode;
pub mod magnet;
pub mod metainfo;
