//! Resume records never make the reader panic, and a record it accepts has exactly the
//! pieces and files it was asked for. The record's own pieces and file counts are read
//! from the first two bytes, so the fuzzer can match them.
use hivebt::resume::decode;
use hivebt::types::InfoHash;

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    let (pieces, files, record) = match data {
        [p, f, rest @ ..] => (u32::from(*p) * 3, usize::from(*f % 16), rest),
        _ => return,
    };
    let info_hash = InfoHash([b'a'; 20]);
    if let Ok((have, stamps)) = decode(record, &info_hash, pieces, files) {
        assert_eq!(have.len(), pieces);
        assert_eq!(stamps.len(), files);
    }
}
