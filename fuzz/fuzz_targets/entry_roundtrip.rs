//! Fuzz target `entry_roundtrip`: the property of `crates/hoard/tests/fuzz/entry.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard/tests/fuzz/entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (e, above) = entry::entry_from_bytes(data);
    entry::roundtrip(&e, above)
});
