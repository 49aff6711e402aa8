//! Fuzz target `metainfo`: the property is in `checks/metainfo.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/metainfo/`.
#![no_main]

#[path = "../checks/metainfo.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
