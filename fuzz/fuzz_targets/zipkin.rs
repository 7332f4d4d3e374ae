//! See `sloop::fuzzing::zipkin` for the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sloop::fuzzing::zipkin(data));
