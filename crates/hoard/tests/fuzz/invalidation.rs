//! The Redis tier's invalidation messages (`{origin}\n{kind}\n{payload}`, see
//! `store/redis/notify.rs`): any text parses to what the format says or to nothing, never
//! a panic, and every message a store writes parses back to what it said.

use hoard::store::Remote;
use hoard::{RedisConfig, RedisStore};
use std::sync::OnceLock;

/// A store that is never connected: parsing needs none.
pub fn store() -> &'static RedisStore {
    static STORE: OnceLock<RedisStore> = OnceLock::new();
    STORE.get_or_init(|| RedisStore::open(RedisConfig::standalone("redis://127.0.0.1:1")).unwrap())
}

/// What the format says `text` means, read independently of the store's parser (for a
/// message from another store: origins are random, a generated one is never ours).
pub fn reference(text: &str) -> Option<Remote> {
    let (_origin, rest) = text.split_once('\n')?;
    let (kind, payload) = rest.split_once('\n').unwrap_or((rest, ""));
    let keys = || -> Vec<String> {
        payload
            .split('\n')
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect()
    };
    Some(match kind {
        "S" => Remote::Overwritten(keys()),
        "D" => Remote::Deleted(keys()),
        "P" => Remote::Pattern(payload.to_owned()),
        "X" => Remote::Prefix(payload.to_owned()),
        "A" => Remote::All,
        "G" => {
            let (namespace, generation) = payload.split_once('\n')?;
            Remote::Generation(namespace.to_owned(), generation.parse().ok()?)
        }
        _ => return None,
    })
}

/// `text` parses as the reference reads it, unless it comes from the store itself (one
/// origin, the store's own, is ignored: a coverage-guided fuzzer finds it by its
/// comparisons): then the same message from another origin does.
pub fn parse(text: &str) {
    static OWN: OnceLock<String> = OnceLock::new();
    let parsed = store().parse_invalidation_message(text);
    let expected = reference(text);
    if parsed.is_none() && expected.is_some() {
        let (origin, rest) = text.split_once('\n').unwrap();
        let own = OWN.get_or_init(|| origin.to_owned());
        assert_eq!(
            origin, own,
            "message {text:?} ignored, another origin was ignored before"
        );
        let other = format!("_{origin}\n{rest}");
        assert_eq!(
            store().parse_invalidation_message(&other),
            expected,
            "message {other:?}"
        );
        return;
    }
    assert_eq!(parsed, expected, "message {text:?}");
}

/// The message a store publishes for `remote` (`RedisStore::message` and `keys_message`).
pub fn print(origin: &str, remote: &Remote) -> Option<String> {
    let (kind, payload) = match remote {
        Remote::Overwritten(keys) => ('S', keys.join("\n")),
        Remote::Deleted(keys) => ('D', keys.join("\n")),
        Remote::Pattern(pattern) => ('P', pattern.clone()),
        Remote::Prefix(prefix) => ('X', prefix.clone()),
        Remote::All => ('A', String::new()),
        Remote::Generation(namespace, generation) => ('G', format!("{namespace}\n{generation}")),
        Remote::Connected | Remote::Lost => return None,
    };
    Some(format!("{origin}\n{kind}\n{payload}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};

    const DIR: &str = env!("CARGO_MANIFEST_DIR");
    const ORIGIN: &str = "0123456789abcdef";

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let remotes = [
            (
                "overwritten",
                Remote::Overwritten(vec!["model:metrics:a".into(), "m:b".into()]),
            ),
            ("deleted", Remote::Deleted(vec!["results:x".into()])),
            ("pattern", Remote::Pattern("model:metrics:*".into())),
            ("prefix", Remote::Prefix("dataset:".into())),
            ("all", Remote::All),
            ("generation", Remote::Generation("model".into(), 7)),
        ];
        remotes
            .into_iter()
            .map(|(name, remote)| (name, print(ORIGIN, &remote).unwrap().into_bytes()))
            .collect()
    }

    #[test]
    fn invalidation_messages_parse_as_their_format_says() {
        fuzz::bless(DIR, "invalidation", &seeds());
        let corpus = fuzz::corpus(DIR, "invalidation");
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        const TOKENS: &[&[u8]] = &[
            b"\n",
            b"S",
            b"D",
            b"P",
            b"X",
            b"A",
            b"G",
            b"\n\n",
            b"4294967296",
            b"-1",
            b"+1",
        ];
        fuzz::check(
            "invalidation",
            &corpus,
            fuzz::cases(3000),
            fuzz::mutated(bytes, TOKENS),
            |input: Input| {
                parse(&String::from_utf8_lossy(&input));
                Ok(())
            },
            |bytes| Input(bytes.to_vec()),
        );
    }

    #[test]
    fn printed_invalidations_parse_back() {
        // Keys never hold a newline (nor are empty): they are printable ASCII.
        let key = "[ -~]{1,12}";
        let remote = prop_oneof![
            prop::collection::vec(key, 1..4).prop_map(Remote::Overwritten),
            prop::collection::vec(key, 1..4).prop_map(Remote::Deleted),
            "[^\n]{0,16}".prop_map(Remote::Pattern),
            "[ -~]{0,16}".prop_map(Remote::Prefix),
            Just(Remote::All),
            (key, any::<u32>()).prop_map(|(ns, g)| Remote::Generation(ns, g)),
        ];
        fuzz::check(
            "invalidation_roundtrip",
            &[],
            fuzz::cases(1500),
            ("[0-9a-f]{16}", remote),
            |(origin, remote)| {
                let text = print(&origin, &remote).unwrap();
                let parsed = store().parse_invalidation_message(&text);
                prop_assert_eq!(parsed, Some(remote), "{:?}", text);
                Ok(())
            },
            |_| (ORIGIN.to_owned(), Remote::All),
        );
    }
}
