//! `hoard.toml` through `Config::load` and `Config::settings`: any text is a configuration
//! that holds what the checks promise, or a `ConfigError`; never a panic. A generated
//! configuration loads back with the values written, and sizes print and parse back.

use hoard_config::{parse_size, Config, Overrides, Settings};
use std::path::Path;

/// Loads `text` as the file at `path`; settings that load keep every promise of the
/// checks, and an error names the file.
pub fn load(path: &Path, text: &[u8]) -> Option<Settings> {
    std::fs::write(path, text).unwrap();
    let loaded = Config::load(Some(path), &|_| None, &Overrides::default())
        .and_then(|config| config.settings());
    let settings = match loaded {
        Ok(settings) => settings,
        Err(error) => {
            assert_eq!(error.origin, path.display().to_string(), "{error}");
            return None;
        }
    };
    assert!(!settings.cache.default_ttl.is_zero());
    assert!(settings.cache.redis_url.is_empty() || settings.cache.redis_cluster.is_empty());
    assert!(settings.server.max_batch > 0 && settings.server.max_connections > 0);
    let admin = &settings.server.admin_token;
    assert!(admin.is_empty() || admin.len() >= 16);
    for token in settings
        .server
        .read_tokens
        .iter()
        .chain(&settings.server.write_tokens)
    {
        assert!(token.len() >= 16, "token {token:?} loaded");
    }
    let semantic = &settings.semantic.cache;
    for t in [semantic.threshold, semantic.context_threshold]
        .iter()
        .chain(semantic.namespace_thresholds.values())
    {
        assert!((0.0..=1.0).contains(t), "threshold {t} loaded");
    }
    Some(settings)
}

/// A size printed with `unit` parses back to `number × unit`, or is refused as too large.
pub fn size(number: u64, unit: &str) {
    let factor: u64 = match unit {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" | "K" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" | "M" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" | "G" => 1 << 30,
        other => panic!("unit {other}"),
    };
    let text = format!("{number}{unit}");
    let parsed = parse_size(&text).ok().map(|size| size.as_u64());
    assert_eq!(parsed, number.checked_mul(factor), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};

    const DIR: &str = env!("CARGO_MANIFEST_DIR");
    const UNITS: &[&str] = &[
        "B", "KiB", "MiB", "GiB", "KB", "MB", "GB", "K", "M", "G", "",
    ];

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let example = std::fs::read(Path::new(DIR).join("../../hoard.example.toml")).unwrap();
        [
            ("minimal", "[cache]\nmemory = \"64MiB\"\n"),
            ("redis", "[cache]\nredis_url = \"redis://127.0.0.1:6379/0\"\nkey_prefix = \"h:\"\ndefault_ttl = \"2h5m\"\n"),
            ("cluster", "[cache]\nredis_cluster = [\"redis://127.0.0.1:7000\", \"redis://127.0.0.1:7001\"]\n"),
            ("server", "[server]\naddr = \"[::1]:7070\"\nmax_body = \"1MB\"\nmax_batch = 5\nadmin_token = \"0123456789abcdef0\"\n"),
            ("datasets", "[datasets.ravdess]\npath = \"data/ravdess\"\nlabel_column = \"emotion\"\ncontent_hash = true\n"),
            ("models", "[models]\nroot = \".cache\"\n"),
            ("semantic", "[semantic]\nthreshold = 0.9\ncontext_threshold = 0.5\ncapacity = 100\n"),
        ]
        .into_iter()
        .map(|(name, text)| (name, text.as_bytes().to_vec()))
        .chain([("example", example)])
        .collect()
    }

    const TOKENS: &[&[u8]] = &[
        b"\n",
        b"=",
        b"\"",
        b"[",
        b"]",
        b"[cache]\n",
        b"[server]\n",
        b"[semantic]\n",
        b"[models]\n",
        b"[datasets.x]\n",
        b"memory = ",
        b"default_ttl = ",
        b"threshold = ",
        b"max_batch = ",
        b"path = ",
        b"nan",
        b"inf",
        b"-1",
        b"0",
        b"1e400",
        b"99999999999999999999",
        b"\"\"",
        b"{}",
        b"[[x]]\n",
        b"'",
        b"\\u0000",
        b"true",
        b"0.5",
    ];

    #[test]
    fn any_config_text_loads_or_is_refused() {
        fuzz::bless(DIR, "config", &seeds());
        let corpus = fuzz::corpus(DIR, "config");
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        let dir = hoard_testkit::temp_dir();
        let path = dir.path().join("hoard.toml");
        fuzz::check(
            "config",
            &corpus,
            fuzz::cases(1000),
            fuzz::mutated(bytes, TOKENS),
            |input: Input| {
                load(&path, &input);
                Ok(())
            },
            |bytes| Input(bytes.to_vec()),
        );
    }

    #[test]
    fn generated_configs_load_with_their_values() {
        let strategy = (
            (1u64..5000, prop::sample::select(UNITS)),
            (
                1u64..100,
                prop::sample::select(&["ms", "s", "m", "h", "d", "w"][..]),
            ),
            1u16..,
            1usize..100_000,
            prop::option::of("[a-z0-9_-]{1,12}"),
            (0.0f32..=1.0, 0.0f32..=1.0),
        );
        let dir = hoard_testkit::temp_dir();
        let path = dir.path().join("hoard.toml");
        fuzz::check(
            "config_generated",
            &[],
            fuzz::cases(500),
            strategy,
            |((memory, unit), (ttl, ttl_unit), port, max_batch, dataset, (threshold, context))| {
                let memory = format!("{memory}{unit}");
                let ttl = format!("{ttl}{ttl_unit}");
                let mut text = format!(
                    "[cache]\nmemory = \"{memory}\"\ndefault_ttl = \"{ttl}\"\n\
                     [server]\naddr = \"127.0.0.1:{port}\"\nmax_batch = {max_batch}\n\
                     [semantic]\nthreshold = {threshold:?}\ncontext_threshold = {context:?}\n"
                );
                if let Some(id) = &dataset {
                    text.push_str(&format!("[datasets.{id}]\npath = \"data/{id}\"\n"));
                }
                let settings = load(&path, text.as_bytes())
                    .ok_or_else(|| TestCaseError::fail(format!("refused:\n{text}")))?;
                prop_assert_eq!(Ok(settings.cache.memory), parse_size(&memory));
                prop_assert_eq!(
                    Ok(settings.cache.default_ttl),
                    hoard::ttl::parse_duration(&ttl).map_err(|e| e.to_string())
                );
                prop_assert_eq!(settings.server.addr.port(), port);
                prop_assert_eq!(settings.server.max_batch, max_batch);
                let semantic = &settings.semantic;
                prop_assert_eq!(
                    (semantic.cache.threshold, semantic.cache.context_threshold),
                    (threshold, context)
                );
                let ids: Vec<String> = settings.datasets.into_iter().map(|d| d.id).collect();
                prop_assert_eq!(ids, dataset.into_iter().collect::<Vec<_>>());
                Ok(())
            },
            |_| ((1, "B"), (1, "s"), 1, 1, None, (0.5, 0.5)),
        );
    }

    #[test]
    fn sizes_print_and_parse_back() {
        fuzz::check(
            "config_size",
            &[],
            fuzz::cases(2000),
            (any::<u64>(), prop::sample::select(UNITS)),
            |(number, unit)| {
                size(number, unit);
                Ok(())
            },
            |_| (0, ""),
        );
    }
}
