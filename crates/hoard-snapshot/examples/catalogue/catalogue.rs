//! An image-tagging service's catalogue on hoard: images and their tags in SQLite, held in
//! memory as a [`Snapshot`] with tags interned to `u32` ids.
//!
//! Shared by the `catalogue` example, its test (`tests/catalogue.rs`) and the `snapshot`
//! benchmark suite of hoard-bench, which include this file as a module.

#![allow(dead_code)] // each includer uses part of it

use hoard_snapshot::{Interner, LoadError, Progress, Snapshot, SnapshotBuilder};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The size of a generated catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Images.
    pub images: usize,
    /// Distinct tags.
    pub tags: usize,
    /// Seed of the generator: the same spec gives the same database.
    pub seed: u64,
}

/// A small deterministic generator (SplitMix64), so the database needs no `rand` and is
/// the same on every machine.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: [&str; 40] = [
    "long", "short", "blue", "red", "green", "black", "white", "silver", "hair", "eyes", "dress",
    "shirt", "smile", "open", "mouth", "looking", "at", "viewer", "holding", "sword", "outdoors",
    "indoors", "sky", "cloud", "tree", "water", "night", "day", "solo", "group", "standing",
    "sitting", "from", "side", "behind", "hat", "gloves", "boots", "jacket", "scarf",
];

/// The name of generated tag `i`: booru-style (`long_hair`, `blue_eyes_3`), 5-20 bytes.
pub fn tag_name(i: usize) -> String {
    let pairs = WORDS.len() * WORDS.len();
    let base = format!(
        "{}_{}",
        WORDS[i % WORDS.len()],
        WORDS[(i / WORDS.len()) % WORDS.len()]
    );
    if i < pairs {
        base
    } else {
        format!("{base}_{}", i / pairs)
    }
}

/// Creates the database at `path`: `images`, `tags` and `image_tags` (the tagging service's
/// schema, reduced), each image with 10 to 40 tags drawn with a skew (a few tags are on most
/// images, most are rare, as on a real booru).
pub fn create_db(path: &Path, spec: Spec) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    // WAL: the background reload reads while edits write.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         CREATE TABLE images (id INTEGER PRIMARY KEY, filepath TEXT NOT NULL UNIQUE, md5 TEXT NOT NULL);
         CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
         CREATE TABLE image_tags (
             image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
             tag_id INTEGER NOT NULL REFERENCES tags(id),
             PRIMARY KEY (image_id, tag_id)
         ) WITHOUT ROWID;
         CREATE INDEX image_tags_by_tag ON image_tags(tag_id, image_id);",
    )?;
    let mut rng = SplitMix(spec.seed);
    let tx = conn.transaction()?;
    {
        let mut tag = tx.prepare("INSERT INTO tags (id, name) VALUES (?1, ?2)")?;
        for i in 0..spec.tags {
            tag.execute(params![i as i64 + 1, tag_name(i)])?;
        }
        let mut image = tx.prepare("INSERT INTO images (id, filepath, md5) VALUES (?1, ?2, ?3)")?;
        let mut image_tag =
            tx.prepare("INSERT OR IGNORE INTO image_tags (image_id, tag_id) VALUES (?1, ?2)")?;
        for id in 1..=spec.images as i64 {
            let md5 = format!("{:016x}{:016x}", rng.next(), rng.next());
            let filepath = format!("images/{}/{}/{md5}.jpg", &md5[..2], &md5[2..4]);
            image.execute(params![id, filepath, md5])?;
            let count = 10 + rng.next() % 31;
            for _ in 0..count {
                // u^2 puts more weight on low tag ids: tag 0 is on most images.
                let u = rng.unit();
                let tag = ((u * u) * spec.tags as f64) as i64 + 1;
                image_tag.execute(params![id, tag])?;
            }
        }
    }
    tx.commit()
}

/// One image as the catalogue holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its row id.
    pub id: i64,
    /// Its path under the images folder.
    pub filepath: Box<str>,
    /// Its tags' interned ids, sorted, without repeats.
    pub tags: Box<[u32]>,
}

/// Every image, and per tag the sorted ids of the images carrying it.
///
/// Images and postings sit behind `Arc`s so a partial update copies the two tables of
/// pointers and only the postings of the tags that changed, never the images themselves.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    images: HashMap<i64, Arc<Image>>,
    /// Indexed by tag id.
    postings: Vec<Arc<Vec<i64>>>,
}

/// Equal when they hold the same images: a tag with no images left is the same whether
/// its (empty) posting list is there or not.
impl PartialEq for Catalogue {
    fn eq(&self, other: &Catalogue) -> bool {
        fn posting(c: &Catalogue, tag: usize) -> &[i64] {
            c.postings.get(tag).map_or(&[], |p| &p[..])
        }
        self.images == other.images
            && (0..self.postings.len().max(other.postings.len()))
                .all(|tag| posting(self, tag) == posting(other, tag))
    }
}

impl Catalogue {
    /// How many images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// One image.
    pub fn image(&self, id: i64) -> Option<&Arc<Image>> {
        self.images.get(&id)
    }

    /// How many images carry `tag` (the tagging service's `tag_counts`).
    pub fn tag_count(&self, tag: u32) -> usize {
        self.postings.get(tag as usize).map_or(0, |p| p.len())
    }

    /// The `n` most used tags with their counts, most used first (ties by id).
    pub fn top_tags(&self, n: usize) -> Vec<(u32, usize)> {
        let mut counts: Vec<(u32, usize)> = self
            .postings
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(tag, p)| (tag as u32, p.len()))
            .collect();
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts.truncate(n);
        counts
    }

    /// The ids of the images carrying every tag in `tags`, ascending. Walks the rarest
    /// tag's postings and checks the others by binary search.
    pub fn images_with_all(&self, tags: &[u32]) -> Vec<i64> {
        let mut lists: Vec<&[i64]> = Vec::with_capacity(tags.len());
        for &tag in tags {
            match self.postings.get(tag as usize) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        if lists.is_empty() {
            let mut all: Vec<i64> = self.images.keys().copied().collect();
            all.sort_unstable();
            return all;
        }
        lists.sort_unstable_by_key(|l| l.len());
        let (rarest, rest) = lists.split_at(1);
        rarest[0]
            .iter()
            .copied()
            .filter(|id| rest.iter().all(|l| l.binary_search(id).is_ok()))
            .collect()
    }

    /// A copy with image `id` replaced by `image` (or removed, with `None`): copy-on-write,
    /// touching only the postings of the tags it loses or gains.
    pub fn with_image(&self, id: i64, image: Option<&Image>) -> Catalogue {
        let mut next = self.clone();
        if let Some(old) = next.images.remove(&id) {
            for &tag in old.tags.iter() {
                if let Some(list) = next.postings.get_mut(tag as usize) {
                    let list = Arc::make_mut(list);
                    if let Ok(at) = list.binary_search(&id) {
                        list.remove(at);
                    }
                }
            }
        }
        if let Some(image) = image {
            for &tag in image.tags.iter() {
                let tag = tag as usize;
                if tag >= next.postings.len() {
                    next.postings.resize_with(tag + 1, Default::default);
                }
                let list = Arc::make_mut(&mut next.postings[tag]);
                if let Err(at) = list.binary_search(&id) {
                    list.insert(at, id);
                }
            }
            next.images.insert(id, Arc::new(image.clone()));
        }
        next
    }
}

const SELECT_IMAGES: &str = "SELECT i.id, i.filepath,
        (SELECT group_concat(t.name, ' ') FROM image_tags it JOIN tags t ON t.id = it.tag_id
          WHERE it.image_id = i.id)
   FROM images i";

fn image_from_row(row: &rusqlite::Row<'_>, tags: &Interner) -> Result<Image, LoadError> {
    let id: i64 = row.get(0)?;
    let filepath: String = row.get(1)?;
    let names: Option<String> = row.get(2)?;
    // The tagging service reads tags as one space-separated string and converts it to ids.
    let mut ids = tags.ids_from_string(names.as_deref().unwrap_or(""))?;
    ids.sort_unstable();
    ids.dedup();
    Ok(Image {
        id,
        filepath: filepath.into_boxed_str(),
        tags: ids.into_boxed_slice(),
    })
}

/// Opens the database for reading (each load its own connection: a connection is not
/// shared between threads).
pub fn open_read_only(db: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Reads the whole catalogue (the tagging service's `load_data_from_db`), reporting progress per
/// thousand images.
pub fn load(db: &Path, tags: &Interner, progress: &Progress) -> Result<Catalogue, LoadError> {
    let conn = open_read_only(db)?;
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0))?;
    progress.set_total(total.max(0) as u64);
    let mut images = HashMap::with_capacity(total.max(0) as usize);
    let mut postings: Vec<Vec<i64>> = Vec::new();
    let mut statement = conn.prepare(&format!("{SELECT_IMAGES} ORDER BY i.id"))?;
    let mut rows = statement.query([])?;
    let mut done = 0u64;
    while let Some(row) = rows.next()? {
        let image = image_from_row(row, tags)?;
        for &tag in image.tags.iter() {
            let tag = tag as usize;
            if tag >= postings.len() {
                postings.resize_with(tag + 1, Vec::new);
            }
            // Rows come in id order, so every posting list is sorted as it grows.
            postings[tag].push(image.id);
        }
        images.insert(image.id, Arc::new(image));
        done += 1;
        if done.is_multiple_of(1000) {
            progress.set_done(done);
        }
    }
    progress.set_done(done);
    Ok(Catalogue {
        images,
        postings: postings.into_iter().map(Arc::new).collect(),
    })
}

/// Reads one image (the tagging service's `reload_single_image`): `None` if it is gone.
pub fn read_image(conn: &Connection, tags: &Interner, id: i64) -> Result<Option<Image>, LoadError> {
    let mut statement = conn.prepare_cached(&format!("{SELECT_IMAGES} WHERE i.id = ?1"))?;
    let row = statement
        .query_row([id], |row| Ok(image_from_row(row, tags)))
        .optional()?;
    row.transpose()
}

/// The catalogue's snapshot builder: full reloads read the database at `db`.
pub fn snapshot(db: PathBuf, tags: Arc<Interner>) -> SnapshotBuilder<Catalogue> {
    Snapshot::builder("catalogue", move |progress: &Progress| {
        load(&db, &tags, progress)
    })
}

/// Re-reads image `id` from the database into the snapshot, without a full reload. The
/// row is read first, outside the snapshot's writer lock; the update then only swaps it
/// in, so it is idempotent and safe to re-apply over a reload in flight.
pub fn reload_image(
    snapshot: &Snapshot<Catalogue>,
    conn: &Connection,
    tags: &Interner,
    id: i64,
) -> Result<(), LoadError> {
    let image = read_image(conn, tags, id)?;
    snapshot.update(move |catalogue| catalogue.with_image(id, image.as_ref()));
    Ok(())
}

/// Replaces the tags of image `id` in the database (creating unknown tags).
pub fn set_tags(conn: &mut Connection, id: i64, names: &[&str]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM image_tags WHERE image_id = ?1", [id])?;
    for name in names {
        tx.execute("INSERT OR IGNORE INTO tags (name) VALUES (?1)", [name])?;
        tx.execute(
            "INSERT OR IGNORE INTO image_tags (image_id, tag_id)
             SELECT ?1, id FROM tags WHERE name = ?2",
            params![id, name],
        )?;
    }
    tx.commit()
}

/// A bulk edit: adds tag `add` to every image carrying `having`; returns how many rows
/// were added.
pub fn bulk_add_tag(conn: &mut Connection, having: &str, add: &str) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    tx.execute("INSERT OR IGNORE INTO tags (name) VALUES (?1)", [add])?;
    let added = tx.execute(
        "INSERT OR IGNORE INTO image_tags (image_id, tag_id)
         SELECT it.image_id, (SELECT id FROM tags WHERE name = ?2)
           FROM image_tags it WHERE it.tag_id = (SELECT id FROM tags WHERE name = ?1)",
        params![having, add],
    )?;
    tx.commit()?;
    Ok(added)
}

/// Deletes image `id` from the database.
pub fn delete_image(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM image_tags WHERE image_id = ?1", [id])?;
    conn.execute("DELETE FROM images WHERE id = ?1", [id])?;
    Ok(())
}

/// The tag id of `name` in the database, for cross-checks.
pub fn db_tag_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT id FROM tags WHERE name = ?1", [name], |r| r.get(0))
        .optional()
}

/// What the example takes on its command line.
pub const USAGE: &str = "usage: catalogue [IMAGES [TAGS]]   (default 100000 images, 5000 tags)";

/// The command-line count `what` (`IMAGES`, `TAGS`), or its default when absent; a message
/// with the usage for anything but a whole number above 0.
pub fn count(arg: Option<String>, default: usize, what: &str) -> Result<usize, String> {
    match arg {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{what} must be a whole number above 0, not {text:?}\n{USAGE}"
            )),
        },
    }
}
