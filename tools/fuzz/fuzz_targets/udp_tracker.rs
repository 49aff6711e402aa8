//! Fuzz target `udp_tracker`: the property is in `checks/udp_tracker.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/udp_tracker/`.
#![no_main]

#[path = "../checks/udp_tracker.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
