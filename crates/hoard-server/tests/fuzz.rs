//! Fuzzing of the server's parser of the `Range` header of `/datasets/file` (through the
//! router, as a client sends it); `hoard.toml` is fuzzed in hoard-config. The module
//! holds its properties as plain functions (the fuzz targets in `fuzz/` run the same ones)
//! and a `tests` module that drives them with `hoard_testkit::fuzz`: the seed corpus in
//! `tests/fuzz-corpus/<target>/`, then mutated and generated inputs (`HOARD_FUZZ_CASES`
//! for a longer run).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "fuzz/range.rs"]
mod range;
