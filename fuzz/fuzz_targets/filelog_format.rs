//! See `sloop::receivers::filelog::format::fuzzing::check` for the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sloop::receivers::filelog::format::fuzzing::check(data));
