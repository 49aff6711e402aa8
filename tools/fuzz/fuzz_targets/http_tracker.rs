//! Fuzz target `http_tracker`: the property is in `checks/http_tracker.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/http_tracker/`.
#![no_main]

#[path = "../checks/http_tracker.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
