//! Fuzz target `peer_wire`: the property is in `checks/peer_wire.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/peer_wire/`.
#![no_main]

#[path = "../checks/peer_wire.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
