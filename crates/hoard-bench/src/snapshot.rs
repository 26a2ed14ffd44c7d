//! The `snapshot` suite (the image-tagging service's catalogue): memory per image with
//! interned `u32` tags against `String` tags, full reload time of a 100,000-image
//! catalogue from SQLite, and query latency while a background reload runs against an
//! idle one.
//!
//! The catalogue is the one of hoard's `catalogue` example (the same file is included
//! here), in a generated SQLite database.

#[path = "../../hoard/examples/catalogue/catalogue.rs"]
mod catalogue;

use crate::alloc;
use crate::Options;
use catalogue::{Catalogue, Spec};
use hoard::{Interner, Progress, Snapshot};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One image with its tags as strings: what a catalogue holds without an interner.
#[allow(dead_code)] // held for its memory, never read
struct StringImage {
    id: i64,
    filepath: String,
    tags: Vec<String>,
}

/// One image with interned tags, nothing else (the example's `Image`).
type InternedImage = catalogue::Image;

/// Runs the suite; returns the table and the method paragraph.
pub fn run(options: &Options) -> anyhow::Result<(String, String)> {
    let spec = Spec {
        images: options.catalogue_images,
        tags: options.catalogue_tags,
        seed: 2,
    };
    anyhow::ensure!(
        spec.images > 0 && spec.tags > 0,
        "--catalogue-images and --catalogue-tags must be positive"
    );
    let scratch = tempfile::tempdir()?;
    let db = scratch.path().join("catalogue.sqlite");
    eprintln!(
        "snapshot: generating {} images, {} tags in SQLite",
        spec.images, spec.tags
    );
    let began = Instant::now();
    catalogue::create_db(&db, spec)?;
    let created = began.elapsed();

    let (memory, assignments) = memory(&db)?;
    let (first_load, reloads) = reload_times(&db, options.rounds)?;
    let latency = query_latency(&db, options.rounds)?;

    let mib = |bytes: i64| bytes as f64 / (1024.0 * 1024.0);
    let per = |bytes: i64| bytes as f64 / spec.images as f64;
    let mut table = format!(
        "#### Memory: {} images, {} tags, {} tag assignments (live heap bytes, counted by the allocator)\n\n\
         | representation | total | per image |\n|---|---:|---:|\n",
        spec.images, spec.tags, assignments
    );
    for (name, bytes) in &memory.rows {
        table.push_str(&format!(
            "| {name} | {:.1} MiB | {:.0} B |\n",
            mib(*bytes),
            per(*bytes)
        ));
    }
    let saved = memory.strings - memory.interned;
    table.push_str(&format!(
        "| **saved by interning** | **{:.1} MiB ({:.0}%)** | **{:.0} B** |\n\n",
        mib(saved),
        100.0 * saved as f64 / memory.strings as f64,
        per(saved)
    ));

    table.push_str(&format!(
        "#### Full reload of {} images from SQLite into the snapshot\n\n\
         | load | median | images/s |\n|---|---:|---:|\n",
        spec.images
    ));
    let reload = median(reloads.clone());
    for (name, seconds) in [
        (
            "first load (interns every tag name)",
            first_load.as_secs_f64(),
        ),
        ("reload (tag names already interned), median", reload),
    ] {
        table.push_str(&format!(
            "| {name} | {:.0} ms | {:.0} |\n",
            seconds * 1000.0,
            spec.images as f64 / seconds
        ));
    }
    table.push('\n');

    table.push_str(
        "#### Query latency: idle against during a background reload\n\n\
         Query: the images carrying all of 2 tags drawn from the 50 most used, plus one tag count, \
         on a reader thread reading the snapshot with `Snapshot::read`.\n\n\
         | when | queries | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n",
    );
    for (name, mut samples) in [
        ("idle", latency.idle),
        ("during a background reload", latency.reloading),
    ] {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        table.push_str(&format!(
            "| {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs |\n",
            samples.len(),
            micros(at(0.5)),
            micros(at(0.99)),
            micros(at(1.0)),
        ));
    }
    table.push_str(&format!(
        "\n- Reads never wait for the reload (no lock on the read path); what rises during a reload is \
         CPU contention: the loader thread, SQLite and the allocator share {} cores with the reader.\n\
         - The generated database took {:.1} s to write. Tags per image: 10 to 40, skewed so a few tags are on most images.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        created.as_secs_f64()
    ));

    // Other work on a shared machine shows in times; say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let method = format!(
        "Machine: {}, load average {load} at the end of the run. Memory: live heap bytes of each structure, counted by the bench binary's \
         global allocator while the structure is built from rows already read from SQLite. \
         Reload: median of {} reloads. Latency: {} rounds, each one second of idle queries \
         followed by the queries answered during one background reload.",
        crate::report::machine(),
        options.rounds,
        options.rounds
    );
    Ok((table, method))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

struct Memory {
    rows: Vec<(&'static str, i64)>,
    strings: i64,
    interned: i64,
}

/// Bytes held by the catalogue in three shapes; also the number of tag assignments.
fn memory(db: &std::path::Path) -> anyhow::Result<(Memory, usize)> {
    // The rows are read first, outside the measurement, so SQLite's own memory is not
    // counted: each measurement builds from these strings, as a loader does from rows.
    let conn = catalogue::open_read_only(db)?;
    let mut statement = conn.prepare(
        "SELECT i.id, i.filepath, (SELECT group_concat(t.name, ' ') FROM image_tags it
           JOIN tags t ON t.id = it.tag_id WHERE it.image_id = i.id) FROM images i ORDER BY i.id",
    )?;
    let rows: Vec<(i64, String, String)> = statement
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            ))
        })?
        .collect::<Result<_, _>>()?;
    drop(statement);
    drop(conn);
    let assignments = rows.iter().map(|r| r.2.split_whitespace().count()).sum();

    let (strings, string_bytes) = alloc::measure(|| {
        let mut images = Vec::with_capacity(rows.len());
        for (id, filepath, tags) in &rows {
            let mut tags: Vec<String> = tags.split_whitespace().map(String::from).collect();
            tags.shrink_to_fit();
            images.push(StringImage {
                id: *id,
                filepath: filepath.clone(),
                tags,
            });
        }
        images
    });
    drop(strings);

    let (interned, interned_bytes) = alloc::measure(|| -> anyhow::Result<_> {
        let tags = Interner::new();
        let mut images = Vec::with_capacity(rows.len());
        for (id, filepath, names) in &rows {
            let mut ids = tags.ids_from_string(names)?;
            ids.sort_unstable();
            ids.dedup();
            images.push(InternedImage {
                id: *id,
                filepath: filepath.as_str().into(),
                tags: ids.into_boxed_slice(),
            });
        }
        Ok((tags, images))
    });
    drop(interned?);

    // The example's whole catalogue: images behind `Arc`s in a map, the postings index,
    // the interner. Loaded straight from SQLite; the connection is closed at the end, so
    // its memory is not held.
    let (whole, whole_bytes) = alloc::measure(|| -> anyhow::Result<(Interner, Catalogue)> {
        let tags = Interner::new();
        let catalogue = catalogue::load(db, &tags, &Progress::new("bench"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((tags, catalogue))
    });
    drop(whole?);

    Ok((
        Memory {
            rows: vec![
                ("`String` tags: `Vec<String>` per image, `String` path", string_bytes),
                ("interned tags: `Box<[u32]>` per image, `Box<str>` path, plus the `Interner`", interned_bytes),
                ("the example's whole `Catalogue`: the interned images in a map of `Arc`s, a posting list per tag, the `Interner`", whole_bytes),
            ],
            strings: string_bytes,
            interned: interned_bytes,
        },
        assignments,
    ))
}

fn snapshot(db: &std::path::Path) -> anyhow::Result<(Snapshot<Catalogue>, Duration)> {
    let tags = Arc::new(Interner::new());
    let began = Instant::now();
    let snapshot = catalogue::snapshot(db.to_owned(), tags).load_blocking()?;
    Ok((snapshot, began.elapsed()))
}

/// The first load's time and each reload's, in seconds.
fn reload_times(db: &std::path::Path, rounds: usize) -> anyhow::Result<(Duration, Vec<f64>)> {
    let (snapshot, first) = snapshot(db)?;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let began = Instant::now();
        snapshot.reload_blocking()?;
        times.push(began.elapsed().as_secs_f64());
    }
    Ok((first, times))
}

struct Latency {
    idle: Vec<Duration>,
    reloading: Vec<Duration>,
}

fn query_latency(db: &std::path::Path, rounds: usize) -> anyhow::Result<Latency> {
    let (snapshot, _) = snapshot(db)?;
    let popular: Vec<u32> = snapshot
        .get()
        .top_tags(50)
        .into_iter()
        .map(|t| t.0)
        .collect();
    anyhow::ensure!(popular.len() >= 2, "the catalogue has fewer than 2 tags");
    // A fixed sequence of queries (SplitMix64 indices), the same idle and during reloads.
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as usize
    };
    let mut query = |snapshot: &Snapshot<Catalogue>| {
        let pair = [
            popular[next() % popular.len()],
            popular[next() % popular.len()],
        ];
        let began = Instant::now();
        let current = snapshot.read();
        let found = current.images_with_all(&pair).len();
        let count = current.tag_count(pair[0]);
        std::hint::black_box((found, count));
        began.elapsed()
    };

    let (mut idle, mut reloading) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // One second of idle queries, then the queries answered during one reload.
        let window = Duration::from_secs(1);
        let began = Instant::now();
        while began.elapsed() < window {
            idle.push(query(&snapshot));
        }
        let handle = snapshot.reload();
        while !handle.is_finished() {
            reloading.push(query(&snapshot));
        }
        handle.wait_blocking()?;
    }
    Ok(Latency { idle, reloading })
}
