//! The in-memory tier's own tests: keys, budget, deadlines, the sweeper, freeing.

use super::table::ENTRY_OVERHEAD;
use super::*;
use std::time::Instant;

fn entry(bytes: usize, ttl: Duration) -> Entry {
    Entry::new(vec![7u8; bytes], ttl)
}

#[test]
fn keys_are_found_by_their_parts_and_never_by_another_split() {
    let store = MemoryStore::new(1 << 20);
    let ttl = Duration::from_secs(60);
    store.set_now("ns:k:x", Entry::new(vec![1], ttl));
    store.set_now("plain", Entry::new(vec![2], ttl));
    store.set_now(":plain", Entry::new(vec![3], ttl));
    let value = |found: Option<Entry>| found.map(|e| e.value[0]);
    assert_eq!(value(store.get_parts("ns", "k:x")), Some(1));
    assert_eq!(value(store.get_now("ns:k:x")), Some(1));
    assert_eq!(value(store.get_parts("ns:k", "x")), None);
    assert_eq!(value(store.get_parts("ns", "k")), None);
    // Without a `:` a key has no namespace; with a leading one, an empty namespace.
    assert_eq!(value(store.get_now("plain")), Some(2));
    assert_eq!(value(store.get_now(":plain")), Some(3));
    assert_eq!(value(store.get_parts("", "plain")), Some(3));
    assert!(store.delete_now(":plain"));
    assert_eq!(value(store.get_now("plain")), Some(2));
    assert_eq!(store.usage_now().entries, 2);
}

#[test]
fn call_keys_are_found_by_digest_and_by_text_alike() {
    // Keys ending in `:v2:` and 32 lowercase hex digits are hashed by their digest; a
    // lookup by the digest and one by the text must find the same entry, whichever wrote
    // it, and nothing that only looks similar.
    let store = MemoryStore::new(1 << 20);
    let ttl = Duration::from_secs(60);
    let digest: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    let text = format!("report:v2:{digest:032x}");
    store.set_now(&format!("ns:{text}"), Entry::new(vec![1], ttl));
    let value = |found: Option<Entry>| found.map(|e| e.value[0]);
    assert_eq!(value(store.get_call("ns", "report", digest)), Some(1));
    assert_eq!(value(store.get_parts("ns", &text)), Some(1));
    for (namespace, name, other) in [
        ("ns", "report", digest ^ 1),
        ("ns", "repor", digest),
        ("ns", "reports", digest),
        ("other", "report", digest),
    ] {
        assert_eq!(value(store.get_call(namespace, name, other)), None);
    }
    // The uppercase spelling is another key, stored and found as text only.
    let upper = format!("ns:report:v2:{digest:032X}");
    store.set_now(&upper, Entry::new(vec![2], ttl));
    assert_eq!(value(store.get_now(&upper)), Some(2));
    assert_eq!(value(store.get_call("ns", "report", digest)), Some(1));
    // Replaced and removed through the text, the entry is gone for the digest too.
    store.set_now(&format!("ns:{text}"), Entry::new(vec![3], ttl));
    assert_eq!(value(store.get_call("ns", "report", digest)), Some(3));
    assert!(store.delete_now(&format!("ns:{text}")));
    assert_eq!(value(store.get_call("ns", "report", digest)), None);
    assert_eq!(store.usage_now().entries, 1);
}

#[test]
fn keys_kept_inline_and_keys_kept_apart_are_found_alike() {
    // 24 bytes fit inside the slot; 25 and more live in their own allocation. Keys on
    // both sides of that line, sharing prefixes, must each find only their own entry.
    let store = MemoryStore::new(1 << 20);
    let ttl = Duration::from_secs(60);
    let keys: Vec<String> = [1, 22, 23, 24, 25, 40, 1000]
        .iter()
        .map(|&len| format!("ns:{}", "k".repeat(len)))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        store.set_now(key, Entry::new(vec![i as u8], ttl));
    }
    for (i, key) in keys.iter().enumerate() {
        let (namespace, rest) = key.split_once(':').unwrap();
        assert_eq!(
            store.get_parts(namespace, rest).map(|e| e.value[0]),
            Some(i as u8),
            "{key}"
        );
        assert_eq!(
            store.get_now(key).map(|e| e.value[0]),
            Some(i as u8),
            "{key}"
        );
    }
    assert_eq!(store.get_parts("ns", &"k".repeat(26)), None);
    let weights: u64 = keys
        .iter()
        .map(|k| k.len() as u64 + 1 + ENTRY_OVERHEAD)
        .sum();
    assert_eq!(store.usage_now().bytes, weights);
}

#[test]
fn a_replaced_value_is_not_an_eviction() {
    let store = MemoryStore::new(1 << 20);
    for i in 0..10u8 {
        store.set_now("k", Entry::new(vec![i; 100], Duration::from_secs(60)));
    }
    assert_eq!(store.get_now("k").unwrap().value.as_ref(), &[9u8; 100][..]);
    let usage = store.usage_now();
    assert_eq!((usage.entries, usage.evictions), (1, 0));
}

#[test]
fn a_value_too_large_for_the_budget_is_refused_and_the_old_one_goes() {
    let store = MemoryStore::new(4096);
    store.set_now("k", entry(100, Duration::from_secs(60)));
    store.set_now("k", entry(10_000, Duration::from_secs(60)));
    assert_eq!(store.get_now("k"), None, "the old value must not be served");
    let usage = store.usage_now();
    assert_eq!((usage.entries, usage.evictions), (0, 1));
}

#[test]
fn a_rendered_value_is_charged_kept_with_its_entry_and_gone_with_it() {
    let store = MemoryStore::new(1 << 20);
    store.set_now("ns:k", entry(100, Duration::from_secs(60)));
    let before = store.usage_now().bytes;
    let found = store.get_parts_rendered("ns", "k").unwrap();
    assert_eq!(found.json, None);
    store.attach_json("ns", "k", &found.entry.value, Bytes::from_static(b"[7,7]"));
    assert_eq!(store.usage_now().bytes, before + 5);
    let again = store.get_parts_rendered("ns", "k").unwrap();
    assert_eq!(again.json.as_deref(), Some(&b"[7,7]"[..]));
    // A second text for the same entry is not kept, nor one rendered from an older value.
    store.attach_json("ns", "k", &again.entry.value, Bytes::from_static(b"other"));
    store.set_now("ns:k", entry(100, Duration::from_secs(60)));
    assert_eq!(
        store.usage_now().bytes,
        before,
        "the overwrite dropped the text"
    );
    store.attach_json("ns", "k", &found.entry.value, Bytes::from_static(b"stale"));
    assert_eq!(store.get_parts_rendered("ns", "k").unwrap().json, None);
    assert_eq!(store.usage_now().bytes, before);
    assert!(store.delete_now("ns:k"));
    assert_eq!(store.usage_now().bytes, 0);
}

#[test]
fn rendered_values_count_toward_the_budget_and_push_others_out() {
    let budget = 8 * 1024;
    let store = MemoryStore::new(budget);
    for i in 0..40 {
        store.set_now(&format!("ns:{i}"), entry(100, Duration::from_secs(60)));
        let found = store.get_parts_rendered("ns", &i.to_string()).unwrap();
        store.attach_json(
            "ns",
            &i.to_string(),
            &found.entry.value,
            vec![b'1'; 300].into(),
        );
        assert!(store.usage_now().bytes <= budget);
    }
    let usage = store.usage_now();
    assert!(usage.evictions > 0, "{usage:?}");
    // A text that would not fit the budget alone is simply not kept.
    store.set_now("ns:big", entry(100, Duration::from_secs(60)));
    let found = store.get_parts_rendered("ns", "big").unwrap();
    store.attach_json(
        "ns",
        "big",
        &found.entry.value,
        vec![b'1'; 2 * budget as usize].into(),
    );
    assert_eq!(store.get_parts_rendered("ns", "big").unwrap().json, None);
    assert!(store.usage_now().bytes <= budget);
}

#[test]
fn a_zero_budget_holds_nothing() {
    let store = MemoryStore::new(0);
    store.set_now("k", entry(1, Duration::from_secs(60)));
    assert_eq!(store.get_now("k"), None);
    assert_eq!(store.usage_now().evictions, 0);
}

#[test]
fn max_age_ends_an_entry_before_its_deadline() {
    let store = MemoryStore::with_max_age(1 << 20, Some(Duration::from_millis(30)));
    store.set_now("k", entry(10, Duration::from_secs(3600)));
    assert!(store.get_now("k").is_some());
    let started = Instant::now();
    while store.get_now("k").is_some() {
        assert!(started.elapsed() < Duration::from_secs(5), "still served");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[test]
fn the_sweeper_gives_expired_memory_back_without_being_asked() {
    let store = MemoryStore::new(1 << 20);
    for i in 0..100 {
        store.set_now(&format!("short{i}"), entry(100, Duration::from_millis(20)));
    }
    store.set_now("long", entry(100, Duration::from_secs(3600)));
    // Watch the entries directly: `usage_now` would sweep by itself.
    let started = Instant::now();
    while store.shared.entries.len() > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} entries still held",
            store.shared.entries.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(store.get_now("long").is_some());
    let usage = store.usage_now();
    assert_eq!((usage.entries, usage.expirations), (1, 100));
    assert_eq!(usage.bytes, 4 + 100 + ENTRY_OVERHEAD);
}

#[test]
fn dropping_the_store_stops_its_sweeper() {
    let store = MemoryStore::new(1 << 20);
    let shared = Arc::downgrade(&store.shared);
    drop(store);
    assert!(
        shared.upgrade().is_none(),
        "the sweeper keeps no strong reference"
    );
}

/// Value bytes that count their own drop, to see when L1 really frees a value (not only
/// stops counting it).
struct Counted {
    bytes: Vec<u8>,
    dropped: Arc<AtomicU64>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Relaxed);
    }
}

fn counted(len: usize, ttl: Duration, dropped: &Arc<AtomicU64>) -> Entry {
    let owner = Counted {
        bytes: vec![3u8; len],
        dropped: Arc::clone(dropped),
    };
    Entry::new(bytes::Bytes::from_owner(owner), ttl)
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn large_values_are_freed_when_replaced_deleted_or_evicted() {
    let dropped = Arc::new(AtomicU64::new(0));
    let store = MemoryStore::new(4 << 20);
    let ttl = Duration::from_secs(60);
    let large = 256 * 1024;
    store.set_now("ns:a", counted(large, ttl, &dropped));
    store.set_now("ns:a", counted(large, ttl, &dropped));
    assert_eq!(
        dropped.load(Relaxed),
        1,
        "the replaced value is freed at once"
    );
    assert!(store.delete_now("ns:a"));
    assert_eq!(
        dropped.load(Relaxed),
        2,
        "the deleted value is freed at once"
    );
    // 4 MiB holds 15 of these; the 16th and later push the oldest out.
    for i in 0..20 {
        store.set_now(&format!("ns:{i}"), counted(large, ttl, &dropped));
    }
    let usage = store.usage_now();
    assert!(usage.bytes <= 4 << 20, "{} bytes held", usage.bytes);
    assert_eq!(20 - usage.entries, usage.evictions);
    assert_eq!(dropped.load(Relaxed), 2 + usage.evictions);
}

#[test]
fn expired_values_are_freed_by_the_sweeper_even_small_ones() {
    let dropped = Arc::new(AtomicU64::new(0));
    let store = MemoryStore::new(1 << 20);
    for i in 0..5 {
        store.set_now(
            &format!("ns:{i}"),
            counted(100, Duration::from_millis(20), &dropped),
        );
    }
    // Fewer removals than a batch of the map's collector: freed only because the sweep
    // flushes it.
    wait_for("expired values still allocated", || {
        dropped.load(Relaxed) == 5
    });
    assert_eq!(store.usage_now().expirations, 5);
}

#[test]
fn values_are_freed_while_other_threads_keep_reading() {
    let dropped = Arc::new(AtomicU64::new(0));
    let store = Arc::new(MemoryStore::new(8 << 20));
    store.set_now("ns:hot", entry(10, Duration::from_secs(60)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    assert!(store.get_now("ns:hot").is_some());
                }
            })
        })
        .collect();
    for i in 0..3 {
        store.set_now(
            &format!("ns:{i}"),
            counted(1 << 20, Duration::from_millis(20), &dropped),
        );
    }
    wait_for("expired values still allocated under reads", || {
        dropped.load(Relaxed) == 3
    });
    stop.store(true, Relaxed);
    for reader in readers {
        reader.join().expect("reader");
    }
}

#[test]
fn entries_read_since_the_hand_passed_outlive_a_scan_of_one_off_keys() {
    // One ring (the budget is under its minimum), 100 small entries' worth.
    let budget = 100 * (8 + 10 + ENTRY_OVERHEAD);
    let store = MemoryStore::new(budget);
    let ttl = Duration::from_secs(60);
    for i in 0..10 {
        store.set_now(&format!("ns:hot{i}"), entry(10, ttl));
    }
    for i in 0..10 {
        assert!(store.get_now(&format!("ns:hot{i}")).is_some());
    }
    // A scan of one-off keys, many times the budget; the hot keys are read again now and
    // then, as hot keys are.
    for i in 0..1000 {
        store.set_now(&format!("ns:s{i:05}"), entry(10, ttl));
        if i % 50 == 49 {
            for h in 0..10 {
                assert!(
                    store.get_now(&format!("ns:hot{h}")).is_some(),
                    "hot{h} evicted at scan key {i}"
                );
            }
        }
    }
    let usage = store.usage_now();
    assert!(usage.bytes <= budget);
    assert_eq!(usage.entries + usage.evictions, 1010);
}

#[test]
fn writers_and_readers_at_once_leave_counts_that_match_the_contents() {
    let store = Arc::new(MemoryStore::new(64 * 1024));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..5_000u64 {
                    let id = ((i * 7 + t) % 300).to_string();
                    let key = format!("ns:{id}");
                    match i % 6 {
                        0 => drop(store.delete_now(&key)),
                        1 => drop(store.get_now(&key)),
                        2 => {
                            // A reader rendering what it found, racing with the writers.
                            if let Some(found) = store.get_parts_rendered("ns", &id) {
                                let text = Bytes::from(vec![b'j'; found.entry.value.len() / 2]);
                                store.attach_json("ns", &id, &found.entry.value, text);
                            }
                        }
                        _ => {
                            store.set_now(&key, entry((i % 200) as usize, Duration::from_secs(60)))
                        }
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    let usage = store.usage_now();
    let (mut entries, mut bytes) = (0, 0);
    for k in 0..300 {
        let key = format!("ns:{k}");
        if let Some(found) = store.get_parts_rendered("ns", &k.to_string()) {
            entries += 1;
            let text = found.json.map_or(0, |json| json.len() as u64);
            bytes += key.len() as u64 + found.entry.value.len() as u64 + ENTRY_OVERHEAD + text;
        }
    }
    assert_eq!((usage.entries, usage.bytes), (entries, bytes));
    assert!(usage.bytes <= 64 * 1024);
}
