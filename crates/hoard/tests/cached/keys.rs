//! `#[cached]` keys are pinned: `{name}:v2:{hash}`, the hash being the XXH3-128 of the
//! arguments' byte stream (the format hoard's `cached/args.rs` documents). These literal
//! keys must not change between releases, or every stored result (and every other
//! process sharing a Redis) silently misses.

use hoard::__private::ArgsHasher;
use hoard::{cached, Cache};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;

/// The hash of the arguments `(3,)`.
pub const HASH_OF_3: &str = "d170721ea20c8afdb0aba51907995146";
/// The hash of the arguments `(12, "emotion-v2")`.
const HASH_OF_12_EMOTION: &str = "a45d4c1ff5abcf340f0905bb06a7a669";

/// This file's own cache: the tests here count stats and computations.
fn keys_cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::in_memory)
}

fn stored(cache: &Cache, key: &str) -> bool {
    hoard::block_on(cache.get_raw("cached", key))
        .expect("a memory read does not fail")
        .is_some()
}

/// The key `#[cached(name = "f")]` gives a call whose arguments `add` feeds.
fn key_of(add: impl FnOnce(&mut ArgsHasher)) -> String {
    hoard::__private::call_key("f", add).text().to_string()
}

#[test]
fn keys_of_fixed_arguments_are_pinned() {
    #[derive(Serialize)]
    struct Query {
        top_n: u32,
        filters: BTreeMap<&'static str, &'static str>,
        lang: Option<&'static str>,
    }
    #[derive(Serialize)]
    enum Split {
        Dev,
        Range { from: u8, to: u8 },
    }
    let query = Query {
        top_n: 10,
        filters: [("emotion", "happy"), ("split", "dev")].into(),
        lang: None,
    };
    let cases: Vec<(&str, String, String)> = vec![
        (
            "no arguments",
            key_of(|_| {}),
            "f:v2:75bbcbc956c595ab99b27acdc6e3e2b3".into(),
        ),
        (
            "(3,)",
            key_of(|a| a.arg(&3u64)),
            format!("f:v2:{HASH_OF_3}"),
        ),
        (
            "(12, \"emotion-v2\")",
            key_of(|a| {
                a.arg(&12u64);
                a.arg("emotion-v2");
            }),
            format!("f:v2:{HASH_OF_12_EMOTION}"),
        ),
        (
            "numbers",
            key_of(|a| {
                a.arg(&-7i64);
                a.arg(&1.5f64);
                a.arg(&-0.0f64);
                a.arg(&f64::NAN);
                a.arg(&u128::MAX);
            }),
            "f:v2:83f9e725d42d5acd77b3fe39c8e53d3f".into(),
        ),
        (
            "options and units",
            key_of(|a| {
                a.arg(&Some("x"));
                a.arg(&None::<u8>);
                a.arg(&());
                a.arg(&true);
            }),
            "f:v2:5903e5b3e92b175bc2a33bc1d97f75d6".into(),
        ),
        (
            "a list",
            key_of(|a| a.arg(&vec!["abc-123", "def-456"])),
            "f:v2:c0e8b2a44ad92f87f52650f93b245e2d".into(),
        ),
        (
            "text",
            key_of(|a| a.arg("ü🙂\t\"")),
            "f:v2:5d1c3beb9530de46ff57d4e61c6f77b5".into(),
        ),
        (
            "a struct",
            key_of(|a| a.arg(&query)),
            "f:v2:bce1ccf1db96497a9b61c27f8170a7a2".into(),
        ),
        (
            "enums",
            key_of(|a| {
                a.arg(&Split::Dev);
                a.arg(&Split::Range { from: 1, to: 2 });
            }),
            "f:v2:3e6012444ee20eefefc9cf4b8f0660a3".into(),
        ),
        (
            "a map with integer keys",
            key_of(|a| a.arg(&HashMap::from([(1u32, "one"), (2, "two")]))),
            "f:v2:2bd177ceb0afed2ed6f450470b190de4".into(),
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, actual, expected)| actual != expected)
        .map(|(what, actual, expected)| format!("{what}: {actual} (pinned {expected})"))
        .collect();
    assert!(wrong.is_empty(), "keys changed:\n{}", wrong.join("\n"));
}

static GOLDEN: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = keys_cache(), name = "golden")]
fn golden(id: u64, label: String) -> u64 {
    GOLDEN.fetch_add(1, SeqCst);
    id * 2 + label.len() as u64
}

/// Not serializable: left out of the key with `skip`.
struct Client;

struct Api {
    cache: Cache,
}

impl Api {
    /// `self` and the skipped client are not in the key: it is `golden`'s.
    #[cached(cache = self.cache, name = "golden", skip(client))]
    fn lookup(&self, client: &Client, id: u64, label: String) -> u64 {
        let _ = client;
        id + label.len() as u64
    }
}

#[test]
fn a_cached_function_stores_at_its_pinned_key_skipped_arguments_left_out() {
    assert_eq!(golden(12, "emotion-v2".into()), 34);
    let key = format!("golden:v2:{HASH_OF_12_EMOTION}");
    assert!(stored(keys_cache(), &key), "{key}");
    let api = Api {
        cache: Cache::in_memory(),
    };
    assert_eq!(api.lookup(&Client, 12, "emotion-v2".into()), 22);
    assert!(stored(&api.cache, &key), "{key}");
}

static WRITTEN_AS_TEXT: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = keys_cache(), name = "written_as_text")]
fn written_as_text(id: u64, label: String) -> u64 {
    WRITTEN_AS_TEXT.fetch_add(1, SeqCst);
    id
}

#[test]
fn a_value_set_at_a_calls_key_text_is_the_calls_hit() {
    // A hit looks the entry up by the argument digest, not the text: what a plain `set`
    // of the pinned text stored (another process, a warm-up script) must be found by it,
    // replaced values included.
    let key = format!("written_as_text:v2:{HASH_OF_12_EMOTION}");
    let cache = keys_cache();
    hoard::block_on(cache.set("cached", &key, &7u64)).expect("memory set");
    assert_eq!(written_as_text(12, "emotion-v2".into()), 7);
    hoard::block_on(cache.set("cached", &key, &8u64)).expect("memory set");
    assert_eq!(written_as_text(12, "emotion-v2".into()), 8);
    assert_eq!(WRITTEN_AS_TEXT.load(SeqCst), 0, "served without computing");
    hoard::block_on(cache.delete("cached", &key)).expect("memory delete");
    assert_eq!(written_as_text(12, "emotion-v2".into()), 12);
    assert_eq!(
        WRITTEN_AS_TEXT.load(SeqCst),
        1,
        "a deleted key is computed again"
    );
}

#[test]
fn a_long_name_keeps_the_same_key_text() {
    const NAME: &str = "a_cache_name_far_longer_than_the_key_buffer_on_the_stack_which_holds_128_bytes_so_this_key_is_built_on_the_heap";
    #[cached(cache = keys_cache(), name = "a_cache_name_far_longer_than_the_key_buffer_on_the_stack_which_holds_128_bytes_so_this_key_is_built_on_the_heap")]
    fn long_named(x: u64) -> u64 {
        x + 1
    }
    assert_eq!(long_named(3), 4);
    assert!(stored(keys_cache(), &format!("{NAME}:v2:{HASH_OF_3}")));
}

static OLD_FORMAT: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = keys_cache(), name = "old_format")]
fn old_format(id: u64, label: String) -> u64 {
    OLD_FORMAT.fetch_add(1, SeqCst);
    id + label.len() as u64
}

#[test]
fn entries_of_the_first_key_format_miss_and_are_cleared_with_the_rest() {
    // The first format: `{name}:{stable_hash of the arguments as a JSON array}`.
    let old = format!(
        "old_format:{}",
        hoard::stable_hash(&(12u64, "emotion-v2")).unwrap()
    );
    hoard::block_on(keys_cache().set("cached", &old, &999u64)).unwrap();
    assert_eq!(
        old_format(12, "emotion-v2".into()),
        22,
        "computed, not read"
    );
    assert_eq!(OLD_FORMAT.load(SeqCst), 1);
    assert_eq!(old_format(12, "emotion-v2".into()), 22);
    assert_eq!(OLD_FORMAT.load(SeqCst), 1);
    assert_eq!(
        old_format_cache().clear_blocking(keys_cache()).unwrap(),
        2,
        "clear takes both formats"
    );
}

static JOINED: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = keys_cache(), name = "joined")]
fn joined(a: String, b: String) -> String {
    JOINED.fetch_add(1, SeqCst);
    format!("{a}|{b}")
}

#[test]
fn arguments_do_not_run_into_each_other() {
    assert_eq!(joined("ab".into(), "c".into()), "ab|c");
    assert_eq!(joined("a".into(), "bc".into()), "a|bc");
    assert_eq!(joined("abc".into(), String::new()), "abc|");
    assert_eq!(JOINED.load(SeqCst), 3);
}

#[cached(cache = keys_cache(), name = "width")]
fn narrow(x: u8) -> String {
    format!("narrow {x}")
}

#[cached(cache = keys_cache(), name = "width")]
fn wide(x: i64) -> String {
    format!("wide {x}")
}

#[test]
fn integers_key_by_value_so_widening_an_argument_keeps_its_entries() {
    assert_eq!(narrow(1), "narrow 1");
    assert_eq!(wide(1), "narrow 1", "the u8 call's entry");
    assert_eq!(wide(-1), "wide -1");
    assert_eq!(wide(256), "wide 256");
}

static FILTERED: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = keys_cache(), name = "filtered")]
fn filtered(filters: HashMap<String, String>) -> usize {
    FILTERED.fetch_add(1, SeqCst);
    filters.len()
}

#[test]
fn a_hash_map_keys_the_same_whatever_its_order() {
    let pairs = [
        ("lang", "en"),
        ("emotion", "happy"),
        ("split", "dev"),
        ("speaker", "03"),
    ];
    let mut small = HashMap::new();
    let mut large = HashMap::with_capacity(1024);
    for (k, v) in pairs {
        small.insert(k.to_owned(), v.to_owned());
    }
    for (k, v) in pairs.iter().rev() {
        large.insert(k.to_string(), v.to_string());
    }
    assert_eq!(filtered(small), 4);
    assert_eq!(filtered(large), 4);
    assert_eq!(FILTERED.load(SeqCst), 1);
}

static COUNTED: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = cache, skip(cache), name = "counted")]
async fn counted(cache: &Cache, x: u64) -> u64 {
    COUNTED.fetch_add(1, SeqCst);
    x * 10
}

#[tokio::test]
async fn a_hit_is_one_l1_hit_and_an_unreadable_entry_one_hit_then_a_recompute() {
    let cache = Cache::in_memory();
    assert_eq!(counted(&cache, 3).await, 30);
    assert_eq!(counted(&cache, 3).await, 30);
    assert_eq!(COUNTED.load(SeqCst), 1);
    let stats = cache.stats().await.unwrap().namespaces["cached"].clone();
    assert_eq!((stats.l1_hits, stats.misses), (1, 1));
    // A value of another type at the key (an older version of the function): recomputed,
    // overwritten, and counted once.
    let key = format!("counted:v2:{HASH_OF_3}");
    cache.set("cached", &key, &"thirty").await.unwrap();
    assert_eq!(counted(&cache, 3).await, 30);
    assert_eq!(COUNTED.load(SeqCst), 2);
    assert_eq!(cache.get::<u64>("cached", &key).await.unwrap(), Some(30));
    let stats = cache.stats().await.unwrap().namespaces["cached"].clone();
    assert_eq!(
        (stats.l1_hits, stats.misses),
        (3, 1),
        "the unreadable hit counted once, then our own get"
    );
}

/// Serializes to an error, as a `serialize_with` that refuses a value does.
struct Refuses;

impl Serialize for Refuses {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused"))
    }
}

static REFUSED: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = keys_cache(), name = "refused")]
fn refused(id: u32, refuses: Refuses) -> u32 {
    let _ = refuses;
    REFUSED.fetch_add(1, SeqCst);
    id + 1
}

#[test]
fn arguments_that_do_not_serialize_are_computed_every_time_not_cached() {
    assert_eq!(refused(1, Refuses), 2);
    assert_eq!(refused(1, Refuses), 2);
    assert_eq!(REFUSED.load(SeqCst), 2);
    assert_eq!(
        refused_cache().clear_blocking(keys_cache()).unwrap(),
        0,
        "nothing stored"
    );
}
