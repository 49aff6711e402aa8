//! Magnet parsing never panics, and what it writes parses back to the same link.
#![no_main]
use hivebt::wire::magnet::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Magnet::parse(text) {
        assert_eq!(Magnet::parse(&m.to_uri()).as_ref(), Ok(&m));
    }
});
