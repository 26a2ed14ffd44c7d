//! `hoard::glob` against a reference: Redis's `stringmatchlen` (`util.c`) ported line by
//! line as a recursive backtracking matcher, nesting limit included. hoard refuses what
//! Redis would guess at (empty patterns, an unclosed `[`, a trailing `\`, more than 1000
//! `*` runs); every other pattern must select what the reference selects.
//!
//! The port compares range ends as `char`, which is signed on x86-64 (Redis there puts
//! `[a-é]`'s first byte 0xC3 below `a`) and unsigned on ARM; hoard reads them as x86-64
//! does. The property holds hoard to the signed reading and counts the inputs where an
//! ARM build of Redis would select otherwise.

use hoard::glob::{escape, Glob};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Inputs where the signed (x86-64) and unsigned (ARM) readings of a range differ.
pub static SIGNED_DIFFERS: AtomicU64 = AtomicU64::new(0);

/// Redis's `stringmatchlen(pattern, string, nocase = 0)`; `signed` reads bytes as x86-64's
/// `char` does in range comparisons.
pub fn redis_match(pattern: &[u8], text: &[u8], signed: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, text, signed, &mut skip_longer, 0)
}

fn match_impl(
    mut p: &[u8],
    mut s: &[u8],
    signed: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    let ord = |b: u8| {
        if signed {
            i16::from(b as i8)
        } else {
            i16::from(b)
        }
    };
    // Protection against abusive patterns.
    if nesting > 1000 {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, signed, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.len() >= 2 && p[0] == b'\\' {
                        p = &p[1..];
                        matched |= p[0] == s[0];
                    } else if p.first() == Some(&b']') {
                        break;
                    } else if p.is_empty() {
                        // Redis closes the class at the end of the pattern (its step back
                        // and the step below leave the pattern at its end).
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut lo, mut hi) = (ord(p[0]), ord(p[2]));
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        p = &p[2..];
                        matched |= (lo..=hi).contains(&ord(s[0]));
                    } else {
                        matched |= p[0] == s[0];
                    }
                    p = &p[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' => {
                if p.len() >= 2 {
                    p = &p[1..];
                }
                if p[0] != s[0] {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if c != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = p.get(1..).unwrap_or_default();
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Whether hoard refuses `pattern`, by the rules glob.rs documents: empty, a trailing `\`,
/// a `[` that never closes (classes read as Redis reads them), more than 1000 `*` runs.
pub fn refused(pattern: &[u8]) -> bool {
    let mut runs = 0;
    let mut i = 0;
    let mut after_star = false;
    while i < pattern.len() {
        let star = pattern[i] == b'*';
        match pattern[i] {
            b'*' => i += 1,
            b'\\' if i + 1 >= pattern.len() => return true,
            b'\\' => i += 2,
            b'[' => {
                let mut j = i + 1;
                if pattern.get(j) == Some(&b'^') {
                    j += 1;
                }
                loop {
                    match pattern.get(j..) {
                        None | Some([]) => return true,
                        Some([b'\\', _, ..]) => j += 2,
                        Some([b']', ..]) => break,
                        Some([_, b'-', _, ..]) => j += 3,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
            }
            _ => i += 1,
        }
        if star && !after_star {
            runs += 1;
        }
        after_star = star;
    }
    pattern.is_empty() || runs > 1000
}

/// `pattern` is refused exactly when the rules say so; an accepted one matches `text` as
/// the reference does, keeps its text, and every match starts with its literal prefix.
pub fn glob(pattern: &str, text: &[u8]) {
    let parsed = Glob::new(pattern);
    assert_eq!(
        parsed.is_err(),
        refused(pattern.as_bytes()),
        "refusal of {pattern:?}: {parsed:?}"
    );
    let Ok(glob) = parsed else { return };
    assert_eq!(glob.as_str(), pattern);
    let ours = glob.matches_bytes(text);
    // hoard follows Redis on x86-64, where C's `char` is signed.
    let reference = redis_match(pattern.as_bytes(), text, true);
    assert_eq!(
        ours,
        reference,
        "{pattern:?} on {:?}: hoard {ours}, Redis's stringmatchlen {reference}",
        text.escape_ascii().to_string()
    );
    if reference != redis_match(pattern.as_bytes(), text, false) {
        SIGNED_DIFFERS.fetch_add(1, Relaxed);
    }
    if let Ok(text) = std::str::from_utf8(text) {
        assert_eq!(glob.matches(text), ours);
    }
    if ours {
        assert!(
            text.starts_with(&glob.literal_prefix()),
            "{pattern:?} matched a text without its literal prefix"
        );
    }
}

/// An escaped text is a pattern that matches that text, all of it literal.
pub fn escaped(text: &str) {
    if text.is_empty() {
        return; // An empty pattern is refused.
    }
    let pattern = escape(text);
    let glob = Glob::new(&pattern).unwrap_or_else(|e| panic!("escape({text:?}): {e}"));
    assert!(glob.matches(text), "{pattern:?} on {text:?}");
    assert_eq!(
        glob.literal_prefix(),
        text.as_bytes(),
        "prefix of {pattern:?}"
    );
}

/// A pattern and a text from bytes: the pattern up to the first newline (lossily UTF-8),
/// the text after it.
pub fn from_bytes(bytes: &[u8]) -> (String, Vec<u8>) {
    let (pattern, text) = match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[][..]),
    };
    (String::from_utf8_lossy(pattern).into_owned(), text.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};

    const DIR: &str = env!("CARGO_MANIFEST_DIR");

    /// Bytes heavy in metacharacters, with the two bytes of `é` and a lone high byte.
    const ALPHABET: &[u8] = b"**??[[]]\\\\^^--abcz:x\xc3\xa9\xff";

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        [
            ("prefix", "model:metrics:*\nmodel:metrics:abc-123"),
            ("two-any", "*:top_??\nm:fi:a:top_10"),
            ("range", "v[0-9]\nv7"),
            ("negated", "v[^0-9]\nva"),
            ("empty-class", "a[]b]c\na]c"),
            ("escaped-member", "k[\\a-c]\nk-"),
            ("range-to-bracket", "k[a-]b]\nk^"),
            ("reversed-range", "k[c-a]\nkb"),
            ("escaped-star", "lit\\*\nlit*"),
            ("stars", "*a*a*a*a*b\naaaaaaaaaaaaaaaaaaaaaab"),
            ("utf8-range", "k[a-é]\nkb"),
            ("utf8-any", "donn??es\ndonnées"),
            ("unclosed", "a[bc\nab"),
            ("trailing-backslash", "a\\\na"),
        ]
        .into_iter()
        .map(|(name, text)| (name, text.as_bytes().to_vec()))
        .collect()
    }

    const TOKENS: &[&[u8]] = &[
        b"*",
        b"?",
        b"[",
        b"]",
        b"[^",
        b"\\",
        b"-",
        b"a-z",
        b"\xc3\xa9",
        b"\n",
        b"**",
        b"[]",
    ];

    fn pattern_and_text(input: Input) -> Result<(), TestCaseError> {
        let (pattern, text) = from_bytes(&input);
        glob(&pattern, &text);
        Ok(())
    }

    #[test]
    fn globs_match_as_redis_stringmatchlen_does() {
        fuzz::bless(DIR, "glob", &seeds());
        let corpus = fuzz::corpus(DIR, "glob");
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        fuzz::check(
            "glob",
            &corpus,
            fuzz::cases(3000),
            fuzz::mutated(bytes, TOKENS),
            pattern_and_text,
            |bytes| Input(bytes.to_vec()),
        );
        let text = |max| prop::collection::vec(prop::sample::select(ALPHABET), 0..max);
        let generated = (text(10), text(8))
            .prop_map(|(pattern, text)| (String::from_utf8_lossy(&pattern).into_owned(), text));
        fuzz::check(
            "glob_generated",
            &[],
            fuzz::cases(3000),
            generated,
            |(pattern, text)| {
                glob(&pattern, &text);
                Ok(())
            },
            from_bytes,
        );
        eprintln!(
            "fuzz glob: {} inputs where an ARM Redis (unsigned char ranges) selects otherwise",
            SIGNED_DIFFERS.load(Relaxed)
        );
    }

    #[test]
    fn star_runs_past_1000_are_refused() {
        let strategy = (
            990usize..1010,
            prop::sample::select(&["*", "**", "*a", "*\\*"][..]),
        );
        fuzz::check(
            "glob_stars",
            &[],
            fuzz::cases(40),
            strategy,
            |(runs, unit)| {
                let pattern = unit.repeat(runs);
                glob(&pattern, &b"a*".repeat(runs.min(20)));
                Ok(())
            },
            |_| (1, "*"),
        );
    }

    #[test]
    fn escaped_texts_match_only_themselves() {
        fuzz::check(
            "glob_escape",
            &[],
            fuzz::cases(1000),
            any::<String>(),
            |text| {
                escaped(&text);
                Ok(())
            },
            |bytes| String::from_utf8_lossy(bytes).into_owned(),
        );
    }

    /// Redis on x86-64 reads range ends as signed `char`: `[a-é]` (a range from `a` to the
    /// byte 0xC3) holds 0xC3..=0xFF and 0x00..=`a`, not `b`; hoard reads it as `a`..=0xC3.
    /// Checked against Debian's redis-server 7.0 on x86-64 (`SCAN MATCH k[a-é]` selects
    /// `k\xff` and `k\x01`, not `kb`).
    #[test]
    fn a_range_ending_in_a_non_ascii_byte_selects_what_x86_redis_selects() {
        let glob = Glob::new("k[a-é]").unwrap();
        for (text, x86_redis) in [(&b"kb"[..], false), (b"k\xff", true), (b"k\x01", true)] {
            assert_eq!(redis_match(b"k[a-\xc3\xa9]", text, true), x86_redis);
            assert_eq!(
                glob.matches_bytes(text),
                x86_redis,
                "{}",
                text.escape_ascii()
            );
        }
    }
}
