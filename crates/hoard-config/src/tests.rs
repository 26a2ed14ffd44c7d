// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use super::*;
use std::time::Duration;

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(env: &dyn Fn(&str) -> Option<String>, flags: &Overrides) -> Config {
    Config::load(None, env, flags).unwrap()
}

#[test]
fn defaults_are_the_documented_ones() {
    let settings = load(&no_env, &Overrides::default()).settings().unwrap();
    assert_eq!(settings.server.addr.port(), 7070);
    assert_eq!(settings.server.max_body_bytes(), 16 << 20);
    assert_eq!(settings.cache.memory.as_u64(), 256 << 20);
    assert_eq!(settings.cache.default_ttl, Duration::from_secs(3600));
    assert_eq!(settings.cache.l2(), L2::Disk);
}

#[test]
fn bad_values_name_file_key_and_reason() {
    let dir = hoard_testkit::temp_dir();
    let cases = [
        ("[cache]\nmemory = \"lots\"\n", "cache.memory", "not a size"),
        ("[cache]\nmemory = -1\n", "cache.memory", "expected a size"),
        (
            "[cache]\ndisk_memory = \"lots\"\n",
            "cache.disk_memory",
            "not a size",
        ),
        (
            "[cache]\ndefault_ttl = \"90\"\n",
            "cache.default_ttl",
            "missing unit",
        ),
        (
            "[cache]\ndefault_ttl = \"0s\"\n",
            "cache.default_ttl",
            "greater than zero",
        ),
        (
            "[cache]\nredis_url = \"redis://a\"\nredis_cluster = [\"redis://b\"]\n",
            "cache.redis_url",
            "set one of redis_url, redis_cluster and redis_sentinel",
        ),
        (
            "[cache]\nredis_sentinel = [\"redis://s:26379\"]\nredis_url = \"redis://b\"\n",
            "cache.redis_url",
            "set one of",
        ),
        (
            "[server]\naddr = \"localhost\"\n",
            "server.addr",
            "HOST:PORT",
        ),
        (
            "[server]\nmax_batch = 0\n",
            "server.max_batch",
            "greater than zero",
        ),
        (
            "[server]\nmax_body = \"5TB\"\n",
            "server.max_body",
            "unknown size unit",
        ),
        (
            "[server]\nmax_connections = 0\n",
            "server.max_connections",
            "greater than zero",
        ),
        (
            "[server]\nheader_read_timeout = \"0s\"\n",
            "server.header_read_timeout",
            "greater than zero",
        ),
        (
            "[server]\nidle_timeout = \"60\"\n",
            "server.idle_timeout",
            "missing unit",
        ),
        (
            "[server]\nbody_read_timeout = \"2d\"\n",
            "server.body_read_timeout",
            "at most 1d",
        ),
        (
            "[server]\nadmin_token = \"short\"\n",
            "server.admin_token",
            "at least 16",
        ),
        (
            "[server]\nread_tokens = [\"short\"]\n",
            "server.read_tokens",
            "at least 16 characters",
        ),
        (
            "[server]\nwrite_tokens = [\"has a space in it ok\"]\n",
            "server.write_tokens",
            "without spaces",
        ),
        (
            "[server]\ninsecure = \"yes\"\n",
            "server.insecure",
            "invalid type",
        ),
        (
            "[cache]\nmemroy = \"1GiB\"\n",
            "cache.memroy",
            "unknown field",
        ),
        ("[cache\n", "(syntax)", "TOML"),
        ("[cahce]\nmemory = \"1GiB\"\n", "cahce", "unknown section"),
        ("cache = 5\n", "cache", "must be a [section]"),
        (
            "[datasets.x]\npaht = \"data\"\n",
            "datasets.x.paht",
            "unknown field",
        ),
        ("[datasets.x]\n", "datasets.x", "missing field `path`"),
        ("[datasets.x]\npath = \"\"\n", "datasets.x.path", "is empty"),
        (
            "[models]\nrot = \".cache\"\n",
            "models.rot",
            "unknown field",
        ),
        (
            "[semantic]\nthreshold = 1.5\n",
            "semantic.threshold",
            "in [0, 1]",
        ),
        (
            "[semantic]\nverifier_threshold = 1.5\n",
            "semantic.verifier_threshold",
            "in [0, 1]",
        ),
        (
            "[semantic.namespace_thresholds]\nfaq = 2.0\n",
            "semantic.namespace_thresholds.faq",
            "in [0, 1]",
        ),
        (
            "[semantic]\ncapacity = 0\n",
            "semantic.capacity",
            "at least 1",
        ),
        (
            "[semantic]\nverifier = \"yes\"\n",
            "semantic.verifier",
            "invalid type",
        ),
        (
            "[semantic]\nthresold = 0.9\n",
            "semantic.thresold",
            "unknown field",
        ),
        ("[semantic]\nmodel = 5\n", "semantic.model", "invalid type"),
        (
            "[datasets.\"a b\"]\npath = \"data\"\n",
            "datasets.a b",
            "only letters",
        ),
    ];
    for (i, (text, key, reason)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = Config::load(Some(&path), &no_env, &Overrides::default())
            .and_then(|config| config.settings())
            .unwrap_err();
        assert_eq!(err.origin, path.display().to_string(), "{text}");
        assert_eq!(err.key, *key, "{text}: {err}");
        assert!(
            err.reason.to_lowercase().contains(&reason.to_lowercase()),
            "{text}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}: {key}: ", path.display())),
            "{err}"
        );
    }
}

#[test]
fn a_missing_file_named_explicitly_is_an_error() {
    let dir = hoard_testkit::temp_dir();
    let path = dir.path().join("absent.toml");
    let err = Config::load(Some(&path), &no_env, &Overrides::default()).unwrap_err();
    assert_eq!(
        (err.origin.as_str(), err.key.as_str()),
        (path.to_str().unwrap(), "(file)")
    );
}

#[test]
fn a_bad_section_does_not_stop_the_others_from_being_read() {
    let text = "[server]\nmax_body = \"lots\"\naddr = \"nowhere\"\n[models]\nroot = \"weights\"\n";
    let config = Config::from_toml("hoard.toml", text).unwrap();
    let models = config.models().unwrap();
    assert_eq!(
        models.root.as_deref(),
        Some(std::path::Path::new("weights"))
    );
    assert_eq!(config.cache().unwrap(), CacheSection::default());
    let err = config.server().unwrap_err();
    assert_eq!(err.key, "server.addr", "{err}");
    assert!(config.settings().is_err());
}

#[test]
fn each_error_names_the_layer_that_set_the_value() {
    let dir = hoard_testkit::temp_dir();
    let path = dir.path().join("hoard.toml");
    std::fs::write(
        &path,
        "[cache]\nmemory = \"lots\"\n[server]\nmax_batch = 0\n",
    )
    .unwrap();
    // The file's value is refused under the file's name, though variables are set too.
    let env = |name: &str| (name == "HOARD_SERVER_ADDR").then(|| "127.0.0.1:9000".to_owned());
    let config = Config::load(Some(&path), &env, &Overrides::default()).unwrap();
    assert_eq!(
        config.cache().unwrap_err().origin,
        path.display().to_string()
    );
    assert_eq!(config.server().unwrap_err().key, "server.max_batch");
    assert_eq!(config.origin_of("server.addr"), "$HOARD_SERVER_ADDR");
    assert_eq!(config.origin_of("server.idle_timeout"), "defaults");
    assert_eq!(
        config.source(),
        format!("{} + $HOARD_SERVER_ADDR", path.display())
    );
    // A variable's value that is refused names the variable.
    let env = |name: &str| (name == "HOARD_SERVER_MAX_BATCH").then(|| "many".to_owned());
    let err = Config::load(Some(&path), &env, &Overrides::default())
        .unwrap()
        .server()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "$HOARD_SERVER_MAX_BATCH: server.max_batch: must be a number greater than zero"
    );
    // And a flag's, the flag.
    let flags = Overrides {
        addr: Some("here".into()),
        ..Overrides::default()
    };
    let err = load(&no_env, &flags).server().unwrap_err();
    assert_eq!(
        (err.origin.as_str(), err.key.as_str()),
        ("--addr", "server.addr")
    );
}

#[cfg(unix)]
#[test]
fn a_data_dir_flag_that_is_not_utf8_is_refused_not_renamed() {
    use std::os::unix::ffi::OsStrExt;
    let flags = Overrides {
        data_dir: Some(std::ffi::OsStr::from_bytes(b"data-\xff").into()),
        ..Overrides::default()
    };
    let err = Config::load(None, &no_env, &flags).unwrap_err();
    assert_eq!(
        (err.origin.as_str(), err.key.as_str()),
        ("--data-dir", "cache.data_dir")
    );
    assert!(err.reason.contains("not UTF-8"), "{err}");
}

#[test]
fn environment_and_flags_override_the_file() {
    let env = |name: &str| match name {
        "HOARD_CACHE_MEMORY" => Some("1GiB".to_owned()),
        "HOARD_SERVER_ADDR" => Some("127.0.0.1:9000".to_owned()),
        "HOARD_SERVER_IDLE_TIMEOUT" => Some("5s".to_owned()),
        "HOARD_SERVER_MAX_CONNECTIONS" => Some("64".to_owned()),
        "HOARD_CACHE_REDIS_CLUSTER" => Some("redis://a:1, redis://b:2,".to_owned()),
        "HOARD_MODELS_ROOT" => Some("/models".to_owned()),
        _ => None,
    };
    let flags = Overrides {
        addr: Some("127.0.0.1:9100".into()),
        data_dir: Some("/data".into()),
        ..Overrides::default()
    };
    let settings = load(&env, &flags).settings().unwrap();
    assert_eq!(settings.cache.memory.as_u64(), 1 << 30);
    assert_eq!(settings.cache.redis_cluster, ["redis://a:1", "redis://b:2"]);
    assert_eq!(settings.cache.l2(), L2::RedisCluster);
    let sentinels = |name: &str| match name {
        "HOARD_CACHE_REDIS_SENTINEL" => Some("redis://s1:26379,redis://s2:26379".to_owned()),
        "HOARD_CACHE_SENTINEL_MASTER" => Some("cache-master".to_owned()),
        _ => None,
    };
    let cache = load(&sentinels, &Overrides::default()).cache().unwrap();
    assert_eq!(
        cache.redis_sentinel,
        ["redis://s1:26379", "redis://s2:26379"]
    );
    assert_eq!(cache.sentinel_master, "cache-master");
    assert_eq!(cache.l2(), L2::RedisSentinel);
    assert_eq!(settings.cache.data_dir, std::path::Path::new("/data"));
    assert_eq!(settings.server.idle_timeout, Duration::from_secs(5));
    assert_eq!(settings.server.max_connections, 64);
    assert_eq!(
        settings.server.addr.port(),
        9100,
        "flags win over the environment"
    );
    assert_eq!(
        settings.models.root.as_deref(),
        Some(std::path::Path::new("/models"))
    );
    let bad = |name: &str| (name == "HOARD_CACHE_MEMORY").then(|| "huge".to_owned());
    let err = load(&bad, &Overrides::default())
        .cache()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("$HOARD_CACHE_MEMORY: cache.memory: "),
        "{err}"
    );
}

#[test]
fn tokens_come_from_the_environment_comma_separated() {
    let env = |name: &str| match name {
        "HOARD_READ_TOKEN" => Some(" read-token-0123456789 , read-token-9876543210,".into()),
        "HOARD_WRITE_TOKEN" => Some("write-token-0123456789".into()),
        "HOARD_ADMIN_TOKEN" => Some("admin-token-0123456789".into()),
        _ => None,
    };
    let server = load(&env, &Overrides::default()).server().unwrap();
    assert_eq!(
        server.read_tokens,
        ["read-token-0123456789", "read-token-9876543210"]
    );
    assert_eq!(server.write_tokens, ["write-token-0123456789"]);
    assert!(server.has_admin_token());
    let bad = |name: &str| (name == "HOARD_WRITE_TOKEN").then(|| "short".to_owned());
    let err = load(&bad, &Overrides::default()).server().unwrap_err();
    assert_eq!(
        (err.origin.as_str(), err.key.as_str()),
        ("$HOARD_WRITE_TOKEN", "server.write_tokens")
    );
}

#[test]
fn only_loopback_may_serve_without_tokens() {
    let server = |env: &dyn Fn(&str) -> Option<String>, flags: &Overrides| {
        load(env, flags).server().unwrap()
    };
    let at = |addr: &str| Overrides {
        addr: Some(addr.into()),
        ..Overrides::default()
    };
    for addr in [
        "127.0.0.1:7070",
        "127.8.9.10:7070",
        "[::1]:7070",
        "[::ffff:127.0.0.1]:7070",
    ] {
        assert_eq!(server(&no_env, &at(addr)).exposure(), None, "{addr}");
    }
    for addr in ["0.0.0.0:7070", "[::]:7070", "192.0.2.1:7070"] {
        let reason = server(&no_env, &at(addr)).exposure().unwrap();
        assert!(
            reason.contains("--insecure") && reason.contains("read_tokens"),
            "{reason}"
        );
        let insecure = Overrides {
            insecure: true,
            ..at(addr)
        };
        assert_eq!(server(&no_env, &insecure).exposure(), None, "{addr}");
        let read =
            |name: &str| (name == "HOARD_READ_TOKEN").then(|| "read-token-0123456789".into());
        assert_eq!(server(&read, &at(addr)).exposure(), None, "{addr}");
        for on in ["true", "1", "yes", "ON"] {
            let env = |name: &str| (name == "HOARD_SERVER_INSECURE").then(|| on.into());
            assert_eq!(server(&env, &at(addr)).exposure(), None, "{addr} {on}");
        }
        let off = |name: &str| (name == "HOARD_SERVER_INSECURE").then(|| "off".into());
        assert!(server(&off, &at(addr)).exposure().is_some(), "{addr}");
    }
    let odd = |name: &str| (name == "HOARD_SERVER_INSECURE").then(|| "maybe".into());
    let err = load(&odd, &Overrides::default()).server().unwrap_err();
    assert_eq!(
        (err.origin.as_str(), err.key.as_str()),
        ("$HOARD_SERVER_INSECURE", "server.insecure")
    );
}

/// `hoard.example.toml` lists every key: it parses, and its values are the defaults.
#[test]
fn the_example_file_is_valid_and_complete() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hoard.example.toml");
    let example = Config::load(Some(&path), &no_env, &Overrides::default())
        .unwrap()
        .settings()
        .unwrap();
    assert_eq!(example.cache, CacheSection::default());
    assert_eq!(example.server, ServerSection::default());
    assert_eq!(
        example.models.root.as_deref(),
        Some(std::path::Path::new(".cache"))
    );
    assert!(example.models.app_caches.is_empty() && example.models.warm.is_empty());
    assert!(
        example.semantic.embedder.model.is_empty(),
        "off unless asked"
    );
    assert_eq!(
        example.semantic.cache,
        hoard_semantic::SemanticConfig::default()
    );
    assert_eq!(example.datasets.len(), 1);
    assert_eq!(
        example.datasets[0].options,
        hoard_datasets::BuildOptions::default()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "data_dir",
        "memory",
        "disk_memory",
        "default_ttl",
        "redis_url",
        "redis_cluster",
        "redis_sentinel",
        "sentinel_master",
        "key_prefix",
        "addr",
        "max_body",
        "max_batch",
        "admin_token",
        "admin_tokens",
        "write_tokens",
        "read_tokens",
        "insecure",
        "header_read_timeout",
        "idle_timeout",
        "body_read_timeout",
        "max_connections",
        "path",
        "label_column",
        "content_hash",
        "root",
        "legacy",
        "model",
        "threshold",
        "context_threshold",
        "extend_on_hit",
        "capacity",
        "candidates",
    ] {
        assert!(
            text.contains(&format!("\n{key} = ")),
            "hoard.example.toml lacks {key}"
        );
    }
}

/// A TOML syntax error keeps toml's layout: the offending line, and a caret under the place.
#[test]
fn a_syntax_error_shows_the_line_and_the_place() {
    let error = Config::from_toml("hoard.toml", "[cache]\nmemory = \n").unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("hoard.toml: (syntax): \nTOML parse error at line 2"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"2 | memory = "), "{text}");
    assert!(lines.iter().any(|l| l.trim_end().ends_with('^')), "{text}");
}
