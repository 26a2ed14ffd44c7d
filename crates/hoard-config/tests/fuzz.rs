//! Fuzzing of `hoard.toml`'s loading: the property in `fuzz/config.rs` (the fuzz target
//! `config` in `fuzz/` runs the same one), driven by `hoard_testkit::fuzz` from the seed
//! corpus in `tests/fuzz-corpus/config/`, then mutated and generated inputs
//! (`HOARD_FUZZ_CASES` for a longer run).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "fuzz/config.rs"]
mod config;
