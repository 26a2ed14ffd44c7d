//! The catalogue example's logic (an image-tagging service's catalogue) against a real
//! SQLite database: the loaded snapshot agrees with SQL, a tag edit reloads one image, a
//! bulk edit reloads in the background while queries answer from the old snapshot until
//! the swap.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

#[path = "../examples/catalogue/catalogue.rs"]
mod catalogue;

use catalogue::{Catalogue, Spec};
use hoard_snapshot::{Interner, Progress, Snapshot};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};

const SPEC: Spec = Spec {
    images: 3_000,
    tags: 300,
    seed: 7,
};

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    tags: Arc<Interner>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalogue.sqlite");
    catalogue::create_db(&db, SPEC).unwrap();
    Fixture {
        _dir: dir,
        db,
        tags: Arc::new(Interner::new()),
    }
}

/// The images carrying every tag in `names`, straight from SQL.
fn sql_images_with_all(conn: &Connection, names: &[&str]) -> Vec<i64> {
    let placeholders = vec!["?"; names.len()].join(",");
    let sql = format!(
        "SELECT it.image_id FROM image_tags it JOIN tags t ON t.id = it.tag_id
          WHERE t.name IN ({placeholders}) GROUP BY it.image_id HAVING COUNT(*) = {}
          ORDER BY it.image_id",
        names.len()
    );
    let mut statement = conn.prepare(&sql).unwrap();
    let rows = statement
        .query_map(rusqlite::params_from_iter(names), |r| r.get(0))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn sql_tag_count(conn: &Connection, name: &str) -> usize {
    conn.query_row(
        "SELECT COUNT(*) FROM image_tags it JOIN tags t ON t.id = it.tag_id WHERE t.name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
}

fn fresh_load(f: &Fixture) -> Catalogue {
    catalogue::load(&f.db, &f.tags, &Progress::new("test")).unwrap()
}

fn names<'a>(tags: &'a Interner, ids: &[u32]) -> Vec<&'a str> {
    tags.get_names(ids).unwrap()
}

#[test]
fn the_loaded_catalogue_answers_tag_counts_and_all_of_queries_like_sql() {
    let f = fixture();
    let snapshot = catalogue::snapshot(f.db.clone(), f.tags.clone())
        .load_blocking()
        .unwrap();
    let conn = Connection::open(&f.db).unwrap();
    let current = snapshot.get();
    assert_eq!(current.len(), SPEC.images);
    assert_eq!(f.tags.len(), SPEC.tags, "every tag is used at this size");
    assert_eq!(
        snapshot.progress(),
        (SPEC.images as u64, SPEC.images as u64)
    );

    for (id, name) in f.tags.iter() {
        assert_eq!(current.tag_count(id), sql_tag_count(&conn, name), "{name}");
    }
    let top = current.top_tags(4);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
    let top_ids: Vec<u32> = top.iter().map(|t| t.0).collect();
    let rare = f.tags.get_id(&catalogue::tag_name(SPEC.tags - 1)).unwrap();
    for set in [
        vec![top_ids[0]],
        top_ids[..2].to_vec(),
        top_ids.clone(),
        vec![top_ids[0], rare],
    ] {
        let expected = sql_images_with_all(&conn, &names(&f.tags, &set));
        assert_eq!(current.images_with_all(&set), expected, "{set:?}");
    }
    assert_eq!(current.images_with_all(&[]).len(), SPEC.images);
    assert!(current.images_with_all(&[u32::MAX]).is_empty());

    // Image tags read back as the tagging service's space-separated string.
    let image = current.image(1).unwrap();
    let text = f.tags.string_from_ids(&image.tags).unwrap();
    assert_eq!(f.tags.ids_from_string(&text).unwrap(), image.tags.to_vec());
}

#[test]
fn a_tag_edit_reloads_one_image_for_new_readers_only() {
    let f = fixture();
    let snapshot = catalogue::snapshot(f.db.clone(), f.tags.clone())
        .load_blocking()
        .unwrap();
    let mut conn = Connection::open(&f.db).unwrap();
    let smile = catalogue::tag_name(12);
    let old_smile_count = snapshot.get().tag_count(f.tags.get_id(&smile).unwrap());
    let held = snapshot.get();

    catalogue::set_tags(&mut conn, 42, &[&smile, "brand_new_tag"]).unwrap();
    catalogue::reload_image(&snapshot, &conn, &f.tags, 42).unwrap();

    let now = snapshot.get();
    let image = now.image(42).unwrap();
    let mut expected = vec![
        f.tags.get_id(&smile).unwrap(),
        f.tags.get_id("brand_new_tag").unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(*image.tags, *expected);
    assert_eq!(
        now.images_with_all(&[f.tags.get_id("brand_new_tag").unwrap()]),
        [42]
    );
    assert_ne!(
        held.image(42).unwrap().tags,
        image.tags,
        "the held Arc is the old catalogue"
    );
    assert_eq!(
        now.tag_count(f.tags.get_id(&smile).unwrap()),
        sql_tag_count(&conn, &smile)
    );
    assert_eq!(
        held.tag_count(f.tags.get_id(&smile).unwrap()),
        old_smile_count
    );
    // The partial update gives exactly what a full load would.
    assert!(*now == fresh_load(&f), "the update equals a full load");

    // Removing an image from the database and the snapshot.
    catalogue::delete_image(&conn, 42).unwrap();
    catalogue::reload_image(&snapshot, &conn, &f.tags, 42).unwrap();
    assert!(snapshot.get().image(42).is_none());
    assert_eq!(snapshot.get().len(), SPEC.images - 1);
    assert!(*snapshot.get() == fresh_load(&f), "equal to a full load");
}

#[test]
fn a_bulk_edit_reloads_in_the_background_while_queries_answer_from_the_old_snapshot() {
    let f = fixture();
    // The test's loader stops after reading the database, before returning, until the
    // test lets it go: the window in which the reload is in flight.
    let (arrived, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let gate = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (db, tags) = (f.db.clone(), f.tags.clone());
    let (a, r, g) = (arrived.clone(), release.clone(), gate.clone());
    let snapshot = Snapshot::builder("catalogue", move |progress: &Progress| {
        let loaded = catalogue::load(&db, &tags, progress)?;
        if g.load(std::sync::atomic::Ordering::SeqCst) {
            a.wait();
            r.wait();
        }
        Ok::<_, hoard_snapshot::LoadError>(loaded)
    })
    .load_blocking()
    .unwrap();

    let mut conn = Connection::open(&f.db).unwrap();
    let popular = snapshot.get().top_tags(1)[0].0;
    let popular_name = f.tags.get_name(popular).unwrap().to_owned();
    let added = catalogue::bulk_add_tag(&mut conn, &popular_name, "bulk_edited").unwrap();
    assert!(added > 0);

    gate.store(true, std::sync::atomic::Ordering::SeqCst);
    let reload = snapshot.reload();
    arrived.wait(); // the load has read the bulk edit and waits to return

    // Meanwhile, queries keep answering from the old catalogue on other threads.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let snapshot = snapshot.clone();
            let tags = f.tags.clone();
            std::thread::spawn(move || {
                (0..50).all(|_| {
                    let current = snapshot.read();
                    let edited = tags
                        .get_id("bulk_edited")
                        .map_or(0, |t| current.tag_count(t));
                    edited == 0 && current.images_with_all(&[popular]).len() == added
                })
            })
        })
        .collect();
    for reader in readers {
        assert!(reader.join().unwrap(), "readers saw the old catalogue");
    }
    assert!(snapshot.is_loading());

    // A single-image edit during the reload is not lost when the reload swaps in.
    catalogue::set_tags(&mut conn, 7, &["edited_during_reload"]).unwrap();
    catalogue::reload_image(&snapshot, &conn, &f.tags, 7).unwrap();

    release.wait();
    let reloaded = reload.wait_blocking().unwrap();
    let edited = f.tags.get_id("bulk_edited").unwrap();
    assert_eq!(
        reloaded.tag_count(edited),
        sql_tag_count(&conn, "bulk_edited")
    );
    assert_eq!(
        reloaded.images_with_all(&[edited]),
        sql_images_with_all(&conn, &["bulk_edited"])
    );
    assert_eq!(
        reloaded.images_with_all(&[edited]),
        reloaded.images_with_all(&[popular]),
        "every image with the popular tag got the bulk tag"
    );
    assert_eq!(
        names(&f.tags, &reloaded.image(7).unwrap().tags),
        ["edited_during_reload"]
    );
    gate.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(*snapshot.get() == fresh_load(&f), "equal to a full load");
}

/// The example's arguments: defaults when absent, a message with the usage for anything
/// that is not a whole number above 0 (never a bare `ParseIntError`).
#[test]
fn the_examples_arguments_are_checked_with_a_usage_line() {
    assert_eq!(catalogue::count(None, 100_000, "IMAGES"), Ok(100_000));
    assert_eq!(catalogue::count(Some("250".into()), 1, "IMAGES"), Ok(250));
    for bad in ["--help-me", "lots", "-3", "0", "1.5", ""] {
        let message = catalogue::count(Some(bad.into()), 1, "TAGS").unwrap_err();
        assert!(
            message.contains(&format!("TAGS must be a whole number above 0, not {bad:?}"))
                && message.contains(catalogue::USAGE),
            "{message}"
        );
    }
}
