//! Fuzz target `config`: the property of `crates/hoard-config/tests/fuzz/config.rs`.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/hoard-config/tests/fuzz/config.rs"]
mod config;

/// This process's scratch file for the input.
fn path(extension: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hoard-fuzz-{}.{extension}", std::process::id()))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    config::load(&path("toml"), data);
});
