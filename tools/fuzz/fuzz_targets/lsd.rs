//! Fuzz target `lsd`: the property is in `checks/lsd.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/lsd/`.
#![no_main]

#[path = "../checks/lsd.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
