//! Fuzz target `bencode`: the property is in `checks/bencode.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/bencode/`.
#![no_main]

#[path = "../checks/bencode.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
