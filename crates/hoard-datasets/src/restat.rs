//! Bringing a [`Listing`] up to date by re-stating only the paths that changed, with the
//! walk's own rules ([`scan::classify`], [`scan::walk_dir`] for a folder): what the watched
//! registry does instead of walking the whole root. The result is the listing a full walk
//! would give, provided `paths` names every path that changed since `listing` was made.

use crate::scan::{self, Entry, Listing, Skipped, Stat, Walked};
use std::collections::HashSet;
use std::fs;
use std::path::Path;

/// Re-stats `paths` (relpaths under the root, `/`-separated, no hidden component) in
/// `listing`: a path that is gone loses its entries (and, if it was a folder, everything
/// below it), a file is stated again, a folder is walked again. Returns whether the
/// listing's files or passed-over names changed, and which files. If any did, its version
/// is updated; its walk times become the re-stat's, so files changed just now are racy.
pub(crate) fn restat(listing: &mut Listing, paths: &[String]) -> Restated {
    let started_ns = scan::now_ns();
    let paths = outermost(paths);
    if paths.is_empty() {
        return Restated::default();
    }
    let mut found = Walked::default();
    for relpath in &paths {
        let more = look(&listing.root, relpath);
        found.files.extend(more.files);
        found.skipped.extend(more.skipped);
        found.symlinks.extend(more.symlinks);
    }
    let Walked {
        files: mut added,
        skipped: mut skipped_added,
        symlinks: symlinks_added,
        ..
    } = found;
    added.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    skipped_added.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));

    // Files rewritten in place (the common change) are replaced where they stand; any
    // other change takes the affected runs out and merges the new stats in.
    let in_place = replace_in_place(&mut listing.files, &paths, &added);
    let merge = in_place.is_none();
    let removed =
        in_place.unwrap_or_else(|| take_paths(&mut listing.files, |s: &Stat| &s.relpath, &paths));
    let skipped_removed = take_paths(&mut listing.skipped, |s: &Skipped| &s.relpath, &paths);
    take_paths(&mut listing.symlinks, |s: &String| s, &paths);
    let files = differing(&removed, &added);
    let changed = !files.is_empty() || skipped_removed != skipped_added;
    if merge {
        put(&mut listing.files, added, |a, b| a.relpath.cmp(&b.relpath));
    }
    put(&mut listing.skipped, skipped_added, |a, b| {
        a.relpath.cmp(&b.relpath)
    });
    put(&mut listing.symlinks, symlinks_added, Ord::cmp);
    if changed {
        listing.version = scan::version_of(&listing.files);
    }
    // The stats of `paths` were taken now: a file re-stated because it was racy is racy
    // again only if it changed again just now.
    listing.started_ns = started_ns;
    listing.finished_ns = scan::now_ns();
    Restated { changed, files }
}

/// What a re-stat found.
#[derive(Debug, Default)]
pub(crate) struct Restated {
    /// Whether the listing changed (its files, or the names it passed over).
    pub(crate) changed: bool,
    /// The relpaths of the files that came, went or changed, sorted.
    pub(crate) files: Vec<String>,
}

/// The relpaths whose stat is in one of `before` and `after` (both sorted) but not the
/// same in the other.
fn differing(before: &[Stat], after: &[Stat]) -> Vec<String> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) if a.relpath == b.relpath => {
                if a != b {
                    out.push(a.relpath.clone());
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.relpath < b.relpath => {
                out.push(a.relpath.clone());
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push(b.relpath.clone());
                j += 1;
            }
            (Some(a), None) => {
                out.push(a.relpath.clone());
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// `paths` without those below another one of them (a folder walked again covers them),
/// sorted and deduplicated.
fn outermost(paths: &[String]) -> Vec<String> {
    let all: HashSet<&str> = paths.iter().map(String::as_str).collect();
    let mut out: Vec<String> = all
        .iter()
        .filter(|path| {
            // An ancestor is any prefix ending just before a `/`.
            !path
                .match_indices('/')
                .any(|(at, _)| all.contains(&path[..at]))
        })
        .map(|path| (*path).to_owned())
        .collect();
    out.sort_unstable();
    out
}

/// What `relpath` is now: nothing, one file or passed-over name, or a folder's contents.
fn look(root: &Path, relpath: &str) -> Walked {
    let path = root.join(relpath);
    // A path reached through a symlinked folder is not in the walk: the walk does not
    // descend symlinked folders. The root is canonical, so any symlink above the name
    // shows as a parent whose canonical path differs.
    if let Some(parent) = path.parent().filter(|parent| *parent != root) {
        match fs::canonicalize(parent) {
            Ok(real) if real == parent => {}
            _ => return Walked::default(),
        }
    }
    let mut walked = Walked::default();
    let file_type = match fs::symlink_metadata(&path) {
        Ok(metadata) => metadata.file_type(),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return walked
        }
        // The walk would fail the same way on this name, if it is one it lists.
        Err(e) => {
            let name = relpath.rsplit('/').next().unwrap_or(relpath);
            if scan::Kind::of(name).is_some() {
                walked.skipped.push(Skipped {
                    relpath: relpath.to_owned(),
                    reason: format!("cannot stat: {e}"),
                });
            }
            return walked;
        }
    };
    if file_type.is_dir() {
        return scan::walk_dir(root, &path, &format!("{relpath}/"));
    }
    let name = relpath.rsplit('/').next().unwrap_or(relpath);
    if file_type.is_symlink() && scan::Kind::of(name).is_some() {
        walked.symlinks.push(relpath.to_owned());
    }
    match scan::classify(root, &path, relpath.to_owned(), file_type) {
        Entry::File(stat) => walked.files.push(stat),
        Entry::Skipped(skipped) => walked.skipped.push(skipped),
        Entry::Folder | Entry::Ignored => {}
    }
    walked
}

/// When the stats found for `paths` are exactly one per path, for files the listing
/// already holds (nothing came or went), swaps them in and returns the old ones; else
/// leaves `files` alone and returns `None`.
fn replace_in_place(files: &mut [Stat], paths: &[String], added: &[Stat]) -> Option<Vec<Stat>> {
    if added.len() != paths.len() || added.iter().zip(paths).any(|(a, p)| a.relpath != *p) {
        return None;
    }
    let mut at = Vec::with_capacity(paths.len());
    for path in paths {
        let index = files
            .binary_search_by(|stat| stat.relpath.as_str().cmp(path))
            .ok()?;
        // A folder of that name would have entries below it: not a file rewritten.
        let below = format!("{path}/");
        if files
            .get(index + 1)
            .is_some_and(|next| next.relpath.starts_with(&below))
        {
            return None;
        }
        at.push(index);
    }
    let mut replaced = Vec::with_capacity(at.len());
    for (index, stat) in at.into_iter().zip(added) {
        replaced.push(std::mem::replace(&mut files[index], stat.clone()));
    }
    Some(replaced)
}

/// Removes from `items` (sorted by `key`) every item whose key is one of `paths` or lies
/// below one of them, and returns those, in order. Each path's items are one run of the
/// sorted list (all keys that start with `path/` sit together), found by binary search:
/// the cost is a search per path plus one pass to close the gaps, not a comparison of
/// every item with every path.
fn take_paths<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &str, paths: &[String]) -> Vec<T> {
    let mut runs = Vec::new();
    for path in paths {
        let at = items.partition_point(|item| key(item) < path.as_str());
        let exact = items.get(at).is_some_and(|item| key(item) == path);
        if exact {
            runs.push(at..at + 1);
        }
        let below = format!("{path}/");
        let from = at + usize::from(exact);
        let from = from + items[from..].partition_point(|item| key(item) < below.as_str());
        let to = from + items[from..].partition_point(|item| key(item).starts_with(&below));
        if from < to {
            runs.push(from..to);
        }
    }
    if runs.is_empty() {
        return Vec::new();
    }
    runs.sort_unstable_by_key(|run| run.start);
    let mut removed = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    let mut runs = runs.into_iter().peekable();
    for (index, item) in std::mem::take(items).into_iter().enumerate() {
        while runs.next_if(|run| run.end <= index).is_some() {}
        match runs.peek() {
            Some(run) if run.contains(&index) => removed.push(item),
            _ => kept.push(item),
        }
    }
    *items = kept;
    removed
}

/// Adds `new` (sorted) to `items` (sorted), keeping the order. A stable sort finds the two
/// sorted runs and merges them: linear, where sorting from scratch would not be.
fn put<T>(items: &mut Vec<T>, new: Vec<T>, order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if new.is_empty() {
        return;
    }
    items.extend(new);
    items.sort_by(order);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_outermost_paths_are_kept() {
        let paths: Vec<String> = ["a/b.wav", "a", "a.wav", "a/c/d.wav", "b/x.wav", "a.wav"]
            .map(String::from)
            .to_vec();
        assert_eq!(outermost(&paths), ["a", "a.wav", "b/x.wav"]);
    }

    #[test]
    fn differing_names_files_that_came_went_or_changed() {
        let stat = |relpath: &str, size| Stat {
            relpath: relpath.into(),
            size,
            mtime_ns: 1,
            kind: scan::Kind::Csv,
        };
        let before = [stat("a", 1), stat("b", 1), stat("c", 1)];
        let after = [stat("a", 1), stat("b", 2), stat("d", 1)];
        assert_eq!(differing(&before, &after), ["b", "c", "d"]);
        assert!(differing(&before, &before).is_empty());
    }

    #[test]
    fn taking_a_folder_takes_everything_below_it_and_nothing_else() {
        let mut items: Vec<String> = ["a.wav", "a/b.wav", "a/c/d.wav", "a0.wav", "ab/x.wav", "b"]
            .map(String::from)
            .to_vec();
        let taken = take_paths(&mut items, |s: &String| s, &["a".into(), "b".into()]);
        assert_eq!(taken, ["a/b.wav", "a/c/d.wav", "b"]);
        assert_eq!(items, ["a.wav", "a0.wav", "ab/x.wav"]);
        let none = take_paths(&mut items, |s: &String| s, &["zz".into()]);
        assert!(none.is_empty());
        assert_eq!(items.len(), 3);
    }
}
