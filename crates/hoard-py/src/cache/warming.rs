//! Warming: `warm_with` (a Python loader for a namespace: its hottest keys warm after a
//! restart and refreshed ahead of expiry), `warm_started`, `warm_stats`,
//! `refresh_ahead_now` and `save_popularity`.
//!
//! The loader is a plain callable `loader(key) -> value`, run on a blocking thread of
//! hoard's runtime with the GIL taken there, its value encoded with the cache's serializer,
//! so what it produces reads back as `cache.get` would return it.

use super::PyCache;
use crate::errors::IntoPy;
use crate::options::{duration, opt_duration};
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pymethods]
impl PyCache {
    #[pyo3(signature = (namespace, loader, *, keys = 1000, within = None, refresh_every = None, record_every = None, ttl = None))]
    #[allow(clippy::too_many_arguments)]
    fn warm_with(
        &self,
        namespace: String,
        loader: Py<PyAny>,
        keys: usize,
        within: Option<&Bound<'_, PyAny>>,
        refresh_every: Option<&Bound<'_, PyAny>>,
        record_every: Option<&Bound<'_, PyAny>>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if !Python::attach(|py| loader.bind(py).is_callable()) {
            return Err(crate::errors::config_error(
                "warm_with: the loader must be a callable taking the key",
            ));
        }
        let mut options = hoard::WarmOptions::new().keys(keys);
        if let Some(within) = opt_duration(within, "within")? {
            options = options.within(within);
        }
        if let Some(every) = opt_duration(refresh_every, "refresh_every")? {
            options = options.refresh_every(every);
        }
        if let Some(every) = opt_duration(record_every, "record_every")? {
            options = options.record_every(every);
        }
        if let Some(ttl) = opt_duration(ttl, "ttl")? {
            options = options.ttl(ttl);
        }
        let serializer = self.serializer.clone();
        let loader = std::sync::Arc::new(loader);
        self.register(move |cache| {
            let (loader, serializer, ns) = (loader.clone(), serializer.clone(), namespace.clone());
            cache.warm_with_raw(&namespace, options.clone(), move |key: String| {
                let (loader, serializer, ns) = (loader.clone(), serializer.clone(), ns.clone());
                async move {
                    let loaded = tokio::task::spawn_blocking(move || {
                        Python::attach(|py| -> PyResult<bytes::Bytes> {
                            let value = loader.bind(py).call1((key.as_str(),))?;
                            serializer.dumps(&value, &format!("{ns}:{key}"))
                        })
                    })
                    .await;
                    match loaded {
                        Ok(Ok(bytes)) => Ok(bytes),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(error) => Err(format!("the loader stopped: {error}")),
                    }
                }
            })
        })
    }

    /// Waits up to `timeout` seconds for the start-up warm of `namespace`; whether it
    /// finished.
    #[pyo3(signature = (namespace, timeout = 30.0))]
    fn warm_started(&self, py: Python<'_>, namespace: String, timeout: f64) -> PyResult<bool> {
        let cache = self.cache()?;
        let within = duration(&timeout.into_pyobject(py)?.into_any(), "timeout")?;
        crate::bridge::wait(
            py,
            async move { cache.warm_started(&namespace, within).await },
        )
    }

    /// What warming did, per warmed namespace: a dict of dicts of counts.
    fn warm_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (namespace, stats) in self.cache()?.warm_stats() {
            let row = PyDict::new(py);
            row.set_item("started", stats.started)?;
            row.set_item("warmed_from_l2", stats.warmed_from_l2)?;
            row.set_item("loaded_at_start", stats.loaded_at_start)?;
            row.set_item("failed_at_start", stats.failed_at_start)?;
            row.set_item("skipped_at_start", stats.skipped_at_start)?;
            row.set_item("start_ms", stats.start_ms)?;
            row.set_item("refreshed_ahead", stats.refreshed_ahead)?;
            row.set_item("refresh_failures", stats.refresh_failures)?;
            row.set_item("tracked_keys", stats.tracked_keys)?;
            row.set_item("saves", stats.saves)?;
            out.set_item(namespace, row)?;
        }
        Ok(out)
    }

    /// One refresh-ahead pass over `namespace` now; how many entries it loaded again.
    fn refresh_ahead_now(&self, py: Python<'_>, namespace: String) -> PyResult<u64> {
        let cache = self.cache()?;
        crate::bridge::wait(py, async move { cache.refresh_ahead_now(&namespace).await })?.py()
    }

    /// Saves the warmed namespaces' hottest keys in L2 now (also done by `flush`).
    fn save_popularity(&self, py: Python<'_>) -> PyResult<()> {
        let cache = self.cache()?;
        crate::bridge::wait(py, async move { cache.save_popularity().await })?.py()
    }
}
