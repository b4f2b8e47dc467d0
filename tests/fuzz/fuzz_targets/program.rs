#![no_main]
//! See tests/fuzz/checks.rs: `checks::program`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::program(data));
