//! Fuzz target `pex`: the property is in `checks/pex.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/pex/`.
#![no_main]

#[path = "../checks/pex.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
