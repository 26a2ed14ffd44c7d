//! `Interner`: round trips, one id per string under concurrent inserts, persistence and
//! corrupt files.

use hoard_snapshot::{Interner, InternerError};
use std::sync::{Arc, Barrier};

#[test]
fn names_and_ids_round_trip_one_by_one_many_at_once_and_as_strings() {
    let tags = Interner::new();
    assert!(tags.is_empty());
    assert_eq!(tags.intern("long_hair").unwrap(), 0);
    assert_eq!(tags.intern("smile").unwrap(), 1);
    assert_eq!(
        tags.intern("long_hair").unwrap(),
        0,
        "a repeat keeps its id"
    );
    assert_eq!(tags.get_id("smile"), Some(1));
    assert_eq!(tags.get_id("unknown"), None);
    assert_eq!(tags.get_name(0), Some("long_hair"));
    assert_eq!(tags.get_name(2), None);

    let ids = tags
        .ids_from_string("  blue_eyes smile\tlong_hair  ")
        .unwrap();
    assert_eq!(ids, [2, 1, 0]);
    assert_eq!(
        tags.string_from_ids(&ids).unwrap(),
        "blue_eyes smile long_hair"
    );
    assert_eq!(tags.ids_from_string("").unwrap(), Vec::<u32>::new());
    assert_eq!(tags.get_ids(["smile", "blue_eyes"]), Some(vec![1, 2]));
    assert_eq!(tags.get_ids(["smile", "nobody"]), None);
    assert_eq!(tags.get_names(&[2, 0]).unwrap(), ["blue_eyes", "long_hair"]);
    assert!(matches!(
        tags.get_names(&[0, 9]),
        Err(InternerError::UnknownId(9))
    ));
    assert_eq!(
        tags.iter().collect::<Vec<_>>(),
        [(0, "long_hair"), (1, "smile"), (2, "blue_eyes")]
    );

    // Past the first chunks of the id table, and non-ASCII names.
    let many: Vec<String> = (0..10_000).map(|i| format!("タグ_{i}")).collect();
    let ids = tags.intern_all(many.iter().map(String::as_str)).unwrap();
    for (name, id) in many.iter().zip(&ids) {
        assert_eq!(tags.get_name(*id), Some(name.as_str()));
        assert_eq!(tags.get_id(name), Some(*id));
    }
    assert_eq!(tags.len(), 10_003);
}

#[test]
fn concurrent_inserts_of_the_same_strings_give_one_id_each() {
    let tags = Arc::new(Interner::new());
    let names: Arc<Vec<String>> = Arc::new((0..2_000).map(|i| format!("tag_{i}")).collect());
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (tags, names, start) = (tags.clone(), names.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                // Half the threads go forwards, half backwards, to collide in both orders.
                let order: Vec<usize> = if t % 2 == 0 {
                    (0..names.len()).collect()
                } else {
                    (0..names.len()).rev().collect()
                };
                let mut ids = vec![0; names.len()];
                for i in order {
                    ids[i] = tags.intern(&names[i]).unwrap();
                }
                ids
            })
        })
        .collect();
    let results: Vec<Vec<u32>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        results.iter().all(|ids| *ids == results[0]),
        "every thread saw the same ids"
    );
    assert_eq!(tags.len(), names.len());
    let mut distinct = results[0].clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        names.len(),
        "one id per string, none shared"
    );
    assert_eq!(
        *distinct.last().unwrap() as usize,
        names.len() - 1,
        "ids are dense"
    );
}

#[test]
fn a_persisted_mapping_loads_back_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tags.hoardint");
    let tags = Interner::from_names(["long_hair", "smile", "", "ünïcode tag"]).unwrap();
    tags.persist(&path).unwrap();
    let loaded = Interner::load(&path).unwrap();
    assert_eq!(
        loaded.iter().collect::<Vec<_>>(),
        tags.iter().collect::<Vec<_>>()
    );
    assert_eq!(loaded.get_id("ünïcode tag"), Some(3));
    // New strings continue after the loaded ids.
    assert_eq!(loaded.intern("new").unwrap(), 4);

    // Persisting again replaces the file.
    loaded.persist(&path).unwrap();
    assert_eq!(Interner::load(&path).unwrap().len(), 5);
    let empty = dir.path().join("empty");
    Interner::new().persist(&empty).unwrap();
    assert!(Interner::load(&empty).unwrap().is_empty());
}

#[test]
fn corrupt_or_missing_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tags.hoardint");
    Interner::from_names(["long_hair", "smile"])
        .unwrap()
        .persist(&path)
        .unwrap();
    let good = std::fs::read(&path).unwrap();

    let check = |bytes: &[u8], expected: &str| {
        std::fs::write(&path, bytes).unwrap();
        match Interner::load(&path) {
            Err(InternerError::CorruptFile { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
            }
            other => panic!("expected a corrupt-file error, got {other:?}"),
        }
    };
    let mut flipped = good.clone();
    flipped[22] ^= 1;
    check(&flipped, "checksum");
    check(&good[..good.len() - 1], "checksum");
    check(&good[..10], "too short");
    check(
        b"PNG\r\n\x1a\n-not-an-interner-file-at-all-padding-padding",
        "magic",
    );
    let mut version = good.clone();
    version[8] = 9;
    check(&version, "version 9");
    check(&[], "too short");

    let error = Interner::load(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(error, InternerError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("missing"), "{error}");
}
