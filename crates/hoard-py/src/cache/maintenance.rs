//! Maintenance: `flush` (everything written reaches storage) and `stats`.

use super::PyCache;
use crate::errors::IntoPy;
use crate::json::json_to_py;
use pyo3::prelude::*;

#[pymethods]
impl PyCache {
    #[pyo3(signature = (*, _awaitable = false))]
    fn flush<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.unit(py, _awaitable, async move { cache.flush().await })
    }

    /// The `GET /v1/stats` body of `hoard serve`, as a dict.
    #[pyo3(signature = (*, _awaitable = false))]
    fn stats<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.run(
            py,
            _awaitable,
            async move { cache.stats().await },
            |py, stats| json_to_py(py, &hoard_server::stats_body(&stats.py()?)).map(Bound::unbind),
        )
    }
}
