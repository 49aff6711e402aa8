//! Fuzz target `resume`: the property is in `checks/resume.rs`, which `tests/fuzz_seeds.rs`
//! also runs over the checked-in seeds in `seeds/resume/`.
#![no_main]

#[path = "../checks/resume.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
