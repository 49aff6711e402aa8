//! Magnet parsing never panics, and what it writes parses back to the same link.
use hivebt::wire::magnet::Magnet;

/// Panics when the property above fails for `data`.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Magnet::parse(text) {
        assert_eq!(Magnet::parse(&m.to_uri()).as_ref(), Ok(&m));
    }
}
