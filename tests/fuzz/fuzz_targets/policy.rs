#![no_main]
//! See tests/fuzz/checks.rs: `checks::policy`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::policy(data));
