//! Glob patterns for `delete_pattern`, with Redis `SCAN MATCH` semantics.
//!
//! `*` matches any run of bytes (including `:`), `?` one byte, `[abc]`, `[a-z]` and `[^a]`
//! a class (closed by the first `]`, so `[]` matches nothing), and `\` escapes the next
//! byte. Matching is on bytes, as Redis does: `?` does not match a two-byte `é`. Classes
//! follow Redis's `stringmatchlen` to the letter, quirks included (`[\a-c]` is `a`, `-`
//! and `c`; `[a-]b]` ranges from `]` to `a`), so the same pattern selects the same keys in
//! L1, on the disk tier and on Redis: `tests/it/glob_redis.rs` compares them with a real
//! `redis-server` on generated keys and patterns. Unlike Redis, an unclosed `[`, a
//! trailing `\` and more than 1000 `*` runs are refused rather than guessed at.

use crate::error::{clip, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(u8),
    AnyOne,
    AnyRun,
    Class {
        negated: bool,
        /// Inclusive, as C's `char` on x86-64 reads bytes (signed; see [`signed`]).
        ranges: Vec<(i8, i8)>,
    },
}

/// A byte as Redis's `stringmatchlen` compares it in a class: a C `char`, which is signed
/// on x86-64 (where Redis mostly runs, Debian's included), so `[a-é]` spans bytes 0xC3..=
/// 0xFF and 0x00..=b'a', not b'a'..=0xC3. (Redis built for ARM reads them unsigned.)
fn signed(byte: u8) -> i8 {
    i8::from_ne_bytes([byte])
}

impl Token {
    fn matches(&self, c: u8) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyOne => true,
            Token::AnyRun => unreachable!("runs are handled by the matcher"),
            Token::Class { negated, ranges } => {
                ranges
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&signed(c)))
                    != *negated
            }
        }
    }
}

/// Redis gives up (answers "no match") past this many nested `*` runs.
const MAX_STARS: usize = 1000;

/// Parses a class whose `[` is just before `start`, the way Redis's `stringmatchlen`
/// reads one: an optional `^`; then, until the first `]`, members that are `\x` (the byte
/// `x`, never the start of a range), `a-z` (a range: any byte after the `-` ends it, even
/// `]` or `\`, and reversed ends are swapped), or a byte. Returns the class and where the
/// pattern goes on, or `None` if the pattern ends first (Redis would close the class
/// there; hoard refuses the pattern instead).
fn parse_class(bytes: &[u8], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = bytes.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let rest = bytes.get(i..)?;
        match rest {
            [] => return None,
            [b'\\', escaped, ..] => {
                ranges.push((signed(*escaped), signed(*escaped)));
                i += 2;
            }
            [b']', ..] => return Some((Token::Class { negated, ranges }, i + 1)),
            [lo, b'-', hi, ..] => {
                let (lo, hi) = (signed(*lo), signed(*hi));
                ranges.push((lo.min(hi), lo.max(hi)));
                i += 3;
            }
            [c, ..] => {
                ranges.push((signed(*c), signed(*c)));
                i += 1;
            }
        }
    }
}

/// A parsed glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    source: String,
}

impl Glob {
    /// Parses a pattern; an unclosed `[` or a trailing `\` is an error.
    pub fn new(pattern: &str) -> Result<Glob> {
        let refuse = |reason| Error::InvalidPattern {
            pattern: clip(pattern),
            reason,
        };
        if pattern.is_empty() {
            return Err(refuse("pattern is empty"));
        }
        let bytes = pattern.as_bytes();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let token = match bytes[i] {
                b'*' => {
                    i += 1;
                    // Consecutive stars mean the same as one.
                    if tokens.last() == Some(&Token::AnyRun) {
                        continue;
                    }
                    Token::AnyRun
                }
                b'?' => {
                    i += 1;
                    Token::AnyOne
                }
                b'\\' => {
                    let escaped = *bytes.get(i + 1).ok_or_else(|| refuse("ends with '\\'"))?;
                    i += 2;
                    Token::Literal(escaped)
                }
                b'[' => {
                    let (class, next) =
                        parse_class(bytes, i + 1).ok_or_else(|| refuse("'[' is never closed"))?;
                    i = next;
                    class
                }
                c => {
                    i += 1;
                    Token::Literal(c)
                }
            };
            tokens.push(token);
        }
        if tokens.iter().filter(|t| **t == Token::AnyRun).count() > MAX_STARS {
            // Redis stops matching past this depth of `*` (and matches nothing).
            return Err(refuse("more than 1000 '*' runs"));
        }
        Ok(Glob {
            tokens,
            source: pattern.to_owned(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The literal text every match starts with (`model:metrics:` for `model:metrics:*`),
    /// so a sorted store can scan only that range.
    pub fn literal_prefix(&self) -> Vec<u8> {
        self.tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether `text` matches the whole pattern.
    ///
    /// Linear-time matching with one backtrack point (the last `*` seen), so a hostile
    /// pattern like `*a*a*a*b` cannot blow up.
    pub fn matches(&self, text: &str) -> bool {
        self.matches_bytes(text.as_bytes())
    }

    /// Whether `text` matches the whole pattern, byte by byte.
    pub fn matches_bytes(&self, text: &[u8]) -> bool {
        // As in Redis, nothing matches an empty text (not even `*`); keys are never empty.
        if text.is_empty() {
            return false;
        }
        let (mut t, mut p) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::AnyRun) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(token) if token.matches(text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star_p, star_t)) => {
                        backtrack = Some((star_p, star_t + 1));
                        p = star_p + 1;
                        t = star_t + 1;
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }
}

/// Escapes glob metacharacters so `text` matches only itself.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, yes: &[&str], no: &[&str]) {
        let glob = Glob::new(pattern).unwrap();
        for text in yes {
            assert!(glob.matches(text), "{pattern} should match {text}");
        }
        for text in no {
            assert!(!glob.matches(text), "{pattern} should not match {text}");
        }
    }

    #[test]
    fn seed_003_patterns() {
        check(
            "model:metrics:*",
            &[
                "model:metrics:abc-123",
                "model:metrics:",
                "model:metrics:a:b",
            ],
            &["model:comparison:x", "xmodel:metrics:a", "model:metric"],
        );
        check("*:top_??", &["m:fi:a:top_10"], &["m:fi:a:top_5", "top_10"]);
    }

    #[test]
    fn classes_and_escapes() {
        check("v[0-9]", &["v0", "v9"], &["va", "v10"]);
        check("v[^0-9]", &["va"], &["v0"]);
        // As in Redis, the first `]` closes a class: `[]` is an empty class.
        check("a[]b]c", &[], &["a]c", "abc", "ab]c"]);
        check("a[^]b", &["axb", "a]b"], &["ab"]);
        check("v[a-c]x", &["vbx"], &["vdx"]);
        check(r"lit\*", &["lit*"], &["lits"]);
        check(&escape("we[ir]d*?"), &["we[ir]d*?"], &["weid*?", "wei"]);
    }

    #[test]
    fn classes_read_as_redis_reads_them() {
        // An escaped byte is a member, never the start of a range.
        check(r"k[\a-c]", &["ka", "k-", "kc"], &["kb"]);
        // Any byte after `-` ends a range, `]` included; reversed ends are swapped.
        check("k[a-]b]", &["k]", "k^", "ka", "kb"], &["kc", "k[", "k-"]);
        check("k[c-a]", &["ka", "kb", "kc"], &["kd"]);
        // `[a-]` ranges up to `]`, so the class never closes: refused.
        assert!(Glob::new("k[a-]").is_err());
        check("k[-a]", &["k-", "ka"], &["kb"]);
        check("*", &["x"], &[""]);
    }

    #[test]
    fn stars_do_not_explode() {
        let glob = Glob::new("*a*a*a*a*a*a*a*a*b").unwrap();
        assert!(!glob.matches(&"a".repeat(5000)));
        check("a**b", &["ab", "axxb"], &["a"]);
        check("*", &["anything"], &[]);
    }

    #[test]
    fn literal_prefix_stops_at_first_metacharacter() {
        let prefix = |p: &str| String::from_utf8(Glob::new(p).unwrap().literal_prefix()).unwrap();
        assert_eq!(prefix("model:metrics:*"), "model:metrics:");
        assert_eq!(prefix(r"a\*b*"), "a*b");
        assert_eq!(prefix("*x"), "");
    }

    #[test]
    fn matching_is_on_bytes_like_redis() {
        // `é` is two bytes in UTF-8.
        check("donn??es", &["données"], &["donnees"]);
        check("donn?es", &["donnees"], &["données"]);
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in ["", "a[bc", r"a\", "[", "[a-"] {
            assert!(Glob::new(bad).is_err(), "{bad:?}");
        }
    }
}
