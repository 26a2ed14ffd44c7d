//! Path traversal on `GET /datasets/file?id=ID&relpath=PATH`: a dataset whose root sits
//! beside secret files (named like audio, so the route's type check is not what stops
//! them), payloads that try to reach them, and the secret bytes that came back.

use super::client::{Client, Outcome, Tally};
use super::server::{free_port, toml_string, Hoard, Workdir};
use super::{thousands, Ctx, Row};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

const ID: &str = "corpus";
/// Requests made while a folder of the root is swapped for a symlink and back.
const RACE_REQUESTS: usize = 2000;

/// Percent-encodes every byte outside unreserved characters and `/`.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The layout: `base/secret.wav` and friends outside, `base/data` the dataset root.
struct Layout {
    base: std::path::PathBuf,
    root: std::path::PathBuf,
    marker: String,
    control: Vec<u8>,
}

fn build(base: &Path) -> anyhow::Result<Layout> {
    use std::os::unix::fs::symlink;
    let marker = format!("HOARD-SECRET-{:032x}", rand::random::<u128>());
    let secret = format!("RIFF{}\n", marker).repeat(64).into_bytes();
    let root = base.join("data");
    std::fs::create_dir_all(root.join("sub/deeper"))?;
    std::fs::create_dir_all(base.join("data2"))?;
    std::fs::create_dir_all(base.join("race_secret"))?;
    std::fs::create_dir_all(root.join("racedir"))?;
    for outside in [
        "secret.wav",
        "secret_metadata.csv",
        "secret.tsv",
        "data2/secret.wav",
        "race_secret/x.wav",
    ] {
        std::fs::write(base.join(outside), &secret)?;
    }
    // Hidden files inside the root are never listed, so never served either.
    std::fs::write(root.join(".hidden.wav"), &secret)?;
    std::fs::create_dir_all(root.join(".git"))?;
    std::fs::write(root.join(".git/secret.wav"), &secret)?;
    let control = b"RIFF control file, served on purpose".to_vec();
    std::fs::write(root.join("ok.wav"), &control)?;
    std::fs::write(root.join("sub/ok2.wav"), &control)?;
    std::fs::write(root.join("racedir/x.wav"), &control)?;
    // Symlinks made inside the root that lead outside it.
    symlink("../secret.wav", root.join("link_out.wav"))?;
    symlink("..", root.join("linkdir"))?;
    symlink(base.join("secret.wav"), root.join("abs_link.wav"))?;
    symlink("../data2/secret.wav", root.join("sibling.wav"))?;
    symlink(".hidden.wav", root.join("peek.wav"))?;
    symlink("chain2.wav", root.join("chain1.wav"))?;
    symlink("../secret.wav", root.join("chain2.wav"))?;
    symlink("../../secret.wav", root.join("sub/up.wav"))?;
    symlink(
        format!("/proc/self/root{}", base.join("secret.wav").display()),
        root.join("proc.wav"),
    )?;
    symlink("/etc", root.join("etc"))?;
    Ok(Layout {
        base: base.to_path_buf(),
        root,
        marker,
        control,
    })
}

/// Payloads, as sent: each is the raw query string value of `relpath` (already encoded
/// where the payload is about encoding), with a label.
fn payloads(layout: &Layout) -> Vec<(String, String)> {
    let abs = layout.base.join("secret.wav").display().to_string();
    let depth = layout.root.components().count();
    let climb = "../".repeat(depth + 2);
    let raw: Vec<(&str, String)> = vec![
        ("dot-dot", "../secret.wav".into()),
        ("dot-dot, encoded slash", "..%2Fsecret.wav".into()),
        ("encoded dots", "%2e%2e/secret.wav".into()),
        ("encoded dots and slash", "%2e%2e%2fsecret.wav".into()),
        ("encoded, upper case", "%2E%2E%2Fsecret.wav".into()),
        ("double-encoded", "%252e%252e%252fsecret.wav".into()),
        ("double-encoded slash", "..%252fsecret.wav".into()),
        ("dot-dot in a subfolder", "sub/../../secret.wav".into()),
        (
            "encoded, in a subfolder",
            "sub/%2e%2e/%2e%2e/secret.wav".into(),
        ),
        ("dot segment first", "./../secret.wav".into()),
        ("dot-dot after a file", "ok.wav/../../secret.wav".into()),
        ("back and forth", "sub/../sub/../../secret.wav".into()),
        ("dot-dot-dot-dot", "....//secret.wav".into()),
        ("dot-dot-semicolon", "..;/secret.wav".into()),
        ("dot-dot-space", "..%20/secret.wav".into()),
        (
            "deep climb to the absolute path",
            format!("{climb}{}", abs.trim_start_matches('/')),
        ),
        ("encoded backslash", "..%5Csecret.wav".into()),
        ("raw backslash", "..\\secret.wav".into()),
        ("encoded dots, backslash", "%2e%2e%5csecret.wav".into()),
        (
            "backslash in a subfolder",
            "sub%5C..%5C..%5Csecret.wav".into(),
        ),
        ("absolute path", encode(&abs)),
        ("absolute path, raw", abs.clone()),
        ("double slash absolute", format!("/{}", encode(&abs))),
        ("absolute /etc/passwd", "%2Fetc%2Fpasswd".into()),
        (
            "absolute through /proc",
            encode(&format!("/proc/self/root{abs}")),
        ),
        (
            "sibling folder sharing the root's prefix",
            "../data2/secret.wav".into(),
        ),
        ("symlink to a file outside", "link_out.wav".into()),
        ("symlink to the parent folder", "linkdir/secret.wav".into()),
        ("symlink folder, encoded", "linkdir%2Fsecret.wav".into()),
        ("absolute symlink", "abs_link.wav".into()),
        ("symlink to the prefix sibling", "sibling.wav".into()),
        ("symlink chain", "chain1.wav".into()),
        ("symlink in a subfolder", "sub/up.wav".into()),
        ("symlink through /proc/self/root", "proc.wav".into()),
        ("symlink to /etc", "etc/passwd".into()),
        ("hidden file", ".hidden.wav".into()),
        ("symlink to a hidden file", "peek.wav".into()),
        ("hidden folder", ".git/secret.wav".into()),
        ("hidden folder, encoded dot", "%2egit/secret.wav".into()),
        ("NUL, then dot-dot", "ok.wav%00/../../secret.wav".into()),
        ("dot-dot, NUL suffix", "../secret.wav%00.wav".into()),
        ("NUL inside", "..%00/secret.wav".into()),
        (
            "overlong UTF-8 dots (2 bytes)",
            "%c0%ae%c0%ae/secret.wav".into(),
        ),
        ("overlong UTF-8 slash", "..%c0%afsecret.wav".into()),
        (
            "overlong UTF-8 dots (3 bytes)",
            "%e0%80%ae%e0%80%ae/secret.wav".into(),
        ),
        ("overlong UTF-8 backslash", "..%c1%9csecret.wav".into()),
        ("fullwidth dots", "%ef%bc%8e%ef%bc%8e/secret.wav".into()),
        ("division slash", "..%e2%88%95secret.wav".into()),
        ("IIS %u encoding", "..%u2215secret.wav".into()),
        ("newline", "..%0a/secret.wav".into()),
        ("CR LF", "..%0d%0a/secret.wav".into()),
        ("tab", "..%09/secret.wav".into()),
        ("metadata table outside", "../secret_metadata.csv".into()),
        ("tsv outside", "../secret.tsv".into()),
        ("trailing dot", "../secret.wav.".into()),
        ("file URL", encode(&format!("file://{abs}"))),
    ];
    raw.into_iter().map(|(l, p)| (l.to_owned(), p)).collect()
}

pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let scratch = tempfile::Builder::new()
        .prefix("hoard-traversal-")
        .tempdir()?;
    let base = std::fs::canonicalize(scratch.path())?;
    let layout = build(&base)?;
    let extra = format!(
        "[datasets.{ID}]\npath = {}\n",
        toml_string(&layout.root.display().to_string())
    );
    let workdir = Workdir::new("64MiB", &extra)?;
    let hoard = Hoard::start(&ctx.bin, &workdir, free_port()?, &[]).await?;
    let mut client = Client::new(hoard.addr, Duration::from_secs(5));

    // The control: a file that is in the dataset comes back whole.
    let control = client
        .get(&format!("/datasets/file?id={ID}&relpath=ok.wav"))
        .await;
    let control_ok =
        matches!(&control, Outcome::Answered(r) if r.status == 200 && r.body == layout.control);

    let mut leaked_bytes = 0u64;
    let mut leaks = Vec::new();
    let mut served_clean = Vec::new();
    let mut statuses = Tally::default();
    let mut requests: Vec<(String, String)> = payloads(&layout)
        .into_iter()
        .map(|(label, p)| (label, format!("/datasets/file?id={ID}&relpath={p}")))
        .collect();
    // The parameter twice, both orders; the route itself reached through a dot segment.
    requests.push((
        "relpath twice, payload last".into(),
        format!("/datasets/file?id={ID}&relpath=ok.wav&relpath=../secret.wav"),
    ));
    requests.push((
        "relpath twice, payload first".into(),
        format!("/datasets/file?id={ID}&relpath=../secret.wav&relpath=ok.wav"),
    ));
    requests.push((
        "dot segment in the route".into(),
        format!("/datasets/../datasets/file?id={ID}&relpath=../secret.wav"),
    ));
    requests.push((
        "traversal in the id".into(),
        format!("/datasets/file?id={ID}/..&relpath=secret.wav"),
    ));
    let payload_count = requests.len();
    for (label, target) in &requests {
        // A fresh connection each: a payload the server refuses at the HTTP level (a raw
        // backslash) closes the connection.
        let mut one = Client::new(hoard.addr, Duration::from_secs(5));
        let outcome = one.get(target).await;
        statuses.add(&outcome);
        if let Outcome::Answered(r) = &outcome {
            if contains(&r.body, layout.marker.as_bytes()) {
                leaked_bytes += r.body.len() as u64;
                leaks.push(format!("{label} (`{target}`: {})", r.status));
            } else if r.status == 200 {
                served_clean.push(label.clone());
            }
        }
    }

    // The race: `racedir` is swapped for a symlink to a folder outside and back while the
    // file under it is requested.
    let racing = Arc::new(AtomicBool::new(true));
    let swapper = {
        let (racing, root, base) = (racing.clone(), layout.root.clone(), layout.base.clone());
        std::thread::spawn(move || -> std::io::Result<u64> {
            let (dir, parked) = (root.join("racedir"), base.join("parked"));
            let mut swaps = 0;
            while racing.load(Relaxed) {
                std::fs::rename(&dir, &parked)?;
                std::os::unix::fs::symlink("../race_secret", &dir)?;
                std::thread::yield_now();
                std::fs::remove_file(&dir)?;
                std::fs::rename(&parked, &dir)?;
                swaps += 1;
            }
            Ok(swaps)
        })
    };
    let mut race_statuses = Tally::default();
    let mut race_leaks = 0u64;
    for _ in 0..RACE_REQUESTS {
        let outcome = client
            .get(&format!("/datasets/file?id={ID}&relpath=racedir/x.wav"))
            .await;
        race_statuses.add(&outcome);
        if let Outcome::Answered(r) = &outcome {
            if contains(&r.body, layout.marker.as_bytes()) {
                leaked_bytes += r.body.len() as u64;
                race_leaks += 1;
            }
        }
    }
    racing.store(false, Relaxed);
    let swaps = swapper
        .join()
        .map_err(|_| anyhow::anyhow!("the swapping thread panicked"))??;
    drop(hoard);

    let mut notes = Vec::new();
    if !leaks.is_empty() {
        notes.push(format!(
            "Path traversal: payloads that returned secret bytes: {}.",
            leaks.join("; ")
        ));
    }
    let rows = vec![Row::new(
        name,
        &format!(
            "`GET /datasets/file?id=ID&relpath=...` with {payload_count} traversal payloads (../ and encoded dots, %252e double encoding, backslashes, absolute paths, symlinks made in the root pointing outside, a sibling folder sharing the root's prefix, hidden files, NUL bytes, overlong UTF-8, the parameter twice) and {} requests while a folder of the root is swapped for a symlink to one outside; the secrets outside are named `.wav`/`_metadata.csv`/`.tsv` so the type check does not stop them: bytes of a secret served",
            thousands(RACE_REQUESTS as u64)
        ),
        format!(
            "**{} bytes** of a secret served ({} payloads leaked, {} of the racing requests); statuses: {}{}; racing: {} ({} swaps); the control file in the dataset was {}",
            thousands(leaked_bytes),
            leaks.len(),
            race_leaks,
            statuses.describe(),
            if served_clean.is_empty() {
                String::new()
            } else {
                format!(" (200 without secret bytes: {})", served_clean.join(", "))
            },
            race_statuses.describe(),
            thousands(swaps),
            if control_ok {
                "served whole".to_owned()
            } else {
                format!("NOT served ({}): the route did not work, so the payloads prove nothing", control.label())
            }
        ),
        "0 bytes (and the control file served)",
        leaked_bytes == 0 && control_ok,
    )];
    Ok((rows, notes))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
