//! Torrent parsing never panics; what parses re-encodes to the same info-hash, and the
//! sanitised paths are always safe.
use hivebt::torrent::paths::{is_safe_relative, sanitize};
use hivebt::torrent::storage::Layout;
use hivebt::types::PieceIndex;
use hivebt::wire::metainfo::Metainfo;

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    let Ok(meta) = Metainfo::from_bytes(data) else {
        return;
    };
    let again = Metainfo::from_bytes(&meta.to_bytes()).expect("re-encoded torrent parses");
    assert_eq!(again.info_hash, meta.info_hash);
    let paths = sanitize(&meta.info);
    assert!(paths.files.iter().all(|p| is_safe_relative(p)));
    let layout = Layout::new(&meta.info, &paths);
    let last = layout.piece_count() - 1;
    let covered: u64 = layout.spans(PieceIndex(last)).iter().map(|s| s.len).sum();
    assert_eq!(covered, layout.piece_len(PieceIndex(last)));
}
