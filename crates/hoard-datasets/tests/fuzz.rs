//! Fuzzing of the dataset parsers: the WAV, MP3, FLAC and Ogg probes, and deltas applied to
//! base manifests. Each module holds its properties as plain functions (the fuzz targets
//! in `fuzz/` run the same ones) and a `tests` module that drives them with
//! `hoard_testkit::fuzz`: the seed corpus in `tests/fuzz-corpus/<target>/`, then mutated
//! and generated inputs (`HOARD_FUZZ_CASES` for a longer run).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "fuzz/delta.rs"]
mod delta;
#[path = "fuzz/probe.rs"]
mod probe;
