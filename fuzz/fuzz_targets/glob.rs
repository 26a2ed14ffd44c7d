//! Fuzz target `glob`: the property of `crates/hoard/tests/fuzz/glob.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard/tests/fuzz/glob.rs"]
mod glob;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (pattern, text) = glob::from_bytes(data);
    glob::glob(&pattern, &text)
});
