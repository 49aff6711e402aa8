//! LSD announce decoding never panics, stays within its bounds, and what it decodes
//! encodes to an announce that decodes the same.
use hivebt::wire::lsd::{self, MAX_INFOHASHES};

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    if let Ok(a) = lsd::decode(data) {
        assert!(!a.info_hashes.is_empty() && a.info_hashes.len() <= MAX_INFOHASHES);
        assert_ne!(a.port, 0);
        let cookie = a.cookie.clone().unwrap_or_default();
        if cookie.chars().all(|c| c.is_ascii_graphic()) && !cookie.is_empty() {
            let again = lsd::decode(&lsd::encode(a.port, &a.info_hashes, &cookie));
            assert_eq!(again.as_ref(), Ok(&a));
        }
    }
}
