//! Fuzz target `entry`: the property of `crates/hoard/tests/fuzz/entry.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard/tests/fuzz/entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::decode(data));
