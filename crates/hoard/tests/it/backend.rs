//! The backends the shared suite runs against.

use hoard::{Cache, DiskConfig, DiskStore, ManualClock, RedisConfig, RedisStore, Store};
use hoard_testkit::{RedisCluster, RedisServer, TempDir};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A cache under test, with direct access to its L2 for checks that bypass L1.
pub struct Backend {
    pub name: &'static str,
    pub cache: Cache,
    pub l2: Option<Arc<dyn Store>>,
    pub disk: Option<Arc<DiskStore>>,
    pub _dir: Option<TempDir>,
    /// The clock of the embedded backends; Redis keeps real time, so its backends have none.
    pub clock: Option<ManualClock>,
}

/// One standalone Redis for the whole test binary; tests keep apart by key prefix.
pub fn shared_redis() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        assert!(
            hoard_testkit::redis_available(),
            "redis-server and redis-cli are needed: scripts/test installs them"
        );
        RedisServer::start()
    })
}

/// One 3-master Redis Cluster for the whole test binary.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        assert!(
            hoard_testkit::redis_available(),
            "redis-server and redis-cli are needed: scripts/test installs them"
        );
        RedisCluster::start(3)
    })
}

/// A key prefix no other test in this run uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Backend {
    /// Lets `time` pass for the cache: the manual clock moves, or (on Redis, whose TTLs
    /// keep real time) the test waits.
    pub async fn pass(&self, time: std::time::Duration) {
        match &self.clock {
            Some(clock) => clock.advance(time),
            None => tokio::time::sleep(time).await,
        }
    }

    /// The time by the cache's clock, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.clock
            .as_ref()
            .map_or_else(hoard::entry::now_ms, ManualClock::now_ms)
    }

    /// L1 only.
    pub fn memory() -> Backend {
        let clock = ManualClock::new();
        Backend {
            name: "memory",
            cache: Cache::builder()
                .clock(clock.clock())
                .build()
                .expect("building cache"),
            l2: None,
            disk: None,
            _dir: None,
            clock: Some(clock),
        }
    }

    /// L1 in front of the embedded disk tier, sweeper off (tests sweep explicitly).
    pub fn disk() -> Backend {
        let dir = hoard_testkit::temp_dir();
        let clock = ManualClock::new();
        let disk = Arc::new(
            DiskConfig::new(dir.path())
                .sweep_interval(None)
                .clock(clock.clock())
                .open()
                .expect("opening disk tier"),
        );
        let cache = Cache::builder()
            .l2(disk.clone())
            .clock(clock.clock())
            .build()
            .expect("building cache");
        Backend {
            name: "disk",
            cache,
            l2: Some(disk.clone()),
            disk: Some(disk),
            _dir: Some(dir),
            clock: Some(clock),
        }
    }

    /// L1 in front of a standalone Redis.
    pub fn redis() -> Backend {
        let config = RedisConfig::standalone(shared_redis().url()).key_prefix(unique_prefix());
        Self::with_redis("redis", config)
    }

    /// L1 in front of a 3-master Redis Cluster.
    pub fn cluster() -> Backend {
        let config = RedisConfig::cluster(shared_cluster().urls()).key_prefix(unique_prefix());
        Self::with_redis("cluster", config)
    }

    fn with_redis(name: &'static str, config: RedisConfig) -> Backend {
        let store: Arc<RedisStore> = Arc::new(config.open().expect("opening redis tier"));
        let cache = Cache::builder()
            .l2(store.clone())
            .build()
            .expect("building cache");
        // Until its invalidation listener is subscribed, a Redis-backed cache keeps nothing
        // in L1; the suite counts L1 hits, so wait for it.
        assert!(
            hoard::block_on(cache.wait_coherent(std::time::Duration::from_secs(10))),
            "the invalidation listener subscribed"
        );
        Backend {
            name,
            cache,
            l2: Some(store),
            disk: None,
            _dir: None,
            clock: None,
        }
    }
}

/// Runs every listed case once per backend, as separate tests named `{backend}::{case}`.
macro_rules! backend_suite {
    ($($case:ident),* $(,)?) => {
        crate::backend::backend_suite!(@backend memory: $($case),*);
        crate::backend::backend_suite!(@backend disk: $($case),*);
        crate::backend::backend_suite!(@backend redis: $($case),*);
        crate::backend::backend_suite!(@backend cluster: $($case),*);
    };
    (@backend $backend:ident: $($case:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::backend::Backend::$backend()).await;
                }
            )*
        }
    };
}
pub(crate) use backend_suite;

/// Every live key of `namespace` matching `pattern`, through as many pages as it takes
/// (on Redis a page may hold none while more follow).
pub async fn list_keys(cache: &Cache, namespace: &str, pattern: &str) -> Vec<hoard::KeyInfo> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100_000 {
        let page = cache
            .scan_keys(namespace, pattern, &cursor, 100)
            .await
            .expect("listing keys");
        seen.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = next,
            None => return seen,
        }
    }
    panic!("the listing of {namespace} never ended");
}
