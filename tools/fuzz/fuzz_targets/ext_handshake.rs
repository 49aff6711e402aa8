//! Fuzz target `ext_handshake`: the property is in `checks/ext_handshake.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/ext_handshake/`.
#![no_main]

#[path = "../checks/ext_handshake.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
