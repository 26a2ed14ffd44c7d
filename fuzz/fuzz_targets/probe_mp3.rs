//! Fuzz target `probe_mp3`: the property of `crates/hoard-datasets/tests/fuzz/probe.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard-datasets/tests/fuzz/probe.rs"]
mod probe;

/// This process's scratch file for the input.
fn path(extension: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hoard-fuzz-{}.{extension}", std::process::id()))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| probe::probe_bytes(
    &path("mp3"),
    data,
    hoard_datasets::Format::Mp3
));
