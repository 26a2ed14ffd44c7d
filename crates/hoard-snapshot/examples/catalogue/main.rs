//! An image-tagging service's catalogue: 100,000 images and 5,000 tags in SQLite, held in
//! memory as a `Snapshot` with interned tag ids, queried while it reloads.
//!
//! ```text
//! cargo run --release -p hoard-snapshot --example catalogue [-- IMAGES TAGS]
//! ```

mod catalogue;

use catalogue::{count, Catalogue, Spec, USAGE};
use hoard_snapshot::{Cause, Interner};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    let mut args = args.into_iter();
    let sizes = count(args.next(), 100_000, "IMAGES")
        .and_then(|images| Ok((images, count(args.next(), 5_000, "TAGS")?)));
    let (images, tag_total) = match sizes {
        Ok(sizes) => sizes,
        Err(message) => {
            eprintln!("catalogue: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(images, tag_total) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("catalogue: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(images: usize, tag_total: usize) -> Result<(), hoard_snapshot::LoadError> {
    let spec = Spec {
        images,
        tags: tag_total,
        seed: 2,
    };

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("catalogue.sqlite");
    let began = Instant::now();
    catalogue::create_db(&db, spec)?;
    println!(
        "created {} with {images} images and {tag_total} tags in {:.1?}",
        db.display(),
        began.elapsed()
    );

    // The first load, with its progress read from another thread as a UI would.
    let tags = Arc::new(Interner::new());
    let snapshot = catalogue::snapshot(db.clone(), tags.clone()).build_with(Catalogue::default());
    let swaps = Arc::new(AtomicU64::new(0));
    let counter = swaps.clone();
    snapshot.on_swap(move |event| {
        // The tagging service's cache_events: dependent caches drop what they derived.
        if matches!(event.cause, Cause::Snapshot(_) | Cause::SnapshotUpdate(_)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    let began = Instant::now();
    let load = snapshot.reload();
    while !load.is_finished() {
        let (done, total) = snapshot.progress();
        println!("  loading: {done}/{total}");
        std::thread::sleep(Duration::from_millis(250));
    }
    load.wait_blocking()?;
    let loaded = snapshot.get();
    println!(
        "loaded {} images, {} tags in {:.1?}",
        loaded.len(),
        tags.len(),
        began.elapsed()
    );

    // Queries: tag counts, images having all of a set of tags.
    let top = loaded.top_tags(3);
    for (tag, count) in &top {
        println!(
            "  {:>20}: {count} images",
            tags.get_name(*tag).unwrap_or("?")
        );
    }
    let wanted: Vec<&str> = top
        .iter()
        .filter_map(|(tag, _)| tags.get_name(*tag))
        .collect();
    let ids = tags.get_ids(wanted.iter().copied()).unwrap_or_default();
    let began = Instant::now();
    let both = loaded.images_with_all(&ids[..ids.len().min(2)]);
    let all = loaded.images_with_all(&ids);
    println!(
        "images with {:?}: {}; with all three: {} ({:.1?} for both queries)",
        &wanted[..wanted.len().min(2)],
        both.len(),
        all.len(),
        began.elapsed()
    );

    // A tag edit reloads one image, not the catalogue.
    let mut conn = rusqlite::Connection::open(&db)?;
    let image = 1;
    catalogue::set_tags(&mut conn, image, &["solo", "smile_open", "favourite"])?;
    let held = snapshot.get();
    let began = Instant::now();
    catalogue::reload_image(&snapshot, &conn, &tags, image)?;
    let now = snapshot.get();
    let names = |c: &Catalogue| {
        c.image(image)
            .map(|i| tags.string_from_ids(&i.tags))
            .transpose()
    };
    println!(
        "image {image} re-read in {:.1?}: tags now {:?} (a reader holding the old snapshot still sees {} tags)",
        began.elapsed(),
        names(&now)?.unwrap_or_default(),
        held.image(image).map_or(0, |i| i.tags.len()),
    );

    // A bulk edit reloads in the background while queries keep answering.
    let having = wanted.first().copied().unwrap_or("long_long");
    let added = catalogue::bulk_add_tag(&mut conn, having, "bulk_edited")?;
    let began = Instant::now();
    let reload = snapshot.reload();
    let (mut answered, mut slowest) = (0u64, Duration::ZERO);
    while !reload.is_finished() {
        let query = Instant::now();
        let current = snapshot.read();
        let _ = current.images_with_all(&ids[..ids.len().min(2)]);
        slowest = slowest.max(query.elapsed());
        answered += 1;
    }
    let reloaded = reload.wait_blocking()?;
    let edited = tags
        .get_id("bulk_edited")
        .map_or(0, |t| reloaded.tag_count(t));
    println!(
        "bulk edit tagged {added} images; background reload took {:.1?}, {answered} queries answered meanwhile (slowest {:.1?}); {edited} images now carry bulk_edited",
        began.elapsed(),
        slowest
    );

    // The interner's mapping survives a restart with the same ids.
    let mapping = dir.path().join("tags.hoardint");
    tags.persist(&mapping)?;
    let restored = Interner::load(&mapping)?;
    println!(
        "persisted {} tag names in {} bytes; reloaded with the same ids: {}",
        restored.len(),
        std::fs::metadata(&mapping)?.len(),
        restored.iter().eq(tags.iter())
    );
    println!(
        "{} swaps heard by the on_swap callback",
        swaps.load(Ordering::Relaxed)
    );
    Ok(())
}
