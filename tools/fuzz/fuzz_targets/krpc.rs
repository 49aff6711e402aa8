//! Fuzz target `krpc`: the property is in `checks/krpc.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/krpc/`.
#![no_main]

#[path = "../checks/krpc.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
