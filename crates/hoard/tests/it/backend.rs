//! The backends the shared suite runs against.

use hoard::{Cache, DiskConfig, DiskStore, Store};
use hoard_testkit::TempDir;
use std::sync::Arc;

/// A cache under test, with direct access to its L2 for checks that bypass L1.
pub struct Backend {
    pub name: &'static str,
    pub cache: Cache,
    pub l2: Option<Arc<dyn Store>>,
    pub disk: Option<Arc<DiskStore>>,
    pub _dir: Option<TempDir>,
}

impl Backend {
    /// L1 only.
    pub fn memory() -> Backend {
        Backend {
            name: "memory",
            cache: Cache::in_memory(),
            l2: None,
            disk: None,
            _dir: None,
        }
    }

    /// L1 in front of the embedded disk tier, sweeper off (tests sweep explicitly).
    pub fn disk() -> Backend {
        let dir = hoard_testkit::temp_dir();
        let disk = Arc::new(
            DiskConfig::new(dir.path())
                .sweep_interval(None)
                .open()
                .expect("opening disk tier"),
        );
        let cache = Cache::builder()
            .l2(disk.clone())
            .build()
            .expect("building cache");
        Backend {
            name: "disk",
            cache,
            l2: Some(disk.clone()),
            disk: Some(disk),
            _dir: Some(dir),
        }
    }
}

/// Runs every listed case once per backend, as separate tests named `{backend}::{case}`.
macro_rules! backend_suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::backend::Backend::memory()).await;
                }
            )*
        }
        mod disk {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::backend::Backend::disk()).await;
                }
            )*
        }
    };
}
pub(crate) use backend_suite;
