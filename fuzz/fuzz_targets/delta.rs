//! Fuzz target `delta`: the property of `crates/hoard-datasets/tests/fuzz/delta.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard-datasets/tests/fuzz/delta.rs"]
mod delta;

libfuzzer_sys::fuzz_target!(|data: &[u8]| delta::stored(data));
