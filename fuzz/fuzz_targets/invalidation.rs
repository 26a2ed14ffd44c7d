//! Fuzz target `invalidation`: the property of `crates/hoard/tests/fuzz/invalidation.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard/tests/fuzz/invalidation.rs"]
mod invalidation;

libfuzzer_sys::fuzz_target!(|data: &[u8]| invalidation::parse(&String::from_utf8_lossy(data)));
