//! BEP 9 `ut_metadata` messages never make the decoder panic, what decodes stays within
//! the metadata bounds, and it survives an encode/decode round trip.
use hivebt::wire::metadata::{MAX_METADATA_SIZE, METADATA_PIECE_LEN, MetadataMsg};

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok(m) = MetadataMsg::decode(data) {
        if let MetadataMsg::Data {
            total_size, data, ..
        } = m
        {
            assert!(u64::from(total_size) <= MAX_METADATA_SIZE);
            assert!(data.len() <= METADATA_PIECE_LEN);
        }
        let bytes = m.encode();
        let again = MetadataMsg::decode(&bytes).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
}
