//! Fuzz target `magnet`: the property is in `checks/magnet.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/magnet/`.
#![no_main]

#[path = "../checks/magnet.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
