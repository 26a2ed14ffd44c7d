//! `hoard models dedup`: the same bytes stored more than once across stores and other
//! locations (two Hugging Face repos sharing a file, a torch checkpoint that is also a hub
//! blob, an app cache holding a copy), found while reading as little as possible, and
//! optionally, where they are content-addressed store blobs, turned into hard links.
//!
//! [`find`] works from cheap to expensive:
//! 1. candidates are the content files of the inventory (blobs, checkpoints, layers, app
//!    cache files) and every regular file under [`DedupOptions::extra_dirs`], at least
//!    [`DedupOptions::min_size`] bytes; paths that are one inode (already hard links) count
//!    once, since they take the space once;
//! 2. files of different sizes cannot be equal, so a size held by one inode is settled;
//! 3. where every file of a size carries a hash of the same kind in its name (Hugging Face
//!    blobs, Ollama layers), the names decide and nothing is read;
//! 4. otherwise one file per distinct name hash and every file without one is read and
//!    hashed with BLAKE3, in parallel. A name hash is never compared with a BLAKE3 hash.
//!
//! [`link`] trusts none of that: right before replacing a copy it hashes both files again,
//! and it only touches files strictly inside the configured roots.
//!
//! [`link`] also only links content-addressed store blobs (Hugging Face hub
//! `blobs/HEX`, Ollama `blobs/sha256-HEX`), judged by the path. Hard links share their
//! bytes: a program that rewrites a linked file in place (`torch.save` opens with `wb` and
//! truncates, app caches rewrite their files) would change every linked copy, hub blobs
//! included, silently corrupting them. Store blobs are never rewritten in place: the hub
//! libraries and Ollama write a new file and rename it over the name. Every other duplicate
//! (torch checkpoints, app cache files, files of the extra dirs) stays a copy; [`find`]
//! still reports it.
//!
//! One module per step: `candidates` (which files, one per inode), `find` (grouping by
//! size, name hash and content), `link` (verified replacement by hard links), with
//! `identity` (inodes, fingerprints, content hashes) shared by both ends and `report` the
//! types callers see.

mod candidates;
mod find;
mod identity;
mod link;
mod report;

pub use find::find;
pub use link::{link, linkable_bytes};
pub use report::{DedupOptions, Group, LinkOutcome, Report};
