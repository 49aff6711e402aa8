//! Fuzz target `metadata`: the property is in `checks/metadata.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/metadata/`.
#![no_main]

#[path = "../checks/metadata.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
