//! The fuzz harness of the parsers' tests: a seed corpus read from
//! `tests/fuzz-corpus/<target>/`, mutations of it (bit flips, byte and word overwrites,
//! insertions of dictionary tokens, deletions, truncations, duplications, splices of two
//! seeds) and wholly random inputs, run through a property with proptest, which shrinks
//! a failing input before reporting it.
//!
//! Every target runs its corpus files as they are, then [`cases`] generated inputs:
//! `HOARD_FUZZ_CASES` sets how many (the default is each target's own, sized so the
//! whole suite stays fast in `cargo test`). Without `HOARD_FUZZ_CASES` the inputs come
//! from a fixed seed, so a plain test run is reproducible; with it they are random, so a
//! long run explores new ground each time. `HOARD_FUZZ_SEED` fixes the seed either way
//! (each report prints the seed it used). `HOARD_FUZZ_BLESS=1` writes the in-code seeds
//! of a target into its corpus folder.

pub use proptest;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes that print as an escaped byte string, so a failing input can be pasted into a
/// regression test.
#[derive(Clone, PartialEq, Eq)]
pub struct Input(pub Vec<u8>);

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\" ({} bytes)", self.0.escape_ascii(), self.0.len())
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// How many generated cases a target runs: `HOARD_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("HOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    if let Some(seed) = std::env::var("HOARD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return seed;
    }
    if std::env::var_os("HOARD_FUZZ_CASES").is_some() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        now ^ u64::from(std::process::id()).rotate_left(32)
    } else {
        0x686f_6172_645f_667a
    }
}

/// The seed corpus of `target`: every file of `{crate_dir}/tests/fuzz-corpus/{target}`,
/// sorted by name, with its name.
pub fn corpus(crate_dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(crate_dir, target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            path.is_file().then(|| {
                let name = path.file_name()?.to_string_lossy().into_owned();
                Some((name, std::fs::read(&path).ok()?))
            })?
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "fuzz corpus {} is empty", dir.display());
    files
}

fn corpus_dir(crate_dir: &str, target: &str) -> PathBuf {
    Path::new(crate_dir).join("tests/fuzz-corpus").join(target)
}

/// With `HOARD_FUZZ_BLESS=1`, writes `seeds` into the corpus folder of `target` (how the
/// committed corpus was made); otherwise does nothing.
pub fn bless(crate_dir: &str, target: &str, seeds: &[(&str, Vec<u8>)]) {
    if std::env::var_os("HOARD_FUZZ_BLESS").is_none() {
        return;
    }
    let dir = corpus_dir(crate_dir, target);
    std::fs::create_dir_all(&dir).expect("creating the corpus folder");
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).expect("writing a corpus file");
    }
}

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    /// A little-endian word of `width` bytes (1, 2, 4 or 8) with a boundary value.
    Word(Index, u64, usize),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Remove(Index, usize),
    Truncate(Index),
    Duplicate(Index, usize, Index),
    /// Replaces the tail from one index with the tail of another seed from another.
    Splice(Index, Index, Index),
}

const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x10,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    u64::MAX,
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = (
        any::<Index>(),
        prop::sample::select(INTERESTING),
        prop::sample::select(&[1usize, 2, 4, 8][..]),
    )
        .prop_map(|(at, value, width)| Mutation::Word(at, value, width));
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
        2 => word,
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, t)| Mutation::Token(at, t)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Mutation::Remove(at, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1usize..64, any::<Index>())
            .prop_map(|(from, n, to)| Mutation::Duplicate(from, n, to)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(at, other, from)| Mutation::Splice(at, other, from)),
    ]
}

fn position(at: &Index, len: usize) -> usize {
    // Positions run over 0..=len, so inserting at the end is possible.
    at.index(len + 1)
}

fn apply(mut bytes: Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>], tokens: &[&[u8]]) -> Vec<u8> {
    let len = bytes.len();
    match mutation {
        Mutation::FlipBit(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << bit,
        Mutation::SetByte(at, value) if len > 0 => bytes[at.index(len)] = *value,
        Mutation::Word(at, value, width) if len > 0 => {
            let at = at.index(len);
            let end = (at + width).min(len);
            bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        Mutation::Insert(at, insert) => {
            let at = position(at, len);
            bytes.splice(at..at, insert.iter().copied());
        }
        Mutation::Token(at, token) if !tokens.is_empty() => {
            let at = position(at, len);
            let token = tokens[token.index(tokens.len())];
            bytes.splice(at..at, token.iter().copied());
        }
        Mutation::Remove(at, n) if len > 0 => {
            let at = at.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Truncate(at) => bytes.truncate(position(at, len)),
        Mutation::Duplicate(from, n, to) if len > 0 => {
            let from = from.index(len);
            let copy = bytes[from..(from + n).min(len)].to_vec();
            let to = position(to, len);
            bytes.splice(to..to, copy);
        }
        Mutation::Splice(at, other, from) => {
            let other = &seeds[other.index(seeds.len())];
            let from = position(from, other.len());
            bytes.truncate(position(at, len));
            bytes.extend_from_slice(&other[from..]);
        }
        _ => {}
    }
    bytes
}

/// Inputs for a target: its seeds each changed by up to eight mutations (most cases),
/// the seeds as they are, and random bytes. `tokens` is the target's dictionary: words
/// of its format that a mutation may insert.
pub fn mutated(seeds: Vec<Vec<u8>>, tokens: &'static [&'static [u8]]) -> BoxedStrategy<Input> {
    assert!(!seeds.is_empty(), "a fuzz target needs seeds");
    let seeds = std::sync::Arc::new(seeds);
    let pick = seeds.clone();
    let changed = (any::<Index>(), prop::collection::vec(mutation(), 1..=8)).prop_map(
        move |(seed, mutations)| {
            let start = pick[seed.index(pick.len())].clone();
            let bytes = mutations
                .iter()
                .fold(start, |bytes, m| apply(bytes, m, &pick, tokens));
            Input(bytes)
        },
    );
    let whole = any::<Index>().prop_map(move |seed| Input(seeds[seed.index(seeds.len())].clone()));
    prop_oneof![
        16 => changed,
        1 => whole,
        2 => prop::collection::vec(any::<u8>(), 0..96).prop_map(Input),
    ]
    .boxed()
}

/// Runs `property` on every corpus file, then on `cases` inputs from `strategy`, and
/// prints what it ran. A failure (a violated property or a panic) panics with the
/// smallest failing input proptest found.
pub fn check<S>(
    target: &str,
    corpus: &[(String, Vec<u8>)],
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
    from_bytes: impl Fn(&[u8]) -> S::Value,
) where
    S: Strategy,
    S::Value: fmt::Debug,
{
    let began = Instant::now();
    for (name, bytes) in corpus {
        let value = from_bytes(bytes);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(value)));
        match outcome {
            Ok(Ok(())) | Ok(Err(TestCaseError::Reject(_))) => {}
            Ok(Err(TestCaseError::Fail(reason))) => {
                panic!("fuzz {target}: corpus file {name}: {reason}")
            }
            Err(_) => panic!("fuzz {target}: corpus file {name} panicked (message above)"),
        }
    }
    let seed = seed();
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        max_global_rejects: cases.saturating_mul(4).max(1024),
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&strategy, property);
    let elapsed = began.elapsed();
    eprintln!(
        "fuzz {target}: {} corpus files + {cases} generated cases in {:.2} s (seed {seed})",
        corpus.len(),
        elapsed.as_secs_f64()
    );
    if let Err(error) = result {
        panic!("fuzz {target} (seed {seed}): {error}");
    }
}
