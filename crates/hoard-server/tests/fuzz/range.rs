//! `Range` on `/datasets/file`: any header value gets the whole file (200), the range it
//! names (206, with a `Content-Range` that says it and exactly those bytes), or 416; never
//! a panic or another status. A printed single range gets what RFC 9110 says.

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use std::sync::OnceLock;
use tower::ServiceExt;

/// The files served, by name: lengths around the edges (empty, one byte, one 64 KiB chunk
/// and more).
pub const FILES: &[(&str, usize)] = &[
    ("f0.wav", 0),
    ("f1.wav", 1),
    ("f100.wav", 100),
    ("f70k.wav", 70_000),
];

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

struct Server {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        // One folder for every run, not a temporary one: a static is never dropped, so a
        // temporary folder would be left behind by each run. Files are renamed into
        // place, so a concurrent run never reads one half written.
        let dir = std::env::temp_dir().join("hoard-fuzz-range-files");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, len) in FILES {
            let path = dir.join(name);
            if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(*len as u64) {
                let scratch = dir.join(format!("{name}.{}", std::process::id()));
                std::fs::write(&scratch, content(*len)).unwrap();
                std::fs::rename(&scratch, &path).unwrap();
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(async {
            let cache = hoard::Cache::builder().build().unwrap();
            let datasets = hoard_datasets::Datasets::new(
                cache.clone(),
                [hoard_datasets::DatasetConfig {
                    id: "d".into(),
                    path: dir.clone(),
                    options: Default::default(),
                }],
            )
            .unwrap();
            hoard_server::app(state(cache, datasets))
        });
        Server { runtime, app }
    })
}

fn state(cache: hoard::Cache, datasets: hoard_datasets::Datasets) -> hoard_server::AppState {
    hoard_server::AppState {
        cache,
        access: hoard_server::Access::admin("fuzz-admin-token-0123456789"),
        max_batch: 100,
        max_body: 64 * 1024,
        history: hoard_server::StatsHistory::new(std::time::Duration::from_secs(5)),
        models: std::sync::Arc::new(hoard_models::Layout::new(
            &Default::default(),
            std::path::Path::new("."),
        )),
        datasets: std::sync::Arc::new(datasets),
        semantic: None,
    }
}

/// What the server answered: status, `Content-Range`, body.
pub struct Answer {
    pub status: StatusCode,
    pub content_range: Option<String>,
    pub body: Vec<u8>,
}

/// GETs file `file` (an index into [`FILES`]) with `range` as its `Range` header.
pub fn get(file: usize, range: &HeaderValue) -> Answer {
    let server = server();
    let (name, _) = FILES[file % FILES.len()];
    let request = Request::get(format!("/datasets/file?id=d&relpath={name}"))
        .header(header::RANGE, range.clone())
        .body(Body::empty())
        .unwrap();
    server.runtime.block_on(async {
        let response = server.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_range = response
            .headers()
            .get(header::CONTENT_RANGE)
            .map(|v| v.to_str().unwrap().to_owned());
        let length = response.headers().get(header::CONTENT_LENGTH).cloned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        if let Some(length) = length {
            assert_eq!(
                length.to_str().unwrap(),
                body.len().to_string(),
                "Content-Length"
            );
        }
        Answer {
            status,
            content_range,
            body,
        }
    })
}

/// Any `Range` value: 200 with the file, 206 with the bytes its `Content-Range` names, or
/// 416 naming the length. Returns the range served, for callers that know what to expect.
pub fn any_range(file: usize, range: &[u8]) -> Option<Result<Option<(u64, u64)>, ()>> {
    let value = HeaderValue::from_bytes(range).ok()?;
    let (_, len) = FILES[file % FILES.len()];
    let whole = content(len);
    let answer = get(file, &value);
    Some(match answer.status {
        StatusCode::OK => {
            assert!(
                answer.body == whole,
                "200 for {range:?} is not the whole file"
            );
            Ok(None)
        }
        StatusCode::PARTIAL_CONTENT => {
            let content_range = answer.content_range.expect("206 without Content-Range");
            let (span, total) = content_range
                .strip_prefix("bytes ")
                .and_then(|r| r.split_once('/'))
                .expect("Content-Range form");
            let (start, end) = span.split_once('-').expect("Content-Range span");
            let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse().unwrap());
            assert_eq!(total, len.to_string(), "{content_range}");
            assert!(
                start <= end && end < len as u64,
                "{content_range} for {range:?}"
            );
            assert!(
                answer.body == whole[start as usize..=end as usize],
                "206 body is not {content_range}"
            );
            Ok(Some((start, end)))
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            assert_eq!(answer.content_range, Some(format!("bytes */{len}")));
            Err(())
        }
        other => panic!("{other} for Range {range:?}"),
    })
}

/// One single range as a client prints it.
#[derive(Debug, Clone, Copy)]
pub enum Spec {
    /// `bytes=first-last`
    FromTo(u64, u64),
    /// `bytes=first-`
    From(u64),
    /// `bytes=-suffix`
    Suffix(u64),
}

impl Spec {
    pub fn print(self) -> String {
        match self {
            Spec::FromTo(a, b) => format!("bytes={a}-{b}"),
            Spec::From(a) => format!("bytes={a}-"),
            Spec::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// What RFC 9110 §14 says a server does with it on a file of `len` bytes:
    /// `Ok(Some(range))`, `Ok(None)` for the whole file (an invalid range is ignored), or
    /// `Err` for 416.
    pub fn expected(self, len: u64) -> Result<Option<(u64, u64)>, ()> {
        match self {
            Spec::FromTo(a, b) if a > b => Ok(None),
            Spec::FromTo(a, _) | Spec::From(a) if a >= len => Err(()),
            Spec::FromTo(a, b) => Ok(Some((a, b.min(len - 1)))),
            Spec::From(a) => Ok(Some((a, len - 1))),
            Spec::Suffix(0) => Err(()),
            Spec::Suffix(_) if len == 0 => Err(()),
            Spec::Suffix(n) => Ok(Some((len - n.min(len), len - 1))),
        }
    }
}

/// A printed range is served as RFC 9110 says.
pub fn printed(file: usize, spec: Spec) {
    let (_, len) = FILES[file % FILES.len()];
    let text = spec.print();
    let served = any_range(file, text.as_bytes()).expect("a printed range is a header value");
    assert_eq!(served, spec.expected(len as u64), "{text} on {len} bytes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};

    const DIR: &str = env!("CARGO_MANIFEST_DIR");

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        [
            ("from-to", "bytes=0-99"),
            ("from", "bytes=900-"),
            ("suffix", "bytes=-100"),
            ("past-the-end", "bytes=990-5000"),
            ("zero-suffix", "bytes=-0"),
            ("reversed", "bytes=5-1"),
            ("several", "bytes=0-1,5-6"),
            ("other-unit", "items=0-1"),
            ("spaces", " bytes= 1 - 2 "),
            ("huge", "bytes=0-18446744073709551616"),
        ]
        .into_iter()
        .map(|(name, text)| (name, text.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn any_range_header_gets_200_206_or_416() {
        fuzz::bless(DIR, "range", &seeds());
        let corpus = fuzz::corpus(DIR, "range");
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        const TOKENS: &[&[u8]] = &[
            b"bytes=",
            b"-",
            b",",
            b" ",
            b"0",
            b"1",
            b"99",
            b"69999",
            b"70000",
            b"+",
            b"18446744073709551615",
            b"18446744073709551616",
        ];
        fuzz::check(
            "range",
            &corpus,
            fuzz::cases(1500),
            (0..FILES.len(), fuzz::mutated(bytes, TOKENS)),
            |(file, input): (usize, Input)| {
                any_range(file, &input);
                Ok(())
            },
            |bytes| (2, Input(bytes.to_vec())),
        );
    }

    #[test]
    fn printed_ranges_are_served_as_rfc_9110_says() {
        let edges = prop_oneof![
            prop::sample::select(
                &[
                    0u64,
                    1,
                    2,
                    99,
                    100,
                    101,
                    65_535,
                    65_536,
                    69_999,
                    70_000,
                    70_001,
                    u64::MAX
                ][..]
            ),
            any::<u64>(),
            0u64..80_000,
        ];
        let spec = prop_oneof![
            (edges.clone(), edges.clone()).prop_map(|(a, b)| Spec::FromTo(a, b)),
            edges.clone().prop_map(Spec::From),
            edges.prop_map(Spec::Suffix),
        ];
        fuzz::check(
            "range_printed",
            &[],
            fuzz::cases(1500),
            (0..FILES.len(), spec),
            |(file, spec)| {
                printed(file, spec);
                Ok(())
            },
            |_| (2, Spec::From(0)),
        );
    }
}
