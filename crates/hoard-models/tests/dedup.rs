//! `dedup` on generated store layouts: Hugging Face repos with real relative snapshot
//! symlinks, an Ollama layer, torch checkpoints, an app cache and a folder outside the
//! configured roots, with planted duplicates, same-size files that differ, hard links and
//! small files.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]
// Hard links, inodes and symlinks: the fixtures are Unix layouts.
#![cfg(unix)]

use hoard_models::dedup::{self, DedupOptions, Group, Report};
use hoard_models::scan;
use hoard_models::size::ByteSize;
use hoard_models::{Layout, ModelsConfig};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const MIB: usize = 1 << 20;
const DAY: u64 = 24 * 3600;

/// `len` bytes that differ from every other seed's almost everywhere (xorshift).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The hex name a store would give `content`. dedup trusts names without reading, so they
/// only need to be one per content; BLAKE3 stands in for SHA-256 (no extra dependency).
fn name_of(content: &[u8]) -> String {
    blake3::hash(content).to_hex().to_string()
}

fn blake3_of(content: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(content).to_hex())
}

fn write(path: &Path, content: &[u8], age_days: u64) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    age(path, age_days * DAY);
    path.to_path_buf()
}

/// Sets a file's mtime to `seconds` ago.
fn age(path: &Path, seconds: u64) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

/// A hub repo `models--{folder}` with one blob named `blob_name`, a snapshot linking to it
/// the way huggingface_hub does (`../../blobs/NAME`) and `refs/main`. Returns the blob.
fn hf_repo(hub: &Path, folder: &str, blob_name: &str, content: &[u8], age_days: u64) -> PathBuf {
    let repo = hub.join(format!("models--{folder}"));
    let blob = write(&repo.join("blobs").join(blob_name), content, age_days);
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo.join("snapshots").join(revision);
    fs::create_dir_all(&snapshot).unwrap();
    std::os::unix::fs::symlink(
        format!("../../blobs/{blob_name}"),
        snapshot.join("model.bin"),
    )
    .unwrap();
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), revision).unwrap();
    blob
}

fn snapshot_link(blob: &Path) -> PathBuf {
    let repo = blob.parent().unwrap().parent().unwrap();
    repo.join("snapshots/0123456789abcdef0123456789abcdef01234567/model.bin")
}

fn inode(path: &Path) -> (u64, u64) {
    let metadata = fs::symlink_metadata(path).unwrap();
    (metadata.dev(), metadata.ino())
}

/// The planted layout.
struct Fixture {
    _dir: hoard_testkit::TempDir,
    layout: Layout,
    /// Copies of `w` inside the roots, oldest first, then the one outside.
    w: Vec<u8>,
    w_files: Vec<PathBuf>,
    w_outside: PathBuf,
    /// Copies of `v` (all named by hash), oldest first.
    v: Vec<u8>,
    v_files: Vec<PathBuf>,
    /// Same size as `v`, other bytes, other name.
    v_other: PathBuf,
    /// Two files of one size with different bytes (both read).
    d: Vec<u8>,
    d_files: Vec<PathBuf>,
    /// One inode under two names.
    z_files: Vec<PathBuf>,
}

fn fixture() -> Fixture {
    let dir = hoard_testkit::temp_dir();
    let base = dir.path();
    let config = ModelsConfig {
        root: Some("models".into()),
        app_caches: [("tmdb".to_owned(), PathBuf::from("appcache/tmdb"))].into(),
        ..ModelsConfig::default()
    };
    let layout = Layout::new(&config, base);
    let hub = layout.hf_hub();
    let checkpoints = layout.torch_hub().join("checkpoints");
    let app = layout.app_caches["tmdb"].clone();

    // W: two hub repos (same blob name), a torch checkpoint, an app cache copy, and a copy
    // outside the roots that is older than all of them (still not the one kept).
    let w = bytes(1, 2 * MIB + 11);
    let w_name = name_of(&w);
    let w_files = vec![
        hf_repo(&hub, "org--a", &w_name, &w, 10),
        hf_repo(&hub, "org--b", &w_name, &w, 5),
        write(&checkpoints.join("x.pt"), &w, 3),
        write(&app.join("weights.bin"), &w, 1),
    ];
    let w_outside = write(&base.join("home/.cache/copies/w.bin"), &w, 20);
    // Not candidates: a partial download with the same bytes, a symlink to a copy.
    write(&app.join("weights.bin.incomplete"), &w, 1);
    write(
        &hub.join(format!("models--org--a/blobs/{w_name}.incomplete")),
        &w,
        1,
    );
    std::os::unix::fs::symlink(&w_files[2], base.join("home/.cache/link.pt")).unwrap();

    // V: named by hash in two hub repos and as an Ollama layer: equal without reading.
    // V2 has V's size but other bytes and another name: different without reading.
    let v = bytes(2, 3 * MIB + 7);
    let v_name = name_of(&v);
    let ollama_blob = write(&layout.ollama.join(format!("blobs/sha256-{v_name}")), &v, 8);
    let manifest = layout
        .ollama
        .join("manifests/registry.ollama.ai/library/tiny/latest");
    fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    fs::write(
        &manifest,
        format!(r#"{{"layers":[{{"digest":"sha256:{v_name}"}}]}}"#),
    )
    .unwrap();
    let v_files = vec![
        ollama_blob,
        hf_repo(&hub, "org--c", &v_name, &v, 6),
        hf_repo(&hub, "org--d", &v_name, &v, 2),
    ];
    let v2 = bytes(3, v.len());
    let v_other = hf_repo(&hub, "org--e", &name_of(&v2), &v2, 2);

    // D: same size, different bytes, no names: both read, no group.
    let d = bytes(4, 3 * MIB / 2);
    let d_files = vec![
        write(&checkpoints.join("y.pt"), &d, 2),
        write(&app.join("other.bin"), &bytes(5, d.len()), 2),
    ];

    // Z: already hard-linked, not a duplicate, never read.
    let z = write(&checkpoints.join("z.pt"), &bytes(6, 5 * MIB / 4), 2);
    fs::create_dir_all(app.join("nested")).unwrap();
    fs::hard_link(&z, app.join("nested/z-link.bin")).unwrap();
    let z_files = vec![z, app.join("nested/z-link.bin")];

    // Small duplicates: under min_size, ignored (a non-LFS hub file and app cache files).
    let small = bytes(7, 1000);
    let small_name = &name_of(&small)[..40];
    write(
        &hub.join(format!("models--org--a/blobs/{small_name}")),
        &small,
        1,
    );
    write(
        &hub.join(format!("models--org--b/blobs/{small_name}")),
        &small,
        1,
    );
    write(&app.join("small-1.json"), &small, 1);
    write(&app.join("small-2.json"), &small, 1);

    Fixture {
        _dir: dir,
        layout,
        w,
        w_files,
        w_outside,
        v,
        v_files,
        v_other,
        d,
        d_files,
        z_files,
    }
}

impl Fixture {
    fn options(&self) -> DedupOptions {
        DedupOptions {
            extra_dirs: vec![self
                .w_outside
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_path_buf()],
            ..DedupOptions::default()
        }
    }

    fn find(&self) -> Report {
        dedup::find(&scan::scan(&self.layout), &self.options())
    }
}

#[test]
fn finds_planted_duplicates_and_no_false_ones() {
    let f = fixture();
    let report = f.find();
    let mut w_group = f.w_files.clone();
    w_group.push(f.w_outside.clone());
    assert_eq!(
        report.groups,
        vec![
            // Mixed names (a hub blob name, none for the rest): compared by BLAKE3. Kept: the
            // oldest file inside the stores, not the older copy outside them.
            Group {
                size: f.w.len() as u64,
                hash: blake3_of(&f.w),
                files: w_group,
            },
            // All named by sha256: the names decide.
            Group {
                size: f.v.len() as u64,
                hash: format!("sha256:{}", name_of(&f.v)),
                files: f.v_files.clone(),
            },
        ]
    );
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
    assert_eq!(report.groups[0].reclaimable(), 4 * f.w.len() as u64);
    assert_eq!(report.groups[1].reclaimable(), 2 * f.v.len() as u64);
    assert_eq!(
        report.reclaimable(),
        4 * f.w.len() as u64 + 2 * f.v.len() as u64
    );

    // Reads: for W one of the two identically named hub blobs stands for both, plus the
    // checkpoint, the app copy and the outside copy (4); both D files (2). The V size
    // (four hub/Ollama files, all named) and the hard-linked Z pair were never read.
    assert_eq!(report.hashed_files, 6);
    assert_eq!(
        report.hashed_bytes,
        4 * f.w.len() as u64 + 2 * f.d.len() as u64
    );

    // Nothing of the decoys in any group.
    let grouped: Vec<&PathBuf> = report.groups.iter().flat_map(|g| &g.files).collect();
    for decoy in [
        &f.v_other,
        &f.d_files[0],
        &f.d_files[1],
        &f.z_files[0],
        &f.z_files[1],
    ] {
        assert!(!grouped.contains(&decoy), "{} reported", decoy.display());
    }

    // What the CLI prints with --json.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["groups"][1]["hash"],
        format!("sha256:{}", name_of(&f.v))
    );
    assert_eq!(json["groups"][0]["files"].as_array().unwrap().len(), 5);
    assert_eq!(json["hashed_files"], 6);
}

#[test]
fn min_size_and_extra_dirs_choose_the_candidates() {
    let f = fixture();
    let inventory = scan::scan(&f.layout);
    // Without the extra dir, the outside copy is not seen and not read.
    let report = dedup::find(&inventory, &DedupOptions::default());
    assert_eq!(report.groups.len(), 2);
    assert_eq!(report.groups[0].files, f.w_files);
    assert_eq!(report.hashed_files, 5);

    // Down to 1000 bytes the small copies count too. The two hub blobs share a git-sha1
    // name, the two app cache files have none: one read stands for both blobs, each app
    // file is read, and the four form one group.
    let small = DedupOptions {
        min_size: ByteSize::b(1000),
        extra_dirs: Vec::new(),
    };
    let report = dedup::find(&inventory, &small);
    assert_eq!(report.groups.len(), 3);
    let tiny = &report.groups[2];
    assert_eq!(tiny.size, 1000);
    assert_eq!(tiny.files.len(), 4, "{:?}", tiny.files);
    assert_eq!(tiny.hash, blake3_of(&bytes(7, 1000)));
    // Two hub blobs (one read for both) and two app files.
    assert_eq!(report.hashed_files, 5 + 3);
}

/// The reason `link` gives for a file it leaves as a copy because it is not a store blob.
const NOT_A_BLOB: &str = "not a content-addressed blob: a program may rewrite it in place";

#[test]
fn link_shares_blob_inodes_only_and_leaves_other_copies_and_outside_alone() {
    let f = fixture();
    let report = f.find();
    // W: two hub blobs, a torch checkpoint, an app cache file (in that order), then the
    // copy outside the roots. V: an Ollama layer and two hub blobs.
    let (w_blobs, w_others) = f.w_files.split_at(2);
    let before = |path: &PathBuf| (path.clone(), fs::symlink_metadata(path).unwrap());
    let others_before: Vec<(PathBuf, fs::Metadata)> =
        w_others.iter().chain([&f.w_outside]).map(before).collect();
    let d_before: Vec<(u64, u64)> = f.d_files.iter().map(|p| inode(p)).collect();

    // What the plan says --link frees, read before linking, is what linking frees.
    let promised = dedup::linkable_bytes(&report, &f.layout);
    let outcome = dedup::link(&report, &f.layout);
    assert_eq!(
        promised, outcome.freed,
        "the plan promised what link then freed"
    );
    // One W hub blob, two V copies (a hub blob each linked to the Ollama layer).
    assert_eq!(outcome.linked, 1 + 2);
    assert_eq!(outcome.freed, f.w.len() as u64 + 2 * f.v.len() as u64);
    assert!(outcome.freed < report.reclaimable());
    // The checkpoint and the app cache file are left as copies because a program may
    // rewrite them in place; the outside copy because it is outside.
    let skipped: Vec<&PathBuf> = outcome.skipped.iter().map(|(path, _)| path).collect();
    assert_eq!(skipped, vec![&w_others[0], &w_others[1], &f.w_outside]);
    for (_, reason) in &outcome.skipped[..2] {
        assert!(reason.contains(NOT_A_BLOB), "{reason}");
    }
    assert!(
        outcome.skipped[2].1.contains("outside"),
        "{}",
        outcome.skipped[2].1
    );

    // Store blobs share one inode, bytes unchanged.
    for (files, content) in [(w_blobs, &f.w), (&f.v_files[..], &f.v)] {
        let kept = inode(&files[0]);
        for file in files {
            assert_eq!(inode(file), kept, "{} not linked", file.display());
            assert_eq!(&fs::read(file).unwrap(), content);
        }
        assert_eq!(
            fs::symlink_metadata(&files[0]).unwrap().nlink(),
            files.len() as u64
        );
    }
    // Checkpoint, app cache file and outside copy: same inode, no other link, same mtime,
    // same bytes.
    for (path, was) in &others_before {
        let now = fs::symlink_metadata(path).unwrap();
        assert_eq!((now.dev(), now.ino()), (was.dev(), was.ino()), "{path:?}");
        assert_eq!(now.nlink(), 1, "{path:?}");
        assert_eq!(now.modified().unwrap(), was.modified().unwrap(), "{path:?}");
        assert_eq!(fs::read(path).unwrap(), f.w, "{path:?}");
    }
    // Snapshot symlinks are untouched and still resolve to the (now shared) blobs.
    for blob in w_blobs.iter().chain(&f.v_files[1..]) {
        let link = snapshot_link(blob);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            fs::canonicalize(blob).unwrap()
        );
        assert_eq!(inode(&fs::canonicalize(&link).unwrap()), inode(blob));
    }
    // Decoys untouched.
    let d_after: Vec<(u64, u64)> = f.d_files.iter().map(|p| inode(p)).collect();
    assert_eq!(d_after, d_before);
    assert_eq!(fs::read(&f.d_files[0]).unwrap(), f.d);
    assert_eq!(inode(&f.z_files[0]), inode(&f.z_files[1]));
    // No temporary link left behind.
    let mut stack = vec![f.layout.root.clone(), f.layout.app_caches["tmdb"].clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains(".hoard-dedup."),
                "left {name} in {}",
                dir.display()
            );
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }

    // What the reviewer feared: torch.save rewrites its checkpoint in place ('wb'
    // truncates). Not linked, it changes nothing but itself.
    let rewritten = bytes(99, f.w.len());
    fs::write(&w_others[0], &rewritten).unwrap();
    for blob in w_blobs {
        assert_eq!(fs::read(blob).unwrap(), f.w, "{} changed", blob.display());
    }
    // Put back as planted (bytes and age) for what follows.
    fs::write(&w_others[0], &f.w).unwrap();
    age(&w_others[0], 3 * DAY);

    // Afterwards the linked hub blobs count once; the checkpoint, the app cache file and the
    // outside copy remain duplicates of them. Linking again is a no-op.
    let again = f.find();
    assert_eq!(again.groups.len(), 1);
    assert_eq!(
        again.groups[0].files,
        vec![
            f.w_files[0].clone(),
            w_others[0].clone(),
            w_others[1].clone(),
            f.w_outside.clone(),
        ]
    );
    let outcome = dedup::link(&again, &f.layout);
    assert_eq!((outcome.linked, outcome.freed), (0, 0));
    assert_eq!(outcome.skipped.len(), 3, "{:?}", outcome.skipped);
    // The report linked before is stale now; using it again changes nothing either.
    let stale = dedup::link(&report, &f.layout);
    assert_eq!((stale.linked, stale.freed), (0, 0));
    for (path, was) in &others_before {
        assert_eq!(inode(path), (was.dev(), was.ino()), "{path:?}");
    }
}

#[test]
fn link_reverifies_names_it_trusted_when_finding() {
    let dir = hoard_testkit::temp_dir();
    let config = ModelsConfig {
        root: Some(dir.path().join("models")),
        ..ModelsConfig::default()
    };
    let layout = Layout::new(&config, dir.path());
    // Two blobs whose names claim the same content, but whose bytes differ (a corrupted
    // download, say).
    let one = bytes(10, 2 * MIB);
    let two = bytes(11, 2 * MIB);
    let name = name_of(&one);
    let first = hf_repo(&layout.hf_hub(), "org--one", &name, &one, 3);
    let second = hf_repo(&layout.hf_hub(), "org--two", &name, &two, 1);

    let report = dedup::find(&scan::scan(&layout), &DedupOptions::default());
    assert_eq!(report.hashed_files, 0, "names are trusted for finding");
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.groups[0].files, vec![first.clone(), second.clone()]);

    let outcome = dedup::link(&report, &layout);
    assert_eq!((outcome.linked, outcome.freed), (0, 0));
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].0, second);
    assert!(
        outcome.skipped[0].1.contains("content differs"),
        "{}",
        outcome.skipped[0].1
    );
    assert_eq!(fs::read(&first).unwrap(), one);
    assert_eq!(fs::read(&second).unwrap(), two);
    assert_ne!(inode(&first), inode(&second));
}

#[test]
fn link_keeps_the_first_blob_inside_the_roots_and_never_replaces_symlinks() {
    let dir = hoard_testkit::temp_dir();
    let base = dir.path();
    let config = ModelsConfig {
        root: Some("models".into()),
        legacy: vec!["shared/model-cache".into()],
        ..ModelsConfig::default()
    };
    let layout = Layout::new(&config, base);
    let content = bytes(20, 2 * MIB);
    let outside = write(&base.join("elsewhere/a.bin"), &content, 9);
    let checkpoint = write(&layout.torch_hub().join("checkpoints/m.pt"), &content, 5);
    // A legacy folder is a configured root, found here as an extra dir.
    let legacy = write(&layout.legacy[0].join("m.pt"), &content, 4);
    let symlink = layout.root.join("alias.pt");
    std::os::unix::fs::symlink(&outside, &symlink).unwrap();

    let found = dedup::find(
        &scan::scan(&layout),
        &DedupOptions {
            extra_dirs: vec![
                layout.legacy[0].clone(),
                base.join("elsewhere"),
                layout.root.clone(),
            ],
            ..DedupOptions::default()
        },
    );
    // The symlink under the root is not followed. The store file is kept although the
    // other two are older; they follow oldest first.
    assert_eq!(found.groups.len(), 1);
    assert_eq!(
        found.groups[0].files,
        vec![checkpoint.clone(), outside.clone(), legacy.clone()]
    );
    // None of them is a store blob: nothing is linked.
    let outcome = dedup::link(&found, &layout);
    assert_eq!((outcome.linked, outcome.freed), (0, 0));
    let skipped: Vec<&PathBuf> = outcome.skipped.iter().map(|(path, _)| path).collect();
    assert_eq!(skipped, vec![&checkpoint, &outside, &legacy]);
    assert!(outcome.skipped[0].1.contains(NOT_A_BLOB), "{:?}", outcome);
    assert!(outcome.skipped[1].1.contains("outside"), "{:?}", outcome);
    assert!(outcome.skipped[2].1.contains(NOT_A_BLOB), "{:?}", outcome);
    assert_ne!(inode(&legacy), inode(&checkpoint));

    // Store blobs with the same bytes: a hub blob, an Ollama layer, a symlink named like a
    // blob, and a hex-named file that is in no `blobs` folder.
    let name = name_of(&content);
    let hub_blob = hf_repo(&layout.hf_hub(), "org--a", &name, &content, 3);
    let layer = write(
        &layout.ollama.join(format!("blobs/sha256-{name}")),
        &content,
        2,
    );
    let blob_symlink = layout.hf_hub().join(format!("models--org--s/blobs/{name}"));
    fs::create_dir_all(blob_symlink.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&hub_blob, &blob_symlink).unwrap();
    let not_in_blobs = write(
        &layout.torch_hub().join(format!("checkpoints/{name}")),
        &content,
        1,
    );
    let untouched: Vec<(PathBuf, (u64, u64))> =
        [&outside, &checkpoint, &legacy, &symlink, &not_in_blobs]
            .into_iter()
            .map(|path| (path.clone(), inode(path)))
            .collect();

    // A report whose first file is outside the roots and whose next ones are not blobs
    // (built by hand: `find` never orders so), with symlinks among the copies.
    let report = Report {
        groups: vec![Group {
            size: content.len() as u64,
            hash: blake3_of(&content),
            files: vec![
                outside.clone(),
                checkpoint.clone(),
                symlink.clone(),
                hub_blob.clone(),
                blob_symlink.clone(),
                legacy.clone(),
                not_in_blobs.clone(),
                layer.clone(),
            ],
        }],
        ..Report::default()
    };
    let outcome = dedup::link(&report, &layout);
    // The hub blob, the first blob inside the roots, is kept; only the layer is linked.
    assert_eq!(outcome.linked, 1);
    assert_eq!(outcome.freed, content.len() as u64);
    assert_eq!(inode(&layer), inode(&hub_blob));
    assert_eq!(fs::symlink_metadata(&hub_blob).unwrap().nlink(), 2);
    assert_eq!(fs::read(&layer).unwrap(), content);
    let skipped: Vec<&PathBuf> = outcome.skipped.iter().map(|(path, _)| path).collect();
    assert_eq!(
        skipped,
        vec![
            &outside,
            &checkpoint,
            &symlink,
            &blob_symlink,
            &legacy,
            &not_in_blobs
        ]
    );
    let reason = |path: &PathBuf| {
        &outcome
            .skipped
            .iter()
            .find(|(skipped, _)| skipped == path)
            .unwrap()
            .1
    };
    assert!(reason(&outside).contains("outside"), "{:?}", outcome);
    for path in [&checkpoint, &symlink, &legacy, &not_in_blobs] {
        assert!(reason(path).contains(NOT_A_BLOB), "{:?}", outcome);
    }
    assert!(
        reason(&blob_symlink).contains("not a regular file"),
        "{:?}",
        outcome
    );
    for (path, was) in &untouched {
        assert_eq!(inode(path), *was, "{} replaced", path.display());
        if path != &symlink {
            assert_eq!(fs::symlink_metadata(path).unwrap().nlink(), 1);
            assert_eq!(fs::read(path).unwrap(), content);
        }
    }
    for link in [&symlink, &blob_symlink] {
        assert!(fs::symlink_metadata(link).unwrap().file_type().is_symlink());
    }
}
