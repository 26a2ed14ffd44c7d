//! `#[hoard::cached]` on sync and async functions and methods, with each option.

use hoard::{cached, Cache, CachedFn, SetOptions};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};

mod keys;

/// A cache of this test binary's own (tests in one binary share the global cache, so
/// the tests that count calls use their own functions).
fn test_cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::in_memory)
}

static SQUARES: AtomicUsize = AtomicUsize::new(0);

/// A sync function on the global cache.
#[cached(ttl = "1h")]
fn square(x: u64) -> u64 {
    SQUARES.fetch_add(1, SeqCst);
    x * x
}

#[test]
fn sync_function_computes_once_per_argument() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(SQUARES.load(SeqCst), 1);
    assert_eq!(square(4), 16);
    assert_eq!(SQUARES.load(SeqCst), 2);
    // Bypass: computes and refreshes.
    assert_eq!(square_fresh(3), 9);
    assert_eq!(SQUARES.load(SeqCst), 3);
    assert_eq!(square(3), 9);
    assert_eq!(SQUARES.load(SeqCst), 3);
    // Cleared through the function itself.
    let handle = square_cache();
    assert!(handle.name().ends_with("::square"), "{}", handle.name());
    assert_eq!(handle.clear_blocking(hoard::global()).unwrap(), 2);
    assert_eq!(square(3), 9);
    assert_eq!(SQUARES.load(SeqCst), 4);
    // The entry carries the TTL (its key pinned in `keys.rs`: the hash of `(3,)`).
    let ttl = hoard::block_on(hoard::global().ttl(
        "cached",
        &format!("{}:v2:{}", handle.name(), keys::HASH_OF_3),
    ))
    .unwrap()
    .unwrap();
    assert!(ttl.as_secs() > 3500 && ttl.as_secs() <= 3600, "{ttl:?}");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u32,
    name: String,
}

static PROFILES: AtomicUsize = AtomicUsize::new(0);

/// An async function with a given name, like a Python `@cm.cache("user_profile")`.
#[cached(name = "user_profile", cache = test_cache())]
async fn user_profile(id: u32) -> Profile {
    PROFILES.fetch_add(1, SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    Profile {
        id,
        name: format!("User {id}"),
    }
}

#[tokio::test]
async fn async_function_with_a_name_shares_one_computation() {
    let tasks: Vec<_> = (0..100).map(|_| tokio::spawn(user_profile(7))).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().name, "User 7");
    }
    assert_eq!(PROFILES.load(SeqCst), 1, "single-flight through the macro");
    // Cleared by name, as a Python cache manager clears a cache by its name.
    let by_name = CachedFn::new("cached", "user_profile");
    assert_eq!(by_name, user_profile_cache());
    assert_eq!(by_name.clear(test_cache()).await.unwrap(), 1);
    user_profile(7).await;
    assert_eq!(PROFILES.load(SeqCst), 2);
}

/// Not serializable: a stand-in for a database connection.
struct Db {
    fail_next: std::sync::Mutex<bool>,
}

#[derive(Debug, PartialEq)]
struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct Service {
    cache: Cache,
    lookups: Arc<AtomicUsize>,
    maybes: Arc<AtomicUsize>,
}

impl Service {
    /// A method: `&self` and the skipped connection are not part of the key.
    #[cached(cache = self.cache, skip(db), ttl = "15m")]
    async fn lookup(&self, db: &Db, id: u32) -> Result<String, DbError> {
        self.lookups.fetch_add(1, SeqCst);
        let mut fail = db.fail_next.lock().expect("test mutex");
        if std::mem::take(&mut *fail) {
            return Err(DbError(format!("connection reset looking up {id}")));
        }
        let parsed: u32 = format!("{id}")
            .parse()
            .map_err(|_| DbError("bad id".into()))?;
        Ok(format!("row {parsed}"))
    }

    /// `Option`: `None` is not cached.
    #[cached(cache = self.cache)]
    fn maybe(&self, id: u32) -> Option<u32> {
        self.maybes.fetch_add(1, SeqCst);
        id.is_multiple_of(2).then_some(id / 2)
    }

    /// `Option` with `cache_none`: `None` is cached too.
    #[cached(cache = self.cache, cache_none)]
    fn maybe_cached_none(&self, id: u32) -> Option<u32> {
        self.maybes.fetch_add(1, SeqCst);
        id.is_multiple_of(2).then_some(id / 2)
    }

    /// A readable key of our own instead of a hash.
    #[cached(cache = self.cache, name = "report", key = format!("model:{model}"))]
    async fn report(&self, model: &str, verbose: bool) -> String {
        format!("report for {model} (verbose: {verbose})")
    }
}

fn service() -> Service {
    Service {
        cache: Cache::in_memory(),
        lookups: Arc::new(AtomicUsize::new(0)),
        maybes: Arc::new(AtomicUsize::new(0)),
    }
}

#[tokio::test]
async fn method_with_skipped_argument_caches_ok_only() {
    let s = service();
    let db = Db {
        fail_next: std::sync::Mutex::new(true),
    };
    let err = s.lookup(&db, 5).await.unwrap_err();
    assert_eq!(err, DbError("connection reset looking up 5".into()));
    assert_eq!(
        s.lookup(&db, 5).await.unwrap(),
        "row 5",
        "the error was not cached"
    );
    assert_eq!(s.lookup(&db, 5).await.unwrap(), "row 5");
    assert_eq!(s.lookups.load(SeqCst), 2);
    // Another connection, same id: the same entry (the connection is not in the key).
    let other_db = Db {
        fail_next: std::sync::Mutex::new(false),
    };
    assert_eq!(s.lookup(&other_db, 5).await.unwrap(), "row 5");
    assert_eq!(s.lookups.load(SeqCst), 2);
    // Bypass per call.
    assert_eq!(s.lookup_fresh(&db, 5).await.unwrap(), "row 5");
    assert_eq!(s.lookups.load(SeqCst), 3);
    assert_eq!(Service::lookup_cache().clear(&s.cache).await.unwrap(), 1);
}

#[test]
fn option_returns_cache_some_only_unless_asked() {
    let s = service();
    assert_eq!(s.maybe(4), Some(2));
    assert_eq!(s.maybe(4), Some(2));
    assert_eq!(s.maybes.load(SeqCst), 1);
    assert_eq!(s.maybe(3), None);
    assert_eq!(s.maybe(3), None);
    assert_eq!(s.maybes.load(SeqCst), 3, "None is computed each time");
    assert_eq!(s.maybe_cached_none(3), None);
    assert_eq!(s.maybe_cached_none(3), None);
    assert_eq!(s.maybes.load(SeqCst), 4, "with cache_none, None is cached");
}

#[tokio::test]
async fn custom_keys_are_readable() {
    let s = service();
    assert_eq!(
        s.report("abc-123", true).await,
        "report for abc-123 (verbose: true)"
    );
    // The key ignores `verbose`: the second call is a hit.
    assert_eq!(
        s.report("abc-123", false).await,
        "report for abc-123 (verbose: true)"
    );
    let stored: Option<String> = s.cache.get("cached", "report:model:abc-123").await.unwrap();
    assert_eq!(
        stored.as_deref(),
        Some("report for abc-123 (verbose: true)")
    );
}

#[tokio::test]
async fn a_value_of_an_older_type_is_recomputed_not_an_error() {
    let s = service();
    // An entry left by a version of `report` that returned a number.
    s.cache
        .set_with("cached", "report:model:old", &12345u64, SetOptions::new())
        .await
        .unwrap();
    assert_eq!(
        s.report("old", false).await,
        "report for old (verbose: false)"
    );
    let stored: Option<String> = s.cache.get("cached", "report:model:old").await.unwrap();
    assert_eq!(
        stored.as_deref(),
        Some("report for old (verbose: false)"),
        "overwritten"
    );
}

#[test]
fn an_unusable_key_computes_without_the_cache() {
    #[cached(cache = test_cache(), name = "spaced", key = "has a space")]
    fn spaced() -> u32 {
        41 + 1
    }
    assert_eq!(spaced(), 42, "the call still works");
    assert_eq!(
        hoard::block_on(test_cache().get_raw("cached", "spaced:x")).unwrap(),
        None
    );
}
