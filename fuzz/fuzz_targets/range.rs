//! Fuzz target `range`: the property of `crates/hoard-server/tests/fuzz/range.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard-server/tests/fuzz/range.rs"]
mod range;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    range::any_range(data.len(), data);
});
