//! Fuzzing of hoard's parsers: the stored-entry format, glob patterns and the Redis
//! invalidation messages. Each module holds its properties as plain functions (the AFL
//! targets in `fuzz/` run the same ones) and a `tests` module that drives them with
//! `hoard_testkit::fuzz`: the seed corpus in `tests/fuzz-corpus/<target>/`, then mutated
//! and generated inputs (`HOARD_FUZZ_CASES` for a longer run).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "fuzz/entry.rs"]
mod entry;
#[path = "fuzz/glob.rs"]
mod glob;
#[path = "fuzz/invalidation.rs"]
mod invalidation;
