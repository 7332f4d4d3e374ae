//! See `sloop::fuzzing::filelog_format` for the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sloop::fuzzing::filelog_format(data));
