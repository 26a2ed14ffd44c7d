//! Write-through and write-behind from Python: `write_through(namespace, writer)`,
//! `write_behind(namespace, writer, ...)`, `writer_stats()` and `write_behind_drained`.
//!
//! The writer is a plain callable taking a list of writes, each a dict `{"id", "key",
//! "op", "value"}` (`op` is `"set"` or `"delete"`; `value` decoded with the cache's
//! serializer, `None` for a delete; `id` the queue's id for write-behind, `None` for
//! write-through). It runs on a blocking thread of hoard's runtime with the GIL taken
//! there; raising fails the batch (write-through: the call raises `WriterError`;
//! write-behind: the batch is retried).

use super::PyCache;
use crate::errors::IntoPy;
use crate::options::{duration, opt_duration};
use crate::serializer::Serializer;

use hoard::{BackingOp, BackingWrite};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;

/// What one call of the writer comes to.
type Written = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// A Python writer as the cache takes it.
fn writer(
    writer: Arc<Py<PyAny>>,
    serializer: Arc<Serializer>,
    namespace: String,
) -> impl Fn(Vec<BackingWrite>) -> Written + Send + Sync + 'static {
    move |batch: Vec<BackingWrite>| {
        let (writer, serializer, namespace) =
            (writer.clone(), serializer.clone(), namespace.clone());
        let written: Written = Box::pin(async move {
            let ran = tokio::task::spawn_blocking(move || {
                Python::attach(|py| -> PyResult<()> {
                    let writes = PyList::empty(py);
                    for write in &batch {
                        writes.append(as_dict(py, write, &serializer, &namespace)?)?;
                    }
                    writer.bind(py).call1((writes,))?;
                    Ok(())
                })
            })
            .await;
            match ran {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(error) => Err(format!("the writer stopped: {error}")),
            }
        });
        written
    }
}

fn as_dict<'py>(
    py: Python<'py>,
    write: &BackingWrite,
    serializer: &Serializer,
    namespace: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let row = PyDict::new(py);
    row.set_item("id", write.id.as_deref())?;
    row.set_item("key", &write.key)?;
    match &write.op {
        BackingOp::Set(bytes) => {
            let full_key = format!("{namespace}:{}", write.key);
            row.set_item("op", "set")?;
            row.set_item("value", serializer.loads(py, bytes, &full_key)?)?;
        }
        BackingOp::Delete => {
            row.set_item("op", "delete")?;
            row.set_item("value", py.None())?;
        }
    }
    Ok(row)
}

fn check_callable(writer: &Py<PyAny>, what: &str) -> PyResult<()> {
    if Python::attach(|py| writer.bind(py).is_callable()) {
        Ok(())
    } else {
        Err(crate::errors::config_error(format!(
            "{what}: the writer must be a callable taking a list of writes"
        )))
    }
}

#[pymethods]
impl PyCache {
    fn write_through(&self, namespace: String, writer: Py<PyAny>) -> PyResult<()> {
        check_callable(&writer, "write_through")?;
        let writer = Arc::new(writer);
        let serializer = self.serializer.clone();
        self.register(move |cache| {
            let writer = self::writer(writer.clone(), serializer.clone(), namespace.clone());
            cache.write_through(&namespace, writer)
        })
    }

    #[pyo3(signature = (namespace, writer, *, batch = 100, linger = None, retry_min = None, retry_max = None, poll = None))]
    #[allow(clippy::too_many_arguments)]
    fn write_behind(
        &self,
        namespace: String,
        writer: Py<PyAny>,
        batch: usize,
        linger: Option<&Bound<'_, PyAny>>,
        retry_min: Option<&Bound<'_, PyAny>>,
        retry_max: Option<&Bound<'_, PyAny>>,
        poll: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        check_callable(&writer, "write_behind")?;
        let writer = Arc::new(writer);
        let mut options = hoard::WriteBehindOptions::new().batch(batch);
        if let Some(linger) = opt_duration(linger, "linger")? {
            options = options.linger(linger);
        }
        let min = opt_duration(retry_min, "retry_min")?;
        let max = opt_duration(retry_max, "retry_max")?;
        if min.is_some() || max.is_some() {
            options = options.retry(
                min.unwrap_or(std::time::Duration::from_millis(100)),
                max.unwrap_or(std::time::Duration::from_secs(30)),
            );
        }
        if let Some(poll) = opt_duration(poll, "poll")? {
            options = options.poll(poll);
        }
        let serializer = self.serializer.clone();
        self.register(move |cache| {
            let writer = self::writer(writer.clone(), serializer.clone(), namespace.clone());
            cache.write_behind(&namespace, options.clone(), writer)
        })
    }

    /// Per namespace with a writer: a dict of what it did.
    fn writer_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let cache = self.cache()?;
        let all = crate::bridge::wait(py, async move { cache.writer_stats().await })?;
        let out = PyDict::new(py);
        for (namespace, stats) in all {
            let row = PyDict::new(py);
            row.set_item("mode", stats.mode.as_str())?;
            row.set_item("written", stats.written)?;
            row.set_item("batches", stats.batches)?;
            row.set_item("failures", stats.failures)?;
            row.set_item("consecutive_failures", stats.consecutive_failures)?;
            row.set_item("last_error", stats.last_error)?;
            row.set_item("pending", stats.pending)?;
            row.set_item("unreadable", stats.unreadable)?;
            out.set_item(namespace, row)?;
        }
        Ok(out)
    }

    /// Waits up to `timeout` seconds until the write-behind queue of `namespace` is
    /// empty; whether it is.
    #[pyo3(signature = (namespace, timeout = 30.0))]
    fn write_behind_drained(
        &self,
        py: Python<'_>,
        namespace: String,
        timeout: f64,
    ) -> PyResult<bool> {
        let cache = self.cache()?;
        let within = duration(&timeout.into_pyobject(py)?.into_any(), "timeout")?;
        crate::bridge::wait(py, async move {
            cache.write_behind_drained(&namespace, within).await
        })?
        .py()
    }
}
